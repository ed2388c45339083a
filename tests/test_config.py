"""Config loading: typed models, positions in errors, environments, secrets by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.config.load import dump_redacted
from opsbook.config.secrets import SecretRef, redactor, reveal
from opsbook.errors import ConfigError, ConfigErrors
from tests.support.helpers import load


def errors_of(text: str, tmp_path: Path, env: str | None = None) -> list[ConfigError]:
    with pytest.raises((ConfigErrors, ConfigError)) as e:
        load(text, tmp_path, env=env)
    return e.value.errors if isinstance(e.value, ConfigErrors) else [e.value]


def test_unknown_key_is_rejected_with_path_and_line(tmp_path: Path) -> None:
    (e,) = errors_of("""
        checks:
          api:
            command: {run: "true"}
            expct: ["exit_code == 0"]
    """, tmp_path)
    assert e.path == "checks.api.expct"
    assert (e.line, e.column) == (5, 5)
    assert "unknown key 'expct'" in e.message


def test_malformed_assertion_points_at_the_expression(tmp_path: Path) -> None:
    (e,) = errors_of("""
        checks:
          api-ready:
            command: {run: "true"}
            expect: ["exit_code == 0", "status in [400, 401"]
    """, tmp_path)
    assert e.path == "checks.api-ready.expect[1]"
    assert e.line == 5
    assert "expected ']'" in e.message


def test_environment_vars_are_interpolated(tmp_path: Path) -> None:
    cfg = load("""
        vars: {port: "1"}
        environments:
          staging: {vars: {host: staging.example.com}}
          production: {vars: {host: api.example.com}}
        checks:
          t: {command: {run: "echo ${host}:${port} ${env}"}}
    """, tmp_path, env="production")
    _, params = cfg.checks["t"].kind_and_params()
    assert params.run == "echo api.example.com:1 production"  # type: ignore[attr-defined]


def test_undefined_variable_is_an_error_naming_it(tmp_path: Path) -> None:
    (e,) = errors_of("""
        checks:
          t: {command: {run: "echo ${nope}"}}
    """, tmp_path)
    assert "${nope} is not defined" in e.message
    assert e.path == "checks.t.command.run"


def test_several_environments_need_a_choice(tmp_path: Path) -> None:
    (e,) = errors_of("""
        environments: {a: {}, b: {}}
    """, tmp_path)
    assert "--env" in e.hint


def test_unknown_environment_is_named(tmp_path: Path) -> None:
    (e,) = errors_of("environments: {a: {}}\n", tmp_path, env="prod")
    assert "unknown environment 'prod'" in e.message


def test_secret_reference_resolves_from_env_and_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOOK_TEST_DSN", "postgresql://app:sup3r-secret@db.internal/app")
    cfg = load("""
        resources:
          db: {kind: postgres, dsn: {env: OPSBOOK_TEST_DSN}}
    """, tmp_path)
    dsn = cfg.resources["db"].dsn  # type: ignore[union-attr]
    assert isinstance(dsn, SecretRef)
    assert dump_redacted(cfg.model)["resources"]["db"]["dsn"] == "<secret from env OPSBOOK_TEST_DSN>"
    value = reveal(dsn)
    assert value is not None and "sup3r-secret" in value
    assert "sup3r-secret" not in redactor.text(f"connecting to {value} failed")


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-from-file-123\n")
    ref = SecretRef(file=str(tmp_path / "token"))
    assert ref.resolve() == "tok-from-file-123"
    assert redactor.text("Bearer tok-from-file-123") == "Bearer ***"


def test_missing_secret_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSBOOK_NOPE", raising=False)
    with pytest.raises(ConfigError, match="OPSBOOK_NOPE is not set"):
        SecretRef(env="OPSBOOK_NOPE").resolve("resources.db.dsn")


def test_inline_dsn_password_is_redacted_in_config_show(tmp_path: Path) -> None:
    cfg = load("""
        resources:
          db: {kind: postgres, dsn: "postgresql://app:inline-pw-77@127.0.0.1/app"}
    """, tmp_path)
    shown = dump_redacted(cfg.model)["resources"]["db"]["dsn"]
    assert "inline-pw-77" not in shown
    assert shown == "postgresql://app:***@127.0.0.1/app"


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    (e,) = errors_of("checks:\n  a: [\n", tmp_path)
    assert e.line is not None and "YAML syntax" in e.message


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    (e,) = errors_of("""
        checks:
          a: {command: {run: "true"}}
          a: {command: {run: "false"}}
    """, tmp_path)
    assert "duplicate key 'a'" in e.message


def test_dependency_cycle_is_reported(tmp_path: Path) -> None:
    errs = errors_of("""
        checks:
          a: {command: {run: "true"}, depends_on: [b]}
          b: {command: {run: "true"}, depends_on: [a]}
    """, tmp_path)
    assert any("dependency cycle" in e.message for e in errs)


def test_check_needs_exactly_one_kind(tmp_path: Path) -> None:
    (e,) = errors_of("""
        checks:
          a: {expect: ["x == 1"]}
    """, tmp_path)
    assert "a check needs one kind key" in e.message


def test_derived_data_is_kept_on_the_loaded_config_so_a_reload_starts_afresh(tmp_path: Path) -> None:
    text = "checks: {a: {tcp: {host: 127.0.0.1, port: 1}}}"
    cfg = load(text, tmp_path)
    made: list[int] = []
    assert cfg.derived("n", lambda: made.append(1) or len(made)) == 1
    assert cfg.derived("n", lambda: made.append(1) or len(made)) == 1  # kept
    reloaded = load(text, tmp_path)
    assert reloaded.derived("n", lambda: made.append(1) or len(made)) == 2  # computed again
