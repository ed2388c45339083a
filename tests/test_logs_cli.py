"""`opsbook logs` and the logs check kind through the real CLI: exit codes, hints, evidence, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.support.clirun import opsbook

SECRET = "tok-logs-Zq81-never-printed"


def ago(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds, UTC).isoformat().replace("+00:00", "Z")


def setup(tmp_path: Path, extra: str = "") -> Path:
    lines = []
    for i in range(200):
        err = i % 20 == 0
        lines.append(json.dumps({"ts": ago(600 - i), "level": "error" if err else "info",
                                 "error_type": ("DbTimeout" if i % 40 == 0 else "Upstream") if err else None,
                                 "path": "/api" if i % 2 else "/health", "duration_ms": i,
                                 "request_id": f"req-{i}", "msg": f"auth Bearer {SECRET}" if i == 40 else "done"}))
    lines.append("garbage line")
    (tmp_path / "api.log").write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(f"""\
store: {{url: "sqlite:///{tmp_path}/store.db"}}
logs:
  sources:
    api: {{path: api.log}}
    broken: {{command: "echo 'no such app' >&2; exit 5"}}
    gone: {{path: nowhere/api.log}}
    piped: {{stdin: true, format: logfmt}}
  queries:
    errors-by-type:
      source: api
      since: 1h
      where: "level == '{{level}}'"
      count_by: error_type
      params: {{level: error}}
