"""``provider: check``: an opsbook http check run against the target's base URL, ``samples`` times.

The same check definition with another base URL: a check with ``url:`` keeps its path and query
on the target's scheme and host; a check with a resource gets the resource with the target's URL
(its headers and auth kept). A sample is the run's duration in ms (``value: duration``; runs that
could not connect give none) or 1 for a pass and 0 otherwise (``value: ok``). When every run
errors (refused, timed out) the target could not be measured."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import ClassVar
from urllib.parse import urlsplit

from ...config.canaries import CheckMetric
from ...config.load import Config
from ...config.oneof import field_name
from ...errors import MeasurementError
from .base import MeasureContext, Target


def rebased(config: Config, name: str, base_url: str) -> Config:
    """``config`` with check ``name`` pointed at ``base_url`` (a copy: the loaded config is untouched)."""
    check = config.checks[name]
    kind, params = check.kind_and_params()
    base = base_url.rstrip("/")
    resources = dict(config.resources)
    url = getattr(params, "url", None)
    if url:
        parts = urlsplit(url)
        new_url = base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        params = params.model_copy(update={"url": new_url})
    elif params.resource:
        resources[params.resource] = resources[params.resource].model_copy(update={"url": base})
    new_check = check.model_copy(update={field_name(kind): params, "depends_on": []})
    model = config.model.model_copy(update={"checks": {name: new_check}, "resources": resources})
    return dataclasses.replace(config, model=model, cache={})


class CheckProvider:
    Params: ClassVar[type[CheckMetric]] = CheckMetric

    async def measure(self, metric: CheckMetric, target: Target, ctx: MeasureContext) -> list[float]:
        from ...checks.registry import KINDS
        from ...runner import close_shared, run_one

        cfg = rebased(ctx.config, metric.check, target.url)
        limit = asyncio.Semaphore(metric.concurrency)
        shared: dict[str, object] = {}

        async def once() -> tuple[str, float, str]:
            async with limit:
                r = await run_one(metric.check, cfg, KINDS, shared)
            return r.status, r.duration_ms, r.summary

        try:
            runs = await asyncio.gather(*(once() for _ in range(metric.samples)))
        finally:
            await close_shared(shared)
        answered = [(status, ms) for status, ms, _ in runs if status != "error"]
        if not answered:
            raise MeasurementError(f"{target.role} {target.url}: check {metric.check} errored on all "
                                   f"{metric.samples} runs: {runs[0][2]}",
                                   hint="is the target up and its URL right?", retryable=True)
        if metric.value == "ok":
            return [1.0 if status in ("pass", "warn") else 0.0 for status, _, _ in runs]
        return [ms for _, ms in answered]


PROVIDER = CheckProvider()
