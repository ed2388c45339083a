"""The ``sql`` step kind against the PostgreSQL on 127.0.0.1 and a temporary SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.config.secrets import REDACTED
from opsbook.errors import UsageError
from opsbook.runbooks.steps.registry import STEPS
from tests.support.helpers import load
from tests.support.pgutil import execute, scratch_database
from tests.support.steputil import render, run, step

SETUP = ["CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL, plan text)",
         "INSERT INTO accounts VALUES (1, 'ada', 'free'), (2, 'grace', 'pro')"]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Config, str]]:
    """A config whose resource ``db`` is a fresh database holding ``accounts``, and the dialect."""
    if request.param == "sqlite":
        path = tmp_path / "app.db"
        with sqlite3.connect(path) as conn:
            for s in SETUP:
                conn.execute(s)
        conn.close()
        yield load("resources:\n  db: {kind: sqlite, path: app.db}\n", tmp_path), "sqlite"
    else:
        with scratch_database("opsbook_rbs") as dsn:
            execute(dsn, *SETUP)
            yield load(f"resources:\n  db: {{kind: postgres, dsn: '{dsn}'}}\n", tmp_path), "postgres"


def names(cfg: Config) -> list[str]:
    _, out = run(cfg, step("sql", "SELECT name FROM accounts ORDER BY id", resource="db"))
    return [r["name"] for r in out.observations["rows"]]


def test_a_select_gives_rows_columns_and_count(db: tuple[Config, str]) -> None:
    cfg, _ = db
    r, out = run(cfg, step("sql", "SELECT id, name FROM accounts ORDER BY id", resource="db"))
    assert r.read_only and out.error is None
    assert out.observations["columns"] == ["id", "name"]
    assert out.observations["rows"] == [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}]
    assert out.observations["row_count"] == 2
    assert out.observations["value"] == 1
    assert "grace" in out.output


def test_a_read_only_sql_step_cannot_write(db: tuple[Config, str]) -> None:
    cfg, _ = db
    for sql in ("DELETE FROM accounts", "UPDATE accounts SET plan = 'x'", "DROP TABLE accounts",
                "SELECT 1; DELETE FROM accounts"):
        _, out = run(cfg, step("sql", sql, resource="db"))
        assert out.error is not None and "refused" in out.error, (sql, out.error)
    assert names(cfg) == ["ada", "grace"]


def test_a_mutating_step_writes_and_counts_what_it_changed(db: tuple[Config, str]) -> None:
    cfg, _ = db
    r, out = run(cfg, step("sql", "UPDATE accounts SET plan = ${plan} WHERE id = ${id}", resource="db",
                           mutates="true"), {"plan": "team", "id": "2"})
    assert not r.read_only and out.error is None, out.error
    assert out.observations["row_count"] == 1
    _, out = run(cfg, step("sql", "SELECT plan FROM accounts WHERE id = 2", resource="db"))
    assert out.observations["value"] == "team"


def test_a_mutating_step_may_be_several_statements(db: tuple[Config, str]) -> None:
    cfg, _ = db
    _, out = run(cfg, step("sql", "INSERT INTO accounts VALUES (3, 'linus', NULL);\n"
                                  "DELETE FROM accounts WHERE id = 1;", resource="db", mutates="true"))
    assert out.error is None, out.error
    assert names(cfg) == ["grace", "linus"]


def test_sql_values_are_bound_not_spliced(db: tuple[Config, str]) -> None:
    cfg, _ = db
    evil = "o'brien'); DROP TABLE accounts; --"
    _, out = run(cfg, step("sql", "INSERT INTO accounts (id, name) VALUES (3, ${who})", resource="db",
                           mutates="true"), {"who": evil})
    assert out.error is None, out.error
    r, out = run(cfg, step("sql", "SELECT id FROM accounts WHERE name = ${who}", resource="db"), {"who": evil})
    assert out.observations["rows"] == [{"id": 3}]
    assert "'o''brien''); DROP TABLE accounts; --'" in r.display  # shown as the literal it stands for
    assert names(cfg) == ["ada", "grace", evil]


def test_a_percent_sign_in_the_sql_survives_binding(db: tuple[Config, str]) -> None:
    cfg, _ = db
    _, out = run(cfg, step("sql", "SELECT name FROM accounts WHERE name LIKE 'g%' AND plan = ${plan}",
                           resource="db"), {"plan": "pro"})
    assert out.error is None, out.error
    assert out.observations["rows"] == [{"name": "grace"}]


def test_a_secret_value_is_bound_and_masked_in_the_display(db: tuple[Config, str]) -> None:
    cfg, _ = db
    secret = "s3cret-plan-value-42"
    r, out = run(cfg, step("sql", "SELECT count(*) AS n FROM accounts WHERE plan <> ${key}", resource="db"),
                 {"key": secret}, frozenset({"key"}))
    assert secret not in r.display and f"plan <> {REDACTED}" in r.display
    assert out.observations["value"] == 2


def test_rows_are_bounded_but_all_are_counted(db: tuple[Config, str]) -> None:
    cfg, dialect = db
    sql = ("SELECT g AS n FROM generate_series(1, 5000) AS g" if dialect == "postgres" else
           "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000) SELECT n FROM c")
    _, out = run(cfg, step("sql", sql, resource="db"))
    assert len(out.observations["rows"]) == 1000
    assert out.observations["row_count"] == 5000


def test_bad_sql_is_an_error_outcome_not_an_exception(db: tuple[Config, str]) -> None:
    cfg, _ = db
    _, out = run(cfg, step("sql", "SELECT nope FROM nowhere", resource="db"))
    assert out.error is not None and "nowhere" in out.error


def test_the_target_names_host_and_database_without_credentials(tmp_path: Path) -> None:
    with scratch_database("opsbook_rbs") as dsn:
        with_pw = dsn.replace("postgres@", "postgres:hunter2-pw@")  # trust auth ignores it
        cfg = load(f"resources:\n  main: {{kind: postgres, dsn: '{with_pw}'}}\n", tmp_path)
        r, out = run(cfg, step("sql", "SELECT current_database() AS db", resource="main"))
        dbname = dsn.rsplit("/", 1)[1]
        assert r.target == f"resource main (127.0.0.1:5432/{dbname})"
        assert "hunter2" not in r.target + r.display
        assert out.observations["value"] == dbname


def test_an_unreachable_database_is_an_error_outcome(tmp_path: Path) -> None:
    cfg = load("resources:\n  gone: {kind: postgres, dsn: 'postgresql://postgres@127.0.0.1:1/x'}\n", tmp_path)
    _, out = run(cfg, step("sql", "SELECT 1", resource="gone"), timeout=5)
    assert out.error is not None and "cannot connect" in out.error


def test_an_unknown_resource_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    cfg = load("resources:\n  main: {kind: sqlite, path: app.db}\n", tmp_path)
    with pytest.raises(UsageError, match="did you mean 'main'"):
        render(cfg, step("sql", "SELECT 1", resource="mian"))


def test_a_resource_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    cfg = load("resources:\n  api: {kind: http, url: 'http://127.0.0.1:1'}\n", tmp_path)
    with pytest.raises(UsageError, match="http resource"):
        render(cfg, step("sql", "SELECT 1", resource="api"))


def test_lint_flags_a_write_without_mutates_and_a_quoted_value() -> None:
    kind = STEPS["sql"]
    assert any("DELETE" in w for w in kind.lint(step("sql", "DELETE FROM sessions", resource="db")))
    assert kind.lint(step("sql", "DELETE FROM sessions", resource="db", mutates="true")) == []
    assert kind.lint(step("sql", "SELECT * FROM t FOR UPDATE", resource="db")) == []
    assert any("quotes" in w for w in kind.lint(step("sql", "SELECT 1 WHERE a = '${x}'", resource="db")))

