"""Environment contracts: each rule type judged on real values, sources (dotenv, a real child
process printing JSON, kubectl's base64), fingerprint comparison, the CLI's exit codes and JSON,
the `env` check kind. Distinctive secret values must never appear in any output."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import pytest

from opsbook.config.env_contract import AppContract
from opsbook.envcontract.judge import Fingerprints, entropy_bits, judge
from opsbook.envcontract.sources import SourceUnreadable, from_command, from_dotenv, parse_output
from opsbook.errors import ConfigErrors
from tests.support.clirun import opsbook
from tests.support.helpers import load, run

# values that must never be printed, stored or put in an exception
PROD_JWT = "PRODjwt-Q7v2Lx9pR4sW8kZ3nY6bF1hJ5cD0gA2mT4uE"
SHARED_JWT = "SHAREDjwt-Xk4Pz8Wm2Qr6Tn0Vb3Ys7Lc1Hd5Fg9Ja"
BAD_DSN = "mysql://root:HUSHdsnPW81@db/app"
SECRETS = (PROD_JWT, SHARED_JWT, "HUSHdsnPW81")

CONTRACT = """
env_contract:
  api:
    sources:
      staging: {dotenv: staging.env}
      production: {dotenv: production.env}
    forbidden: [changeme]
    variables:
      DATABASE_URL: {type: postgres_dsn, required_in: all}
      PUBLIC_URL: {type: url, schemes: [https], required_in: all, same_in: [staging, production]}
      WORKERS: {type: int, min: 1, max: 64, required_in: [production]}
      TIMEOUT: {type: duration}
      DEBUG: {type: bool}
      LOG_LEVEL: {type: enum, values: [debug, info, warn], required_in: all}
      REGION: {type: regex, pattern: "[a-z]{2}-[a-z]+-[0-9]"}
      JWT_SECRET:
        type: secret
        min_length: 32
        min_entropy: 128
        required_in: all
        differs_between: [[staging, production]]
      ADMIN_PASSWORD: {type: string, forbidden: [hunter2]}
