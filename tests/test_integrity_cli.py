"""``opsbook integrity run|list`` as a user runs them: exit codes, JSON, history, human output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clirun import opsbook
from tests.support.helpers import free_port
from tests.support.integrity_seed import seeded

SUITES = """
store: {{url: "sqlite:///{store}"}}
resources:
  app: {{kind: sqlite, path: {db}}}
  db: {{kind: postgres, dsn: {{env: INTEGRITY_TEST_DSN}}}}
integrity:
  core:
    resource: app
    description: the seed's validate-integrity script
    checks:
      - unique: {{table: stripe_events, columns: [event_id]}}
      - references: {{table: habit_completions, column: habit_id, to: habits.id}}
      - not_null: {{table: users, columns: [email]}}
  lenient:
    resource: app
    checks:
      - range: {{table: habits, column: streak, min: 0, severity: warn}}
      - row_count: {{table: users, min: 1}}
  on-postgres:
    resource: db
    checks:
      - row_count: {{table: users, min: 1}}
"""


def write_config(tmp_path: Path, db: str) -> Path:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(SUITES.format(store=tmp_path / "store.db", db=db))
    return cfg


def test_failing_suite_exits_1_with_the_table_samples_and_sql(tmp_path: Path) -> None:
    with seeded("sqlite", tmp_path) as t:
        cfg = write_config(tmp_path, str(t.sqlite_path))
        r = opsbook("integrity", "run", "core", "-c", str(cfg))
        assert r.code == 1, r.text
        assert "unique:stripe_events.event_id" in r.stdout and "✗ fail" in r.stdout
        assert "find them with:" in r.stdout and "GROUP BY `event_id` HAVING count(*) > 1" in r.stdout
        assert "evt_1" in r.stdout  # a sample row
        assert "tok2" not in r.text  # users.api_token of the sampled row is redacted
        assert "3 fail" in r.stdout


def test_json_document_and_exit_0_when_only_warnings(tmp_path: Path) -> None:
    with seeded("sqlite", tmp_path) as t:
        cfg = write_config(tmp_path, str(t.sqlite_path))
        r = opsbook("integrity", "run", "lenient", "--json", "-c", str(cfg))
        assert r.code == 0, r.text
        doc = r.json
        assert doc["schema"] == "opsbook.integrity/1" and doc["ok"] is True
        assert doc["counts"] == {"pass": 1, "warn": 1, "fail": 0, "error": 0}
        assert doc["new_since_last_run"] is None  # nothing to compare with yet
        assert [c["status"] for c in doc["checks"]] == ["warn", "pass"]


def test_new_violations_since_the_last_run_are_named(tmp_path: Path) -> None:
    with seeded("sqlite", tmp_path) as t:
        cfg = write_config(tmp_path, str(t.sqlite_path))
        first = opsbook("integrity", "run", "core", "--json", "-c", str(cfg))
        assert first.code == 1 and first.json["new_since_last_run"] is None
        second = opsbook("integrity", "run", "core", "--json", "-c", str(cfg))
        assert second.json["new_since_last_run"] == []
        assert second.json["previous_run_at"] == first.json["finished_at"]
        t.execute("INSERT INTO habit_completions VALUES (9, 777, '2026-11-21 08:00:00')")
        third = opsbook("integrity", "run", "core", "-c", str(cfg))
        assert "new since last run: references:habit_completions.habit_id" in third.stdout
        row = next(line for line in third.stdout.splitlines() if "references:" in line)
        assert "+1" in row
        fourth = opsbook("integrity", "run", "core", "--json", "-c", str(cfg))
        refs = {c["name"]: c for c in fourth.json["checks"]}["references:habit_completions.habit_id"]
        assert (refs["violations"], refs["new_violations"]) == (2, 0)


def test_another_target_is_not_compared_with_this_ones_history(tmp_path: Path) -> None:
    with seeded("sqlite", tmp_path) as t, seeded("sqlite", tmp_path / "..", clean=True) as other:
        cfg = write_config(tmp_path, str(t.sqlite_path))
        assert opsbook("integrity", "run", "core", "-c", str(cfg)).code == 1
        r = opsbook("integrity", "run", "core", "--json", "--sqlite", str(other.sqlite_path), "-c", str(cfg))
        assert r.code == 0 and r.json["new_since_last_run"] is None, r.text
        assert r.json["target"] == f"sqlite {other.sqlite_path}"


def test_unreachable_database_exits_3_without_the_password(tmp_path: Path) -> None:
    with seeded("sqlite", tmp_path) as t:
        cfg = write_config(tmp_path, str(t.sqlite_path))
        dsn = f"postgresql://postgres:Sekr3t-pw@127.0.0.1:{free_port()}/nothing"
        r = opsbook("integrity", "run", "on-postgres", "--json", "-c", str(cfg), env={"INTEGRITY_TEST_DSN": dsn})
        assert r.code == 3, r.text
        assert r.json["schema"] == "opsbook.error/1" and "cannot connect" in r.json["error"]["message"]
        assert "Sekr3t-pw" not in r.text
        r = opsbook("integrity", "run", "core", "--sqlite", str(tmp_path / "gone.db"), "-c", str(cfg))
        assert r.code == 3 and "no SQLite database" in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["integrity", "run", "nope"], "no integrity suite named 'nope'"),
    (["integrity", "run", "core", "--dsn", "postgresql://x/y", "--sqlite", "f.db"], "at most one of"),
    (["integrity", "run", "core", "--resource", "ghost"], "resource 'ghost' is not defined"),
])
def test_usage_mistakes_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "app.db")
    r = opsbook(*args, "-c", str(cfg))
    assert r.code == 2 and message in r.stderr, r.text


def test_postgres_resource_run_against_a_scratch_database(tmp_path: Path) -> None:
    with seeded("postgres", tmp_path) as t:
        cfg = write_config(tmp_path, "unused.db")
        assert t.dsn is not None
        r = opsbook("integrity", "run", "on-postgres", "--json", "-c", str(cfg), env={"INTEGRITY_TEST_DSN": t.dsn})
        assert r.code == 0, r.text
        assert r.json["target"] == "postgres resource db" and r.json["dialect"] == "postgres"
        r = opsbook("integrity", "run", "core", "--json", "--dsn", t.dsn, "-c", str(cfg))
        assert r.code == 1 and r.json["counts"]["fail"] == 3


def test_list_shows_suites_and_their_checks(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "app.db")
    r = opsbook("integrity", "list", "--json", "-c", str(cfg))
    assert r.code == 0
    core = r.json["suites"]["core"]
    assert core["resource"] == "app" and [c["name"] for c in core["checks"]] == [
        "unique:stripe_events.event_id", "references:habit_completions.habit_id", "not_null:users.email"]
    human = opsbook("integrity", "list", "-c", str(cfg))
    assert "lenient" in human.stdout and "range:habits.streak" in human.stdout and "warn" in human.stdout
