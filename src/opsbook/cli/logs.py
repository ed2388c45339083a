"""``opsbook logs query|run|sources``: ask the logs a question (docs/logs.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from .common import Ctx, common

if TYPE_CHECKING:
    from ..config.logs import LogQuery


@click.group("logs")
def logs_group() -> None:
    """Query logs: count by a field, percentiles, one request's lines, slow requests, a sample."""


def _ago(opt: str, text: str | None, now: float) -> float | None:
    """--since/--until: a duration back from now (24h) or a time (2025-06-01T12:00:00Z)."""
    if text is None:
        return None
    from ..durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        pass
    from .common import parse_at

    try:
        at = parse_at(text).timestamp()
    except UsageError:
        raise UsageError(f"{opt} {text!r} is neither a duration nor a time",
                         hint="write it like 24h, 15m or 2025-06-01T12:00:00Z") from None
    if at > now:
        raise UsageError(f"{opt} {text} is in the future")
    return max(now - at, 0.001)


def _validated(data: dict[str, Any]) -> LogQuery:
    from pydantic import ValidationError

    from ..config.logs import LogQuery

    try:
        return LogQuery.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "query"
        raise UsageError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def _run(ctx: Ctx, q: LogQuery, limit: int | None, workers: int) -> int:
    from ..logs.run import Options, run_query

    cfg = ctx.config
    doc = run_query(cfg.model.logs, q, str(cfg.base_dir), options=Options(workers=workers, keep=limit))
    if ctx.json:
        ctx.emit(doc)
    else:
        from ..render.logs import render_query

        render_query(ctx.console, doc)
    return 0


window_options = [
    click.option("--since", default=None, metavar="DURATION|TIME", help="how far back (default 1h): 24h, or a time"),
    click.option("--until", default=None, metavar="DURATION|TIME", help="up to this long ago, or this time"),
    click.option("--limit", type=click.IntRange(0, 10_000), default=None,
                 help="matching lines to show (default 20)"),
    click.option("--workers", type=click.IntRange(0, 64), default=0,
                 help="processes for big files (default: one per CPU, at most 8; 1: none)"),
]


def _window(fn: Any) -> Any:
    for opt in reversed(window_options):
        fn = opt(fn)
    return fn


@logs_group.command("query")
@click.option("--source", "sources", multiple=True, required=True, metavar="NAME",
              help="a source from logs.sources (repeat for several: --request-id merges them in time order)")
@_window
@click.option("--where", default=None, metavar="EXPR", help="filter: level == 'error' and status >= 500")
@click.option("--count-by", default=None, metavar="FIELD", help="count matching lines by this field")
@click.option("--top", type=click.IntRange(1, 10_000), default=10,
              help="how many --count-by values or percentile groups (default 10)")
@click.option("--request-id", default=None, metavar="ID", help="every line of this request, in time order")
@click.option("--p50", default=None, metavar="FIELD", help="p50, p95 and p99 of FIELD")
@click.option("--p95", default=None, metavar="FIELD", help="the same (any of the three)")
@click.option("--p99", default=None, metavar="FIELD", help="the same (any of the three)")
@click.option("--by", default=None, metavar="FIELD", help="group the percentiles by this field")
@click.option("--slower-than", default=None, metavar="DURATION", help="lines whose duration_ms is above it (1s)")
@click.option("--sample", type=click.IntRange(1, 10_000), default=None, help="a uniform random sample of N lines")
@common
def logs_query(ctx: Ctx, sources: tuple[str, ...], since: str | None, until: str | None, limit: int | None,
               workers: int, where: str | None, count_by: str | None, top: int, request_id: str | None,
               p50: str | None, p95: str | None, p99: str | None, by: str | None, slower_than: str | None,
               sample: int | None) -> int:
    """Ask one or more log sources a question."""
    import time

    now = time.time()
    fields = {f for f in (p50, p95, p99) if f}
    if len(fields) > 1:
        raise UsageError("--p50/--p95/--p99 name different fields", hint="one field per query")
    if by and not fields:
        raise UsageError("--by groups percentiles", hint="add --p95 FIELD")
    data: dict[str, Any] = {
        "source": list(sources), "since": _ago("--since", since, now) or 3600.0,
        "until": _ago("--until", until, now), "where": where, "count_by": count_by, "top": top,
        "request_id": request_id, "percentiles": next(iter(fields), None), "by": by,
        "slower_than": slower_than, "sample": sample,
    }
    return _run(ctx, _validated({k: v for k, v in data.items() if v is not None}), limit, workers)


@logs_group.command("run")
@click.argument("name")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="a query parameter (repeatable)")
@_window
@common
def logs_run(ctx: Ctx, name: str, params: tuple[str, ...], since: str | None, until: str | None,
             limit: int | None, workers: int) -> int:
    """Run a named query from logs.queries."""
    import time

    from ..config.references import missing
    from ..logs.plan import bind

    queries = ctx.config.model.logs.queries
    if name not in queries:
        msg, hint = missing("log query", name, queries, "log queries (logs.queries)")
        raise UsageError(msg, hint=hint)
    given: dict[str, str] = {}
    for p in params:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise UsageError(f"-p {p!r} is not NAME=VALUE")
        given[k] = v
    q = bind(queries[name], given)
    now = time.time()
    update: dict[str, Any] = {}
    if since is not None:
        update["since"] = _ago("--since", since, now)
    if until is not None:
        update["until"] = _ago("--until", until, now)
    return _run(ctx, q.model_copy(update=update), limit, workers)


@logs_group.command("sources")
@common
def logs_sources(ctx: Ctx) -> int:
    """The log sources: what each reads, its format, the files it matches now."""
    import os

    from ..errors import LogSourceUnreachable
    from ..logs.formats.registry import FORMATS
    from ..logs.sources import describe, files_of

    cfg = ctx.config
    rows = []
    broken = 0
    for name, src in cfg.model.logs.sources.items():
        FORMATS.lookup(src.format)
        row: dict[str, Any] = {"name": name, "format": src.format, "reads": describe(src), "files": None,
                               "bytes": None, "error": None}
        if src.path is not None:
            try:
                files = files_of(name, src, str(cfg.base_dir))
                row["files"], row["bytes"] = len(files), sum(os.path.getsize(f) for f in files)
            except LogSourceUnreachable as e:
                row["error"], broken = e.message, broken + 1
        rows.append(row)
    if ctx.json:
        ctx.emit({"schema": "opsbook.logs.sources/1", "sources": rows})
    else:
        from ..render.logs import render_sources

        render_sources(ctx.console, rows)
        for r in rows:
            if r["error"]:
                ctx.console.print(r["error"], style="red", markup=False)
    return 3 if broken else 0
