"""Replay sources: a SQL query on PostgreSQL and SQLite with ${since}/${until} bound as parameters
(and a resume that starts after the cursor), a JSONL file read lazily, a command's stdout."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.replay import JsonlSource
from opsbook.replay.event import Fields
from opsbook.replay.sources import jsonl, open_source
from tests.support.clirun import opsbook
from tests.support.helpers import load
from tests.support.pgutil import execute, scratch_database
from tests.support.replayutil import config, receiver

T0 = datetime(2026, 3, 1, tzinfo=UTC)
QUERY = ("SELECT id, customer, received_at, payload FROM stripe_events "
         "WHERE received_at >= ${since} AND received_at < ${until} ORDER BY received_at, id")


def _payload(i: int) -> str:
    return json.dumps({"id": f"evt_{i:03d}", "customer": f"cus_{i % 3}", "n": i, "note": "it's 100%"})


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ``resources:`` entry named db holding 50 events, one a minute from T0."""
    if request.param == "postgres":
        with scratch_database("opsbook_replay") as dsn:
            execute(dsn, "CREATE TABLE stripe_events (id text PRIMARY KEY, customer text, received_at timestamptz, "
                         "payload jsonb)",
                    *(f"INSERT INTO stripe_events VALUES ('evt_{i:03d}', 'cus_{i % 3}', "
                      f"'{(T0 + timedelta(minutes=i)).isoformat()}', '{_payload(i).replace(chr(39), chr(39) * 2)}')"
                      for i in range(50)))
            yield f'db: {{kind: postgres, dsn: "{dsn}"}}'
    else:
        path = tmp_path / "events.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE stripe_events (id text PRIMARY KEY, customer text, received_at text, "
                         "payload text)")
            conn.executemany("INSERT INTO stripe_events VALUES (?, ?, ?, ?)",
                             [(f"evt_{i:03d}", f"cus_{i % 3}", (T0 + timedelta(minutes=i)).isoformat(), _payload(i))
                              for i in range(50)])
        conn.close()
        yield f"db: {{kind: sqlite, path: {path}}}"


def _sql_config(tmp_path: Path, url: str, db: str) -> Path:
    cfg = config(tmp_path, url, f'{{sql: {{resource: db, query: "{QUERY}", key: id, order: received_at, '
                                f'body: payload}}}}')
    cfg.write_text(cfg.read_text().replace("resources:\n", f"resources:\n  {db}\n"))
    return cfg


def test_a_sql_source_sends_the_rows_between_since_and_until_bound_as_parameters(database: str,
                                                                                tmp_path: Path) -> None:
    with receiver() as rec:
        cfg = _sql_config(tmp_path, rec.url, database)
        r = opsbook("replay", "run", "hooks", "--since", "2026-03-01T00:10:00Z", "--until", "2026-03-01T00:30:00Z",
                    "--json", "-c", str(cfg))
        assert r.code == 0, r.text
        assert r.json["counts"]["delivered"] == 20
        without = opsbook("replay", "run", "hooks", "-c", str(cfg))
    assert without.code == 2 and "--since" in without.stderr  # the query needs them
    assert sorted(rec.by_key) == [f"evt_{i:03d}" for i in range(10, 30)]
    assert rec.bad_signatures == 0
    assert sorted(b["n"] for b in rec.arrivals) == list(range(10, 30))  # the payload column is the body
    assert rec.arrivals[0]["note"] == "it's 100%"


def test_a_sql_source_resumed_at_a_cursor_starts_after_it(database: str, tmp_path: Path) -> None:
    cfg = load(_sql_config(tmp_path, "http://127.0.0.1:9", database).read_text(), tmp_path)
    spec = cfg.model.replay["hooks"]
    fields = Fields("id", "customer", "id")
    events, _ = open_source(spec, cfg.resources, fields, T0, T0 + timedelta(hours=1), None, tmp_path)
    first = list(events)
    assert [e.key for e in first] == [f"evt_{i:03d}" for i in range(50)]
    cursor = first[19].position
    events, seeks = open_source(spec, cfg.resources, fields, T0, T0 + timedelta(hours=1), cursor, tmp_path)
    assert seeks and [e.key for e in events] == [f"evt_{i:03d}" for i in range(20, 50)]


