"""``provider: prometheus``: a PromQL query with ``${canary}``, ``${baseline}`` and ``${target}``
filled in, as an instant query (one sample per series) or over ``range:`` (every point). No series
is no data: the measurement is inconclusive, never a pass."""

from __future__ import annotations

import time
from string import Template
from typing import Any, ClassVar

from ...config.canaries import PrometheusMetric
from ...config.resources import PrometheusResource
from ...config.secrets import reveal
from ...errors import MeasurementError
from .base import MeasureContext, Target


class PrometheusProvider:
    Params: ClassVar[type[PrometheusMetric]] = PrometheusMetric

    async def measure(self, metric: PrometheusMetric, target: Target, ctx: MeasureContext) -> list[float]:
        import httpx

        res = ctx.config.resources.get(metric.resource)
        if not isinstance(res, PrometheusResource):
            raise MeasurementError(f"no prometheus resource named {metric.resource!r}", retryable=False)
        query = Template(metric.query).safe_substitute(ctx.template_vars(target))
        headers = {k: str(reveal(v, f"resources.{metric.resource}.headers.{k}")) for k, v in res.headers.items()}
        now = time.time()
        if metric.range is None:
            url, form = "/api/v1/query", {"query": query, "time": f"{now:.3f}"}
        else:
            url, form = "/api/v1/query_range", {"query": query, "start": f"{now - metric.range:.3f}",
                                                "end": f"{now:.3f}", "step": f"{metric.step:g}"}
        try:
            async with httpx.AsyncClient(timeout=min(res.timeout, ctx.timeout)) as client:
                resp = await client.post(res.url.rstrip("/") + url, data=form, headers=headers)
            doc: Any = resp.json()
        except httpx.HTTPError as e:
            raise MeasurementError(f"prometheus {metric.resource} ({res.url}) unreachable: {type(e).__name__}: {e}",
                                   retryable=True) from None
        except ValueError:
            raise MeasurementError(f"prometheus {metric.resource} answered HTTP {resp.status_code} without JSON",
                                   retryable=True) from None
        if resp.status_code != 200 or doc.get("status") != "success":
            raise MeasurementError(f"prometheus {metric.resource} refused the query: "
                                   f"{doc.get('errorType', resp.status_code)}: {doc.get('error', '')}",
                                   hint=f"query: {query}", retryable=False)
        data = doc.get("data") or {}
        kind, result = data.get("resultType"), data.get("result") or []
        if kind == "scalar":
            return [float(result[1])]
        if kind == "vector":
            return [float(s["value"][1]) for s in result]
        if kind == "matrix":
            return [float(v) for s in result for _, v in s.get("values", [])]
        raise MeasurementError(f"prometheus {metric.resource}: the query returned a {kind}", hint=f"query: {query}")



PROVIDER = PrometheusProvider()