"""


def app(tmp_path: Path, text: str = CONTRACT) -> AppContract:
    return load(text, tmp_path).model.env_contract["api"]


def no_secret_in(*texts: str) -> None:
    for t in texts:
        for s in SECRETS:
            assert s not in t


def test_each_rule_type_reports_a_violation_naming_the_variable_never_the_value(tmp_path: Path) -> None:
    good = {"DATABASE_URL": "postgresql://app:pw@db:5432/app", "PUBLIC_URL": "https://x.example",
            "WORKERS": "8", "TIMEOUT": "15s", "DEBUG": "false", "LOG_LEVEL": "info", "REGION": "eu-west-1",
            "JWT_SECRET": PROD_JWT}
    bad = {"DATABASE_URL": BAD_DSN, "PUBLIC_URL": "http://x.example", "WORKERS": "500", "TIMEOUT": "soon",
           "DEBUG": "maybe", "LOG_LEVEL": "loud", "REGION": "mars", "JWT_SECRET": "short" + "a" * 30,
           "ADMIN_PASSWORD": "hunter2"}
    report = judge("api", app(tmp_path), {"production": good, "staging": bad})
    assert [v for v in report.violations if v.env == "production"] == []
    got = {(v.variable, v.kind) for v in report.violations if v.env == "staging"}
    # a type applies wherever the variable is set, required there or not (WORKERS: production only)
    assert got == {("DATABASE_URL", "invalid"), ("PUBLIC_URL", "invalid"), ("TIMEOUT", "invalid"),
                   ("WORKERS", "invalid"),
                   ("DEBUG", "invalid"), ("LOG_LEVEL", "invalid"), ("REGION", "invalid"),
                   ("JWT_SECRET", "invalid"), ("ADMIN_PASSWORD", "forbidden")}
    no_secret_in(json.dumps(report.to_dict()))


def test_a_required_variable_missing_or_empty_is_a_violation_and_an_optional_one_is_absent(tmp_path: Path) -> None:
    report = judge("api", app(tmp_path), {"production": {"LOG_LEVEL": "", "DATABASE_URL": "host=db dbname=app"}})
    kinds = {v.variable: v.kind for v in report.violations}
    assert kinds["LOG_LEVEL"] == "missing" and kinds["WORKERS"] == "missing" and kinds["JWT_SECRET"] == "missing"
    assert "DATABASE_URL" not in kinds  # the libpq key=value form is a DSN too
    assert report.cells[("TIMEOUT", "production")].state == "absent"


def test_an_app_wide_forbidden_value_is_caught_in_any_variable(tmp_path: Path) -> None:
    report = judge("api", app(tmp_path), {"staging": {"LOG_LEVEL": "changeme"}})
    assert ("LOG_LEVEL", "forbidden") in {(v.variable, v.kind) for v in report.violations}


def test_equal_secrets_across_environments_are_found_by_fingerprint(tmp_path: Path) -> None:
    base = {"DATABASE_URL": "postgresql://a@db/app", "PUBLIC_URL": "https://x.example", "LOG_LEVEL": "info",
            "WORKERS": "2"}
    report = judge("api", app(tmp_path), {"staging": {**base, "JWT_SECRET": SHARED_JWT},
                                          "production": {**base, "JWT_SECRET": SHARED_JWT}})
    (eq,) = [v for v in report.violations if v.kind == "equal"]
    assert eq.variable == "JWT_SECRET" and "staging and production" in eq.message
    assert report.cells[("JWT_SECRET", "production")].label() == "equal-to-staging"
    different = judge("api", app(tmp_path), {"staging": {**base, "JWT_SECRET": SHARED_JWT},
                                             "production": {**base, "JWT_SECRET": PROD_JWT,
                                                            "PUBLIC_URL": "https://y.example"}})
    assert {(v.variable, v.kind) for v in different.violations} == {("PUBLIC_URL", "different")}
    no_secret_in(repr(report), repr(different), json.dumps(report.to_dict()))


def test_fingerprints_depend_on_the_per_run_key() -> None:
    a, b = Fingerprints(), Fingerprints()
    assert a.of(PROD_JWT) == a.of(PROD_JWT) != b.of(PROD_JWT)
    assert entropy_bits("aaaa") == 0 and entropy_bits(PROD_JWT) > 128


def test_a_dotenv_source_reads_values_without_interpolating_the_process_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTSIDE", "leaked")
    (tmp_path / "x.env").write_text(f"# comment\nexport JWT_SECRET='{PROD_JWT}'\nREF=${{OUTSIDE}}\nEMPTY=\n")
    v = from_dotenv("x.env", tmp_path)
    assert v.data == {"JWT_SECRET": PROD_JWT, "REF": "${OUTSIDE}", "EMPTY": ""}


@pytest.mark.parametrize("text", [
    "A=1\nB=two\n# c\n\n  C=x.y/z:9@h,k+v=w-\nA=again\n",  # plain: the fast path
    "A=1\nB='two # not a comment'\nC=\"x\\ny\"\nexport D=4 # c\nE=${A}\nF\nG=  spaced  \n",  # python-dotenv
])
def test_dotenv_parsing_agrees_with_python_dotenv(text: str) -> None:
    from dotenv import dotenv_values

    expected = {k: v for k, v in dotenv_values(stream=io.StringIO(text), interpolate=False).items() if k}
    assert parse_output(text, "x") == expected


def test_a_command_source_parses_a_real_child_process_json_in_each_platform_shape(tmp_path: Path) -> None:
    def child(doc: object) -> dict[str, str | None]:
        script = tmp_path / "print.py"
        script.write_text(f"import json; print(json.dumps({doc!r}))")
        return from_command(f"{sys.executable} {script}", 10).data

    assert child({"JWT_SECRET": PROD_JWT, "WORKERS": 4, "DEBUG": False}) == {
        "JWT_SECRET": PROD_JWT, "WORKERS": "4", "DEBUG": "false"}  # railway variables --json
    assert child([{"name": "A", "value": "1"}]) == {"A": "1"}
    assert child([{"Name": "JWT_SECRET", "Digest": "abc", "CreatedAt": "x"}]) == {"JWT_SECRET": None}  # fly
    secret = {"apiVersion": "v1", "kind": "Secret",
              "data": {"JWT_SECRET": base64.b64encode(PROD_JWT.encode()).decode()}}
    assert child(secret) == {"JWT_SECRET": PROD_JWT}  # kubectl get secret -o json
    assert parse_output("A=1\nB='two'\n", "x") == {"A": "1", "B": "two"}


def test_a_hanging_command_source_times_out_and_the_cli_exits_3(tmp_path: Path) -> None:
    with pytest.raises(SourceUnreadable, match="timed out"):
        from_command("sleep 30", 0.5)
    (tmp_path / "opsbook.yaml").write_text(CONTRACT)
    r = opsbook("env", "check", "-c", str(tmp_path / "opsbook.yaml"), "--env", "production",
                "--from-command", "sleep 30", "--timeout", "1s")
    assert r.code == 3 and "timed out after 1s" in r.stderr


def test_a_command_or_dotenv_larger_than_the_cap_is_refused_unread(tmp_path: Path) -> None:
    with pytest.raises(SourceUnreadable, match="wrote more than"):
        from_command("head -c 5000000 /dev/zero | tr '\\0' a", 20)
    (tmp_path / "big.env").write_bytes(b"A=" + b"x" * 5_000_000)
    with pytest.raises(SourceUnreadable, match="more than the"):
        from_dotenv(tmp_path / "big.env")


def test_a_failing_command_source_never_shows_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(PROD_JWT)
    with pytest.raises(SourceUnreadable) as e:
        from_command("cat secret.txt >&2; exit 4", 10, tmp_path)
    assert "exited 4" in str(e.value)
    no_secret_in(str(e.value), e.value.hint)


def _project(tmp_path: Path, staging_jwt: str, prod_jwt: str) -> Path:
    common = "DATABASE_URL=postgresql://a@db/app\nPUBLIC_URL=https://x.example\nLOG_LEVEL=info\n"
    (tmp_path / "staging.env").write_text(common + f"JWT_SECRET={staging_jwt}\n")
    (tmp_path / "production.env").write_text(common + f"JWT_SECRET={prod_jwt}\nWORKERS=4\n")
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(CONTRACT)
    return cfg


def test_env_diff_shows_same_for_an_equal_secret_and_exits_1_without_printing_it(tmp_path: Path) -> None:
    cfg = _project(tmp_path, SHARED_JWT, SHARED_JWT)
    r = opsbook("env", "diff", "-c", str(cfg), "staging", "production", "--json")
    assert r.code == 1, r.text
    doc = r.json
    assert doc["variables"]["JWT_SECRET"] == "same" and doc["variables"]["WORKERS"] == "missing-in-staging"
    assert doc["variables"]["LOG_LEVEL"] == "same"
    assert [(v["variable"], v["kind"]) for v in doc["violations"]] == [("JWT_SECRET", "equal")]
    human = opsbook("env", "diff", "-c", str(cfg), "staging", "production")
    assert human.code == 1 and "JWT_SECRET is equal in staging and production" in human.text
    no_secret_in(r.text, human.text)


def test_env_matrix_json_lists_every_variable_by_environment(tmp_path: Path) -> None:
    cfg = _project(tmp_path, SHARED_JWT, PROD_JWT)
    r = opsbook("env", "matrix", "-c", str(cfg), "--json")
    assert r.code == 0, r.text
    m = r.json
    assert m["environments"] == ["staging", "production"]
    assert m["variables"]["JWT_SECRET"] == {"staging": "present", "production": "present"}
    assert m["variables"]["PUBLIC_URL"] == {"staging": "equal-to-production", "production": "equal-to-staging"}
    assert m["variables"]["WORKERS"] == {"staging": "absent", "production": "present"}
    assert m["violations"] == [] and m["ok"] is True
    no_secret_in(r.text)


def test_env_check_from_the_process_environment_exits_0_then_1_on_a_weak_secret(tmp_path: Path) -> None:
    cfg = _project(tmp_path, SHARED_JWT, PROD_JWT)
    base = {"DATABASE_URL": "postgresql://a@db/app", "PUBLIC_URL": "https://x.example", "LOG_LEVEL": "info",
            "WORKERS": "3"}
    ok = opsbook("env", "check", "-c", str(cfg), "--env", "production", "--from-env",
                 env={**base, "JWT_SECRET": PROD_JWT})
    assert ok.code == 0, ok.text
    weak = opsbook("env", "check", "-c", str(cfg), "--env", "production", "--from-env", "--json",
                   env={**base, "JWT_SECRET": "a" * 40})
    assert weak.code == 1
    assert [(v["variable"], v["kind"]) for v in weak.json["violations"]] == [("JWT_SECRET", "invalid")]
    assert "bits of entropy" in weak.json["violations"][0]["message"] and "a" * 40 not in weak.text
    compared = opsbook("env", "check", "-c", str(cfg), "--env", "production", "--compare", "--json")
    assert compared.code == 0 and compared.json["compared"] == ["production", "staging"]
    no_secret_in(ok.text, weak.text, compared.text)


def test_a_malformed_contract_exits_2_naming_the_path(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text("env_contract:\n  api:\n    variables:\n"
                   "      PORT: {type: integr}\n      MODE: {type: enum}\n      X: {type: regex, pattern: '('}\n")
    r = opsbook("env", "matrix", "-c", str(cfg))
    assert r.code == 2
    assert "env_contract.api.variables.PORT.type" in r.stderr and "opsbook.yaml:4:" in r.stderr
    assert "env_contract.api.variables.MODE" in r.stderr and "type enum needs values" in r.stderr
    assert "env_contract.api.variables.X" in r.stderr and "not a regular expression" in r.stderr


def test_a_misspelt_environment_in_a_contract_exits_2_with_the_closest_name(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text("environments: {staging: {}, production: {}}\ndefault_env: staging\n"
                   "env_contract:\n  api:\n    variables:\n"
                   "      JWT_SECRET: {type: secret, differs_between: [[staging, prodution]]}\n")
    r = opsbook("env", "matrix", "-c", str(cfg))
    assert r.code == 2
    assert "env_contract.api.variables.JWT_SECRET.differs_between[0][1]" in r.stderr
    assert "did you mean 'production'?" in r.stderr


def test_an_unknown_environment_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    cfg = _project(tmp_path, SHARED_JWT, PROD_JWT)
    r = opsbook("env", "check", "-c", str(cfg), "--env", "prodution")
    assert r.code == 2 and "did you mean 'production'?" in r.stderr


def test_the_env_check_kind_observes_names_and_counts_only(tmp_path: Path) -> None:
    _project(tmp_path, SHARED_JWT, SHARED_JWT)
    (tmp_path / "production.env").write_text(f"JWT_SECRET={SHARED_JWT}\nLOG_LEVEL=loud\n")
    cfg = load(CONTRACT + """
checks:
  prod-env: {env: {environment: production, compare: true}}
  staging-env: {env: {environment: staging, app: api}}
""", tmp_path)
    res = run(cfg, "prod-env", "staging-env")
    prod = res["prod-env"]
    assert prod.status == "fail"
    obs = prod.observations
    assert obs["missing"] == ["DATABASE_URL", "PUBLIC_URL", "WORKERS"] and obs["invalid"] == ["LOG_LEVEL"]
    assert obs["equal"] == ["JWT_SECRET"] and obs["violations"] == 5
    assert res["staging-env"].status == "pass"
    no_secret_in(json.dumps(prod.to_dict()), json.dumps(res["staging-env"].to_dict()))


def test_an_env_check_naming_an_unknown_app_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as e:
        load(CONTRACT + "checks:\n  x: {env: {environment: production, app: apii}}\n", tmp_path)
    assert "checks.x.env.app" in str(e.value) and "did you mean 'api'?" in str(e.value)