def test_a_million_line_jsonl_source_is_read_lazily(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    with big.open("w") as f:
        for start in range(0, 1_000_000, 10_000):
            f.write("".join(f'{{"id":"e{i}","c":{i % 9}}}\n' for i in range(start, start + 10_000)))
    size = big.stat().st_size
    gen = jsonl(JsonlSource(path=str(big), key="id"), Fields("id"), None, None, None, tmp_path)
    taken = [next(gen) for _ in range(5)]
    assert [e.key for e in taken] == ["e0", "e1", "e2", "e3", "e4"]
    assert gen.gi_frame is not None
    read = gen.gi_frame.f_locals["fh"].tell()  # how far the file has been read: a buffer, not the file
    assert read < 1024 * 1024 < size
    gen.close()
    cfg = config(tmp_path, "http://127.0.0.1:9", "{jsonl: {path: big.jsonl, key: id}}")
    r = opsbook("replay", "run", "hooks", "--dry-run", "--limit", "7", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    assert r.json["counts"] == {"would_send": 7, "malformed": 0} and len(r.json["samples"]) == 3


def test_a_jsonl_directory_is_read_in_name_order_and_a_resume_seeks_to_the_cursor(tmp_path: Path) -> None:
    d = tmp_path / "events"
    d.mkdir()
    (d / "b.jsonl").write_text("".join(json.dumps({"id": f"b{i}"}) + "\n" for i in range(3)))
    (d / "a.jsonl").write_text("".join(json.dumps({"id": f"a{i}"}) + "\n" for i in range(3)))
    (d / "notes.txt").write_text("not events")
    src = JsonlSource(path="events", key="id")
    events = list(jsonl(src, Fields("id"), None, None, None, tmp_path))
    assert [e.key for e in events] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    after = list(jsonl(src, Fields("id"), None, None, events[3].position, tmp_path))
    assert [e.key for e in after] == ["b1", "b2"]


def test_a_line_over_the_cap_is_an_event_with_an_error_not_a_memory_spike(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text('{"id": "a"}\n' + '{"id": "' + "x" * 5000 + '"}\n{"id": "b"}\n')
    events = list(jsonl(JsonlSource(path="e.jsonl", key="id", max_line_bytes=100), Fields("id"), None, None, None,
                        tmp_path))
    assert [e.key for e in events][::2] == ["a", "b"]
    assert events[1].error is not None and "longer than 100 bytes" in events[1].error


def test_a_command_source_streams_its_stdout(tmp_path: Path) -> None:
    script = "import json\nfor i in range(25): print(json.dumps({'id': f'c{i}', 'customer': 'k'}))"
    (tmp_path / "gen.py").write_text(script)
    with receiver() as rec:
        cfg = config(tmp_path, rec.url, f"{{command: {{run: [{sys.executable}, {tmp_path / 'gen.py'}], key: id}}}}")
        r = opsbook("replay", "run", "hooks", "--limit", "20", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    assert r.json["counts"]["delivered"] == 20 and rec.unique == 20
    assert [b["id"] for b in rec.arrivals] == [f"c{i}" for i in range(20)]  # one customer: in order


def test_a_time_field_filters_file_events_by_since_and_until(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("".join(
        json.dumps({"id": f"e{i}", "at": (T0 + timedelta(minutes=i)).isoformat() if i % 2 else 1772323200 + 60 * i})
        + "\n" for i in range(10)))
    src = JsonlSource(path="e.jsonl", key="id", time_field="at")
    got = jsonl(src, Fields("id", time="at"), T0 + timedelta(minutes=3), T0 + timedelta(minutes=7), None, tmp_path)
    assert [e.key for e in got] == ["e3", "e4", "e5", "e6"]  # ISO and unix seconds alike; until excluded
