"""Run a query over its sources: plan each source, cut big files into byte ranges scanned by worker
processes, stream commands and stdin here, merge, and shape the result (a JSON-able dict).

Workers are forked (``fork``: no re-import, the plan and the redactor come along). A file is cut
when it is larger than ``PARALLEL_MIN``: below that, starting processes costs more than it saves
(bench/logs.py). Callers inside an event loop with threads (the check kind) pass ``workers=1``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..config.logs import LogQuery, Logs
from ..config.references import missing
from ..config.secrets import redactor
from ..errors import UsageError
from .engine import Acc, percentile
from .formats.registry import FORMATS
from .plan import Plan, make_plan
from .scan import scan, scan_file
from .sources import FileUnit, files_of, read_command, read_stdin, read_unit, split

PARALLEL_MIN = 48 * 1024 * 1024  # bytes of plain file worth a second process
SCHEMA = "opsbook.logs.query/1"


@dataclass(frozen=True)
class Options:
    workers: int = 0  # 0: one per CPU (at most 8); 1: none
    keep: int | None = None  # matching lines kept (None: the query's default)
    exact_total: bool = False
    prefilter: bool = True


def _scan_unit(args: tuple[Plan, FileUnit]) -> Acc:
    plan, unit = args
    if unit.gz:
        return scan(read_unit(unit), plan, Acc(plan.source))
    return scan_file(unit.path, unit.start, unit.end, plan, Acc(plan.source))


def _workers(opt: Options) -> int:
    if opt.workers:
        return opt.workers
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def run_query(logs: Logs, query: LogQuery, base_dir: str, now: float | None = None,
              options: Options | None = None) -> dict[str, Any]:
    opt = options or Options()
    now = time.time() if now is None else now
    t0 = time.perf_counter()
    plans: list[Plan] = []
    for name in query.sources():
        src = logs.sources.get(name)
        if src is None:
            msg, hint = missing("log source", name, logs.sources, "log sources (logs.sources)")
            raise UsageError(msg, hint=hint)
        FORMATS.lookup(src.format)
        plans.append(make_plan(name, src, query, now, keep=opt.keep, max_line=logs.max_line,
                               exact_total=opt.exact_total, prefilter=opt.prefilter))
    workers = _workers(opt)
    tasks: list[tuple[Plan, FileUnit]] = []
    streams: list[tuple[Plan, Iterable[bytes]]] = []
    for plan in plans:
        src = logs.sources[plan.source]
        if src.path is not None:
            for f in files_of(plan.source, src, base_dir, plan.since):
                size = os.path.getsize(f)
                parts = min(workers, size // PARALLEL_MIN + 1) if not f.endswith(".gz") else 1
                tasks.extend((plan, u) for u in split(f, parts, plan.max_line))
        elif src.command is not None:
            streams.append((plan, read_command(plan.source, src, base_dir)))
        else:
            streams.append((plan, read_stdin()))
    accs: list[Acc] = []
    if workers > 1 and len(tasks) > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(min(workers, len(tasks))) as pool:
            pending = pool.map_async(_scan_unit, tasks, chunksize=1)
            for plan, chunks in streams:  # commands and stdin stream here meanwhile
                accs.append(scan(chunks, plan, Acc(plan.source)))
            accs = pending.get() + accs
    else:
        accs = [_scan_unit(t) for t in tasks]
        accs.extend(scan(chunks, plan, Acc(plan.source)) for plan, chunks in streams)
    return _result(query, plans, accs, time.perf_counter() - t0)


def _result(query: LogQuery, plans: list[Plan], accs: list[Acc], seconds: float) -> dict[str, Any]:
    keep = max((p.keep for p in plans), default=0)
    sample = query.sample or 0
    total = Acc(",".join(p.source for p in plans))
    for a in accs:
        total.merge(a, keep if not query.request_id else 10**9, sample)
    red = redactor.text
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "query": {k: v for k, v in query.model_dump(exclude_defaults=True).items() if k != "params"},
        "sources": [p.source for p in plans],
        "prefilter": [b.decode() for b in plans[0].literals] if plans else [],
        "lines": total.lines if not (plans and plans[0].literals) else None,
        "bytes": total.bytes,
        "parsed": total.parsed,
        "in_window": total.in_window,
        "matched": total.matched,
        "no_timestamp": total.no_ts,
        "unparsable": total.unparsable,
        "unparsable_examples": [{"source": s, "why": red(w), "line": red(t)} for s, w, t in total.bad],
        "seconds": round(seconds, 3),
    }
    if query.count_by:
        ranked = sorted(total.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        top = ranked[: query.top]
        doc["count_by"] = {
            "field": query.count_by,
            "top": [{"value": red(v) if isinstance(v, str) else v, "count": n} for v, n in top],
            "other": sum(n for _, n in ranked[query.top:]),
            "distinct": len(ranked),
        }
    if query.percentiles:
        groups: list[dict[str, Any]] = []
        # the busiest groups only: sorting a million values of a group nobody sees is waste
        busiest = sorted(total.values.items(), key=lambda kv: (-len(kv[1]), kv[0]))[: query.top]
        for g, vs in busiest:
            s = sorted(vs)
            groups.append({"group": red(g), "count": len(s), "p50": percentile(s, 50),
                           "p95": percentile(s, 95), "p99": percentile(s, 99), "max": s[-1]})
        doc["percentiles"] = {"field": query.percentiles, "by": query.by, "groups": groups,
                              "other_groups": len(total.values) - len(groups)}
    kept = total.kept
    if query.request_id:
        # every source's lines of the request, in time order (lines without a time last, in file order)
        kept = sorted(kept, key=lambda k: (k[0] is None, k[0] or 0.0))
    if kept or not (query.count_by or query.percentiles or query.sample):
        doc["matching_lines"] = [_line(k) for k in kept]
        doc["matching_lines_not_shown"] = total.kept_more
    if query.sample:
        ordered = sorted(total.sample, key=lambda k: (k[0] is None, k[0] or 0.0))
        doc["sample"] = [_line(k) for k in ordered]
    return doc


def _line(k: tuple[float | None, str, str]) -> dict[str, Any]:
    from datetime import UTC, datetime

    ts, source, text = k
    at = None
    if ts is not None:
        at = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"at": at, "source": source, "line": redactor.text(text)}
