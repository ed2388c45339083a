"""``logs``: a log query over a window, judged by assertions ("no panic in 5 minutes", "error ratio
under 1 %"). Its evidence is the counts and the first matching lines (bounded, redacted)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import Field, model_validator

from ..config.logs import LogQuery
from ..config.models import CheckParams
from ..durations import PositiveDuration
from ..errors import ProbeError
from .base import Probe, ProbeContext

MAX_LINES = 50


class LogsParams(CheckParams):
    query: str | None = Field(default=None, description="a named query from logs.queries")
    params: dict[str, str] = Field(default_factory=dict, description="the named query's parameters")
    source: str | list[str] | None = Field(default=None, description="an inline query's source(s)")
    where: str | None = Field(default=None, description="an inline query's filter (the assertion language)")
    count_by: str | None = Field(default=None, description="count the matching lines by this field")
    percentiles: str | None = Field(default=None, description="p50, p95, p99 of this field over matching lines")
    since: PositiveDuration | None = Field(default=None, description="the window (default: the query's, else 15m)")
    lines: int = Field(default=5, ge=0, le=MAX_LINES, description="matching lines kept as evidence")

    @model_validator(mode="after")
    def _named_or_inline(self) -> LogsParams:
        if (self.query is None) == (self.source is None):
            raise ValueError("a logs check names a query: or an inline source: (one of them)")
        if self.query is not None and (self.where or self.count_by or self.percentiles):
            raise ValueError("where, count_by and percentiles belong to an inline query (source:)")
        return self


def _query(p: LogsParams, ctx: ProbeContext) -> LogQuery:
    from ..logs.plan import bind

    if p.query is not None:
        logs = ctx.logs
        if logs is None or p.query not in logs.queries:
            raise ProbeError(f"no log query named {p.query!r}", retryable=False)
        q = bind(logs.queries[p.query], p.params)
        return q.model_copy(update={"since": p.since}) if p.since is not None else q
    return LogQuery(source=p.source or [], where=p.where, count_by=p.count_by, percentiles=p.percentiles,
                    since=p.since or 900.0, top=20)


class LogsCheck:
    name: ClassVar[str] = "logs"
    Params: ClassVar[type[CheckParams]] = LogsParams
    resource_kinds: ClassVar[tuple[str, ...]] = ()
    default_expect: ClassVar[tuple[str, ...]] = ("matched == 0",)
    imports: ClassVar[tuple[str, ...]] = ("orjson", "opsbook.logs.run")
    observations: ClassVar[dict[str, str]] = {
        "matched": "lines in the window that pass the query's filter",
        "total": "lines in the window (parsed, with a timestamp inside it)",
        "ratio": "matched / total (0 when the window is empty)",
        "percent": "the ratio in percent: `percent < 1` is \"under 1 %\"",
        "unparsable": "lines that could not be read in the source's format",
        "counts": "count_by value -> matching lines (the top 20)",
        "percentiles": "group -> {p50, p95, p99, count} of the percentiles field",
        "lines": "the first matching lines (at most `lines:`), secrets redacted",
        "duration": "wall time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        from ..logs.run import Options, run_query

        p: LogsParams = params
        if ctx.logs is None:
            raise ProbeError("the config has no logs: section", retryable=False)
        q = _query(p, ctx)
        piped = [s for s in q.sources() if s in ctx.logs.sources and ctx.logs.sources[s].stdin]
        if piped:
            raise ProbeError(f"log source {piped[0]!r} reads stdin, which a check does not have", retryable=False,
                             hint="give the check a path: or command: source")
        # one process: a fork from the daemon's threads is not safe; exact_total: no prefilter,
        # so total (and the ratio) counts every line of the window
        doc = await asyncio.to_thread(run_query, ctx.logs, q, ctx.base_dir, None,
                                      Options(workers=1, keep=p.lines, exact_total=True))
        total, matched = doc["in_window"], doc["matched"]
        ratio = matched / total if total else 0.0
        obs: dict[str, Any] = {
            "matched": matched, "total": total, "ratio": round(ratio, 6), "percent": round(100 * ratio, 4),
            "unparsable": doc["unparsable"],
            "lines": [f"{r['at'] or '-'} {r['source']} {r['line'][:500]}" for r in doc.get("matching_lines", [])],
        }
        if "count_by" in doc:
            obs["counts"] = {str(r["value"]): r["count"] for r in doc["count_by"]["top"]}
        if "percentiles" in doc:
            obs["percentiles"] = {g["group"]: {k: g[k] for k in ("p50", "p95", "p99", "count")}
                                  for g in doc["percentiles"]["groups"]}
        from ..durations import format_duration

        summary = (f"{matched} of {total} line(s) matched in the last {format_duration(q.since)} "
                   f"({100 * ratio:.2f} %)")
        if doc["unparsable"]:
            summary += f"; {doc['unparsable']} unparsable"
        return Probe(obs, summary)


KIND = LogsCheck()
