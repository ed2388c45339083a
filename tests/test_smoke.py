import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsbook.config.load import Config
from opsbook.errors import UsageError
from opsbook.smoke import SmokeResult, StepResult, run_smoke
from tests.support.demo_service import Service, demo_service
from tests.support.helpers import free_port, load

LOGIN = """
    vars: {base_url: "http://unused.invalid"}
    resources:
      api: {kind: http, url: "${base_url}", headers: {X-Client: opsbook-tests}}
    smoke:
      login:
        resource: api
        steps:
          - {name: health, get: /health, expect: ["status == 200", "json.status == 'ok'"]}
          - name: bad password
            post: /api/auth/login
            json: {email: test@example.com, password: wrong}
            expect: ["status in [400, 401]"]
          - name: good password
            post: /api/auth/login
            json: {email: test@example.com, password: correct horse}
            expect: ["status == 200"]
            save: {token: json.access_token}
          - name: me
            get: /api/me
            headers: {Authorization: "Bearer ${token}"}
            expect: ["status == 200", "json.email == 'test@example.com'"]
        finally:
          - {name: metrics, get: /metrics, expect: ["body contains 'http_requests_total'"]}
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with demo_service(tmp_path_factory.mktemp("smoke")) as s:
        yield s


def smoke(cfg: Config, name: str, base_url: str | None = None, **kw: object) -> SmokeResult:
    return asyncio.run(run_smoke(cfg, name, base_url, **kw))  # type: ignore[arg-type]


def test_login_suite_passes_against_the_demo_service(svc: Service, tmp_path: Path) -> None:
    seen: list[StepResult] = []
    r = smoke(load(LOGIN, tmp_path), "login", svc.url, on_step=seen.append)
    assert r.status == "pass", [s.to_dict() for s in r.steps]
    assert [s.name for s in seen] == ["health", "bad password", "good password", "me", "metrics"]
    assert seen[-1].phase == "finally"
    d = r.to_dict()
    assert d["schema"] == "opsbook.smoke/1" and d["ok"] is True and d["base_url"] == svc.url
    assert d["steps"][1]["assertions"][0]["actual"] == 401


def test_saved_token_is_reused_and_never_shown(svc: Service, tmp_path: Path) -> None:
    cfg = load("""
        smoke:
          s:
            steps:
              - post: /api/auth/login
                json: {email: test@example.com, password: correct horse}
                save: {token: json.access_token}
              - {get: /api/me, headers: {Authorization: "Bearer ${token}"},
                 expect: ["status == 200"]}
              - {get: "/api/me?t=${token}", expect: ["url contains 'never'"]}
    """, tmp_path)
    r = smoke(cfg, "s", svc.url)
    assert [s.status for s in r.steps] == ["pass", "pass", "fail"]  # the API accepted it
    echo = r.steps[2]
    assert echo.url == svc.url + "/api/me?t=***"
    assert echo.assertions[0].actual == svc.url + "/api/me?t=***"
    assert "t=***" in json.dumps(r.to_dict())


def test_failing_step_skips_the_rest(svc: Service, tmp_path: Path) -> None:
    cfg = load(LOGIN.replace("status in [400, 401]", "status == 200"), tmp_path)
    r = smoke(cfg, "login", svc.url)
    assert r.status == "fail"
    assert [s.status for s in r.steps] == ["pass", "fail", "skipped", "skipped", "pass"]
    failed = r.steps[1].assertions[0]
    assert failed.expr == "status == 200" and failed.actual == 401


def test_finally_steps_run_after_a_failing_step(svc: Service, tmp_path: Path) -> None:
    cfg = load("""
        smoke:
          s:
            steps:
              - {get: /nope, expect: ["status == 200"]}
              - {get: /health}
            finally:
              - {name: cleanup, post: /admin/fault, json: {mode: none}, expect: ["status == 200"]}
    """, tmp_path)
    r = smoke(cfg, "s", svc.url)
    assert [(s.name, s.status) for s in r.steps] == [
        ("GET /nope", "fail"), ("GET /health", "skipped"), ("cleanup", "pass")]
    assert r.status == "fail"


def test_unknown_variable_in_a_step_fails_naming_it(svc: Service, tmp_path: Path) -> None:
    cfg = load("""
        smoke:
          s:
            steps:
              - {get: "/api/me", headers: {Authorization: "Bearer ${sesion_token}"}}
    """, tmp_path)
    r = smoke(cfg, "s", svc.url)
    step = r.steps[0]
    assert r.status == "error" and step.status == "error"
    assert step.error is not None
    assert "${sesion_token} is not defined" in step.error["message"]
    assert "smoke.s.steps[0].headers.Authorization" in step.error["message"]
    assert step.attempts == 1


def test_connection_refused_is_a_step_error_not_a_traceback(tmp_path: Path) -> None:
    cfg = load("""
        smoke:
          s:
            steps:
              - {get: /health}
            finally:
              - {get: /health}
    """, tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    r = smoke(cfg, "s", url)
    assert r.status == "error"
    assert [s.status for s in r.steps] == ["error", "error"]
    assert r.steps[0].error is not None
    assert "cannot connect" in r.steps[0].error["message"]
    assert url in r.steps[0].error["message"]


def test_retry_polls_until_assertions_pass(svc: Service, tmp_path: Path) -> None:
    # readiness flips after the fault is cleared by the injected sleep: no real waiting
    import httpx

    httpx.post(svc.url + "/admin/fault", json={"mode": "down"})
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            async with httpx.AsyncClient() as c:
                await c.post(svc.url + "/admin/fault", json={"mode": "none"})

    cfg = load("""
        smoke:
          s:
            steps:
              - {get: /readyz, expect: ["status == 200"], retry: {times: 5, interval: 2s}}
    """, tmp_path)
    r = smoke(cfg, "s", svc.url, sleep=fake_sleep)
    assert r.ok
    assert r.steps[0].attempts == 3
    assert sleeps == [2.0, 2.0]


def test_retry_gives_up_after_times_attempts(svc: Service, tmp_path: Path) -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    cfg = load("""
        smoke:
          s:
            steps:
              - {get: /nope, expect: ["status == 200"], retry: {times: 3, interval: 1s}}
    """, tmp_path)
    r = smoke(cfg, "s", svc.url, sleep=no_sleep)
    assert r.steps[0].status == "fail" and r.steps[0].attempts == 3


def test_base_url_from_suite_and_form_and_vars(svc: Service, tmp_path: Path) -> None:
    cfg = load(f"""
        vars: {{port: "{svc.port}"}}
        smoke:
          s:
            base_url: "http://127.0.0.1:${{port}}"
            steps:
              - post: /api/auth/login
                form: {{email: x}}
                expect: ["status == 400", "json.error contains 'JSON'"]
              - {{get: "${{base_url}}/health", expect: ["header.content-type contains 'json'"]}}
    """, tmp_path)
    r = smoke(cfg, "s")
    assert r.ok, r.to_dict()
    assert r.base_url == svc.url


def test_unknown_suite_and_missing_base_url_are_usage_errors(tmp_path: Path) -> None:
    cfg = load("""
        smoke:
          s: {steps: [{get: /health}]}
    """, tmp_path)
    with pytest.raises(UsageError, match="no smoke suite named 'x'"):
        smoke(cfg, "x", "http://127.0.0.1:1")
    with pytest.raises(UsageError, match="no base URL"):
        smoke(cfg, "s")


def test_missing_save_path_is_a_step_error(svc: Service, tmp_path: Path) -> None:
    cfg = load("""
        smoke:
          s:
            steps:
              - {get: /health, save: {token: json.access_token}}
              - {get: /health}
    """, tmp_path)
    r = smoke(cfg, "s", svc.url)
    assert [s.status for s in r.steps] == ["error", "skipped"]
    assert r.steps[0].error is not None
    assert "json.access_token is not in the response" in r.steps[0].error["message"]


def test_demo_service_down_fault_is_seen(tmp_path: Path) -> None:
    fault = tmp_path / "fault"
    with demo_service(tmp_path, fault_file=fault) as s:
        fault.write_text("down")
        cfg = load("""
            smoke:
              s: {steps: [{get: /readyz, expect: ["json.checks.database == true"]}]}
        """, tmp_path)
        r = smoke(cfg, "s", s.url)
        assert r.status == "fail"
        assert r.steps[0].assertions[0].actual is False
