"""Log queries on real files (plain, rotated, .gz), a real child command, several formats."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.logs import LogQuery, Logs
from opsbook.errors import LogSourceUnreachable, UsageError
from opsbook.logs import run as logs_run
from opsbook.logs.formats.registry import FORMATS
from opsbook.logs.plan import bind
from opsbook.logs.run import Options, run_query
from opsbook.logs.timestamps import to_epoch

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z: every test's clock


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jline(ago: float, **fields: Any) -> str:
    return json.dumps({"ts": iso(NOW - ago), **fields})


def write(path: Path, lines: list[str], mtime: float = NOW) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def query(sources: dict[str, Any], tmp_path: Path, workers: int = 1, keep: int | None = None,
          **q: Any) -> dict[str, Any]:
    logs = Logs.model_validate({"sources": sources})
    q.setdefault("since", 86400)
    return run_query(logs, LogQuery(**q), str(tmp_path), now=NOW, options=Options(workers=workers, keep=keep))


def test_each_format_parses_a_line_into_fields() -> None:
    assert FORMATS["json"].parser(None)(b'{"level": "error", "n": 3}') == {"level": "error", "n": 3}
    logfmt = FORMATS["logfmt"].parser(None)(b'level=warn msg="disk \\"nearly\\" full" pct=91 retry')
    assert logfmt == {"level": "warn", "msg": 'disk "nearly" full', "pct": "91", "retry": True}
    rx = FORMATS["regex"].parser(r'^(?P<ip>\S+) .* "(?P<method>\w+) (?P<path>\S+)[^"]*" (?P<status>\d+)')
    assert rx(b'10.0.0.1 - - [01/Jun/2025:12:00:00 +0000] "GET /api HTTP/1.1" 503 12') == {
        "ip": "10.0.0.1", "method": "GET", "path": "/api", "status": "503"}
    for fmt, line in (("json", b"[1, 2]"), ("json", b"{oops"), ("logfmt", b'a="unterminated'),
                      ("regex", b"no match")):
        with pytest.raises(ValueError):
            FORMATS[fmt].parser(r"^(?P<x>\d+)$")(line)


def test_every_timestamp_form_reads_as_the_same_instant() -> None:
    at = 1_748_779_200.5  # 2025-06-01T12:00:00.5Z
    forms = ["2025-06-01T12:00:00.5Z", "2025-06-01T12:00:00.500000000Z", "2025-06-01T14:00:00.500+02:00",
             "2025-06-01 12:00:00.500", "2025-06-01T12:00:00,5Z", "2025-06-01T12:00:00.5z",
             1_748_779_200.5, 1_748_779_200_500, "1748779200.5", 1_748_779_200_500_000]
    for f in forms:
        assert to_epoch(f) == pytest.approx(at, abs=1e-3), f
    assert to_epoch("01/Jun/2025:12:00:00 +0000") == 1_748_779_200
    assert to_epoch(1_748_779_200) == 1_748_779_200
    for junk in ("yesterday", None, True, {"a": 1}, ""):
        assert to_epoch(junk) is None


def test_where_filters_and_count_by_ranks_the_top_values(tmp_path: Path) -> None:
    kinds = ["DbTimeout"] * 5 + ["Upstream503"] * 3 + ["Bad"] * 2 + ["Rare"]
    lines = [jline(60 + i, level="error", error_type=k) for i, k in enumerate(kinds)]
    lines += [jline(30, level="info", error_type="DbTimeout"), jline(31, level="ERROR", error_type="Upper")]
    write(tmp_path / "api.log", lines)
    doc = query({"api": {"path": "api.log"}}, tmp_path, source="api", where="level == 'error'",
                count_by="error_type", top=2)
    assert doc["matched"] == 11
    assert doc["count_by"]["top"] == [{"value": "DbTimeout", "count": 5}, {"value": "Upstream503", "count": 3}]
    assert doc["count_by"]["other"] == 3 and doc["count_by"]["distinct"] == 4
    assert doc["prefilter"] == ["error"]


def test_the_prefilter_gives_the_same_answer_as_parsing_every_line(tmp_path: Path) -> None:
    lines = [jline(i, level=("error" if i % 7 == 0 else "info"), msg=("error budget" if i % 5 == 0 else "ok"),
                   status=500 if i % 7 == 0 else 200) for i in range(500)]
    write(tmp_path / "api.log", lines)
    src = {"api": {"path": "api.log"}}
    for where in ("level == 'error' and status == 500", "msg contains 'error'", "level == 'error' or status == 200",
                  "not (level == 'info')"):
        fast = query(src, tmp_path, source="api", where=where, count_by="level")
        logs = Logs.model_validate({"sources": src})
        slow = run_query(logs, LogQuery(source="api", since=86400, where=where, count_by="level"), str(tmp_path),
                         now=NOW, options=Options(workers=1, prefilter=False))
        assert fast["matched"] == slow["matched"] and fast["count_by"] == slow["count_by"], where


def test_percentiles_by_group_match_a_hand_computation(tmp_path: Path) -> None:
    # /a: 1..20 ms -> nearest rank p50 = 10th value, p95 = 19th, p99 = 20th; /b: 100, 200, 300
    lines = [jline(i, path="/a", duration_ms=v) for i, v in enumerate(reversed(range(1, 21)))]
    lines += [jline(50 + i, path="/b", duration_ms=str(v)) for i, v in enumerate((300, 100, 200))]
    lines.append(jline(70, path="/b"))  # no duration: not in the percentiles
    write(tmp_path / "api.log", lines)
    doc = query({"api": {"path": "api.log"}}, tmp_path, source="api", percentiles="duration_ms", by="path")
    groups = {g["group"]: g for g in doc["percentiles"]["groups"]}
    assert {k: groups["/a"][k] for k in ("count", "p50", "p95", "p99", "max")} == \
        {"count": 20, "p50": 10, "p95": 19, "p99": 20, "max": 20}
    assert {k: groups["/b"][k] for k in ("count", "p50", "p95", "p99")} == \
        {"count": 3, "p50": 200, "p95": 300, "p99": 300}


def test_request_id_merges_two_sources_in_time_order(tmp_path: Path) -> None:
    write(tmp_path / "api.log", [jline(50, request_id="r-77", msg="api start"), jline(40, request_id="r-78"),
                                 jline(10, request_id="r-77", msg="api done")])
    write(tmp_path / "worker.log", [f'time={iso(NOW - 30)} rid=r-77 msg="job ran"',
                                    f'time={iso(NOW - 45)} rid=r-77 msg="job queued"',
                                    f"time={iso(NOW - 20)} rid=r-770 msg=other"])
    doc = query({"api": {"path": "api.log"},
                 "worker": {"path": "worker.log", "format": "logfmt", "fields": {"ts": "time", "request_id": "rid"}}},
                tmp_path, source=["api", "worker"], request_id="r-77")
    got = [(r["source"], r["line"]) for r in doc["matching_lines"]]
    assert [s for s, _ in got] == ["api", "worker", "worker", "api"]
    assert "api start" in got[0][1] and "queued" in got[1][1] and "job ran" in got[2][1] and "api done" in got[3][1]
    assert doc["matched"] == 4
    assert doc["matching_lines"][0]["at"] == iso(NOW - 50)


def test_rotated_and_gz_files_are_read_oldest_first(tmp_path: Path) -> None:
    write(tmp_path / "api.log.2.gz", [jline(300, n=1), jline(290, n=2)], mtime=NOW - 290)
    write(tmp_path / "api.log.1", [jline(200, n=3)], mtime=NOW - 200)
    write(tmp_path / "api.log", [jline(100, n=4), jline(50, n=5)], mtime=NOW - 50)
    write(tmp_path / "api.log.3.gz", [jline(9000, n=0)], mtime=NOW - 9000)  # before the window: not opened
    doc = query({"api": {"path": "api.log*"}}, tmp_path, source="api", since=3600)
    assert [json.loads(r["line"])["n"] for r in doc["matching_lines"]] == [1, 2, 3, 4, 5]
    assert doc["lines"] == 5


def test_the_window_leaves_out_lines_before_since_and_after_until(tmp_path: Path) -> None:
    write(tmp_path / "api.log", [jline(a, a=a) for a in (7200, 3599, 1800, 60, 5)])
    doc = query({"api": {"path": "api.log"}}, tmp_path, source="api", since=3600, until=30)
    assert [json.loads(r["line"])["a"] for r in doc["matching_lines"]] == [3599, 1800, 60]


def test_malformed_lines_are_counted_and_the_first_few_reported(tmp_path: Path) -> None:
    lines = [jline(10, level="error")] + ["not json at all", '{"half": ', "[1]"] * 3 + ["x" * 5000]
    lines.append(jline(5, level="error"))
    write(tmp_path / "api.log", lines)
    logs = Logs.model_validate({"sources": {"api": {"path": "api.log"}}, "max_line": 1024})
    doc = run_query(logs, LogQuery(source="api", since=3600), str(tmp_path), now=NOW, options=Options(workers=1))
    assert doc["matched"] == 2
    assert doc["unparsable"] == 10
    assert len(doc["unparsable_examples"]) == 5
    assert doc["unparsable_examples"][0]["line"] == "not json at all"
    # a line beyond max_line is counted, never held whole
    doc2 = run_query(logs, LogQuery(source="api", since=3600, where="level == 'error'"), str(tmp_path), now=NOW,
                     options=Options(workers=1, prefilter=False))
    assert doc2["matched"] == 2 and doc2["unparsable"] == 10
    # the aggregate path (fields-only decoding) counts them the same
    doc3 = run_query(logs, LogQuery(source="api", since=3600, count_by="level"), str(tmp_path), now=NOW,
                     options=Options(workers=1))
    assert doc3["count_by"]["top"] == [{"value": "error", "count": 2}] and doc3["unparsable"] == 10


def test_a_line_longer_than_max_line_across_chunks_is_skipped(tmp_path: Path) -> None:
    from opsbook.config.logs import LogSource
    from opsbook.logs.engine import Acc
    from opsbook.logs.plan import make_plan
    from opsbook.logs.scan import scan

    src = LogSource(path="x")
    plan = make_plan("api", src, LogQuery(source="api", since=3600), NOW, max_line=2048)
    lines = (jline(5, n=1) + "\n" + "y" * 10_000 + "\n" + jline(4, n=2) + "\n").encode()
    acc = scan((lines[i:i + 700] for i in range(0, len(lines), 700)), plan, Acc("api"))
    assert acc.matched == 2 and acc.unparsable == 1
    assert "longer than max_line" in acc.bad[0][1]


def test_byte_ranges_in_several_processes_give_the_same_answer(tmp_path: Path, monkeypatch: Any) -> None:
    lines = [jline(1000 - i * 0.1, level="error" if i % 10 == 0 else "info", path=f"/p{i % 3}",
                   duration_ms=i % 97, kind=f"k{i % 4}") for i in range(5000)]
    write(tmp_path / "api.log", lines)
    src = {"api": {"path": "api.log"}}
    one = query(src, tmp_path, source="api", where="level == 'error'", count_by="kind", keep=3)
    monkeypatch.setattr(logs_run, "PARALLEL_MIN", 1000)
    many = query(src, tmp_path, workers=3, source="api", where="level == 'error'", count_by="kind", keep=3)
    assert many["count_by"] == one["count_by"] and many["parsed"] == one["parsed"] == 500
    assert many["matching_lines"] == one["matching_lines"]
    p_one = query(src, tmp_path, source="api", percentiles="duration_ms", by="path")
    p_many = query(src, tmp_path, workers=3, source="api", percentiles="duration_ms", by="path")
    assert p_one["percentiles"] == p_many["percentiles"]


def test_slower_than_and_sample_pick_from_matching_lines(tmp_path: Path) -> None:
    write(tmp_path / "api.log", [jline(100 - i, duration_ms=d, i=i) for i, d in enumerate([5, 1500, 20, 3000, 999])])
    doc = query({"api": {"path": "api.log"}}, tmp_path, source="api", slower_than=1.0)
    assert [json.loads(r["line"])["i"] for r in doc["matching_lines"]] == [1, 3]
    write(tmp_path / "big.log", [jline(1000 - i, i=i, level="error" if i % 2 else "info") for i in range(1000)])
    s = query({"api": {"path": "big.log"}}, tmp_path, source="api", where="level == 'error'", sample=25)
    assert len(s["sample"]) == 25
    picked = [json.loads(r["line"])["i"] for r in s["sample"]]
    assert len(set(picked)) == 25 and all(i % 2 for i in picked)


def test_a_command_source_is_read_from_its_stdout(tmp_path: Path) -> None:
    script = tmp_path / "emit.py"
    script.write_text("import json\nfor i in range(100):\n"
                      f"    print(json.dumps({{'ts': {NOW} - i, 'level': 'error' if i < 7 else 'info'}}))\n")
    doc = query({"cmd": {"command": [sys.executable, str(script)], "timeout": "20s"}}, tmp_path, source="cmd",
                where="level == 'error'", count_by="level")
    assert doc["count_by"]["top"] == [{"value": "error", "count": 7}]


def test_an_unreachable_source_names_itself_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(LogSourceUnreachable) as e:
        query({"api": {"path": "missing/*.log"}}, tmp_path, source="api")
    assert "no file matches missing/*.log" in e.value.message and e.value.exit_code == 3 and e.value.hint
    with pytest.raises(LogSourceUnreachable) as e:
        query({"c": {"command": "echo boom >&2; exit 4"}}, tmp_path, source="c")
    assert "exited 4: boom" in e.value.message
    with pytest.raises(LogSourceUnreachable) as e:
        query({"c": {"command": "sleep 30", "timeout": "300ms"}}, tmp_path, source="c")
    assert "timed out" in e.value.message
    with pytest.raises(UsageError, match="did you mean 'api'"):
        query({"api": {"path": "x"}}, tmp_path, source="apj")


def test_named_query_parameters_are_substituted_and_quotes_escaped() -> None:
    q = LogQuery(source="api", where="path == '{path}' and level == '{level}'", params={"path": "/", "level": "error"})
    assert bind(q, {"path": "/o'k"}).where == "path == '/o\\'k' and level == 'error'"
    with pytest.raises(UsageError, match="unknown query parameter"):
        bind(q, {"nope": "1"})