checks:
  uses-secret: {{command: {{run: "true", env: {{TOKEN: {{env: LOGS_CLI_TOKEN}}}}}}}}
  error-ratio:
    logs: {{query: errors-by-type, since: 1h}}
    expect: ["percent < 1"]
  error-ratio-loose:
    logs: {{query: errors-by-type}}
    expect: ["percent < 10"]
  no-panic:
    logs: {{source: api, where: "msg contains 'panic'", since: 1h}}
{extra}""")
    return cfg


ENV = {"LOGS_CLI_TOKEN": SECRET}


def test_query_counts_errors_by_type_as_a_table_and_as_json(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    r = opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--since", "1h", "--where", "level == 'error'",
                "--count-by", "error_type", "--top", "5", env=ENV)
    assert r.code == 0, r.text
    assert "DbTimeout" in r.stdout and "Upstream" in r.stdout
    # without a prefilter every line is parsed: the garbage one is counted and quoted
    every = opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--count-by", "level", env=ENV)
    assert "1 unparsable line" in every.stdout and "garbage line" in every.stdout, every.text
    j = opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--since", "1h", "--where", "level == 'error'",
                "--count-by", "error_type", "--json", env=ENV)
    assert j.code == 0, j.text
    assert j.json["count_by"]["top"] == [{"value": "DbTimeout", "count": 5}, {"value": "Upstream", "count": 5}]


def test_request_id_and_percentiles_from_the_command_line(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    r = opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--request-id", "req-7", "--json", env=ENV)
    assert r.code == 0, r.text
    assert [json.loads(x["line"])["request_id"] for x in r.json["matching_lines"]] == ["req-7"]
    p = opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--p95", "duration_ms", "--by", "path",
                "--json", env=ENV)
    groups = {g["group"]: g for g in p.json["percentiles"]["groups"]}
    assert groups["/api"]["count"] == 100 and groups["/api"]["p95"] == 189  # odd 1..199: the 95th is 189


def test_a_missing_file_exits_3_with_a_hint(tmp_path: Path) -> None:
    r = opsbook("logs", "query", "-c", str(setup(tmp_path)), "--source", "gone", env=ENV)
    assert r.code == 3, r.text
    assert "no file matches nowhere/api.log" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.text


def test_a_failing_command_exits_3_with_its_stderr(tmp_path: Path) -> None:
    r = opsbook("logs", "query", "-c", str(setup(tmp_path)), "--source", "broken", "--json", env=ENV)
    assert r.code == 3, r.text
    assert "exited 5: no such app" in r.json["error"]["message"]


def test_run_a_named_query_with_a_parameter(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    r = opsbook("logs", "run", "errors-by-type", "-c", str(cfg), "-p", "level=info", "--json", env=ENV)
    assert r.code == 0, r.text
    assert r.json["matched"] == 190
    bad = opsbook("logs", "run", "errors-by-typ", "-c", str(cfg), env=ENV)
    assert bad.code == 2 and "did you mean 'errors-by-type'" in bad.stderr


def test_a_stdin_source_reads_piped_lines(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    text = "".join(f"ts={ago(60 - i)} level={'error' if i % 3 == 0 else 'info'} msg=x\n" for i in range(30))
    p = subprocess.run([sys.executable, "-m", "opsbook", "logs", "query", "-c", str(cfg), "--source", "piped",
                        "--where", "level == 'error'", "--count-by", "level", "--json"],
                       input=text, capture_output=True, text=True, timeout=60, env={**os.environ, **ENV})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["count_by"]["top"] == [{"value": "error", "count": 10}]


def test_the_logs_check_passes_and_fails_with_evidence(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    r = opsbook("check", "error-ratio", "error-ratio-loose", "no-panic", "-c", str(cfg), "--json", env=ENV)
    assert r.code == 1, r.text
    by = {x["name"]: x for x in r.json["results"]}
    bad = by["error-ratio"]
    assert bad["status"] == "fail"
    obs = bad["observations"]
    assert (obs["matched"], obs["total"], obs["percent"]) == (10, 200, 5.0)
    assert obs["counts"] == {"DbTimeout": 5, "Upstream": 5}
    assert len(obs["lines"]) == 5 and all('"level": "error"' in line for line in obs["lines"])
    assert obs["unparsable"] == 1
    assert by["error-ratio-loose"]["status"] == "pass"
    assert by["no-panic"]["status"] == "pass" and by["no-panic"]["observations"]["matched"] == 0


def test_a_registered_secret_never_appears_in_output_lines(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    outs = [
        opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--where", "level == 'error'", env=ENV),
        opsbook("logs", "query", "-c", str(cfg), "--source", "api", "--request-id", "req-40", "--json", env=ENV),
        opsbook("check", "error-ratio", "-c", str(cfg), "--json", env=ENV),
    ]
    for r in outs:
        assert r.code in (0, 1), r.text
        assert "Bearer" in r.text  # the line is shown ...
        assert SECRET not in r.text  # ... its secret is not


def test_the_config_rejects_a_query_naming_an_unknown_source(tmp_path: Path) -> None:
    cfg = setup(tmp_path, "  typo:\n    logs: {query: errors-by-typ}\n")
    r = opsbook("config", "validate", "-c", str(cfg), env=ENV)
    assert r.code == 2 and "no log query named 'errors-by-typ'" in r.stderr


def test_sources_lists_each_source_and_exits_3_when_a_path_matches_nothing(tmp_path: Path) -> None:
    r = opsbook("logs", "sources", "-c", str(setup(tmp_path)), "--json", env=ENV)
    assert r.code == 3, r.text
    rows = {s["name"]: s for s in r.json["sources"]}
    assert rows["api"]["files"] == 1 and rows["api"]["error"] is None
    assert "no file matches nowhere/api.log" in rows["gone"]["error"]
    assert rows["broken"]["reads"].startswith("$ echo")


def test_a_logs_check_on_a_stdin_source_is_an_error_not_a_hang(tmp_path: Path) -> None:
    cfg = setup(tmp_path, "  piped-check:\n    logs: {source: piped}\n")
    r = opsbook("check", "piped-check", "-c", str(cfg), "--json", env=ENV)
    assert r.code != 0
    res = r.json["results"][0]
    assert res["status"] == "error" and "reads stdin" in res["summary"]


def test_since_and_until_take_a_duration_or_a_time() -> None:
    import pytest

    from opsbook.cli.logs import _ago
    from opsbook.errors import UsageError

    now = 1_780_000_000.0
    assert _ago("--since", "24h", now) == 86400
    assert _ago("--until", "2026-05-28T19:26:40Z", now) == 3600
    with pytest.raises(UsageError, match="neither a duration nor a time"):
        _ago("--since", "last tuesday", now)
    with pytest.raises(UsageError, match="in the future"):
        _ago("--until", "2030-01-01T00:00:00Z", now)


def test_an_unknown_log_format_is_a_config_error_at_load_naming_the_source(tmp_path: Path) -> None:
    import pytest

    from opsbook.errors import ConfigErrors
    from tests.support.helpers import load

    with pytest.raises(ConfigErrors) as e:
        load("logs:\n  sources:\n    api: {path: api.log, format: jsonl}\n", tmp_path)
    (only,) = e.value.errors
    assert only.path == "logs.sources.api.format" and only.line == 3
    assert "unknown log format 'jsonl' (did you mean 'json'?)" in only.message and "logfmt" in only.hint
