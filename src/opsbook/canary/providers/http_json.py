"""``provider: http_json``: GET ``path`` on the target's base URL and read ``value`` from the JSON
answer with the assertion language's names (``data.error_rate``, ``items[0].p99``). A number is one
sample; a list of numbers is one sample each. A missing value or a non-number is an error."""

from __future__ import annotations

from string import Template
from typing import Any, ClassVar

from ...config.assertions import resolve
from ...config.canaries import HttpJsonMetric
from ...errors import MeasurementError
from .base import MeasureContext, Target


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise MeasurementError(f"{where} is {type(v).__name__}, not a number", retryable=False)
    try:
        return float(v)
    except ValueError:
        raise MeasurementError(f"{where} is {v!r}, not a number", retryable=False) from None


class HttpJsonProvider:
    Params: ClassVar[type[HttpJsonMetric]] = HttpJsonMetric

    async def measure(self, metric: HttpJsonMetric, target: Target, ctx: MeasureContext) -> list[float]:
        import httpx

        path = Template(metric.path).safe_substitute(ctx.template_vars(target))
        url = path if "://" in path else target.url.rstrip("/") + "/" + path.lstrip("/")
        try:
            async with httpx.AsyncClient(timeout=min(metric.timeout, ctx.timeout)) as client:
                resp = await client.get(url)
        except httpx.HTTPError as e:
            raise MeasurementError(f"{target.role} {url}: {type(e).__name__}: {e}", retryable=True) from None
        if resp.status_code != 200:
            raise MeasurementError(f"{target.role} {url}: HTTP {resp.status_code}", retryable=True)
        try:
            doc = resp.json()
        except ValueError:
            raise MeasurementError(f"{target.role} {url}: the answer is not JSON", retryable=False) from None
        try:
            value = resolve(metric.value, doc)
        except KeyError:
            raise MeasurementError(f"{target.role} {url}: no {metric.value} in the answer", retryable=False) from None
        where = f"{url} {metric.value}"
        if isinstance(value, list):
            return [_number(v, where) for v in value]
        return [_number(value, where)]


PROVIDER = HttpJsonProvider()
