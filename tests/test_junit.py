import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from opsbook.config.assertions import Outcome
from opsbook.render.junit import checks_to_junit, smoke_to_junit
from opsbook.results import CheckResult
from opsbook.smoke import SmokeResult, StepResult

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def check(name: str, status: str, **kw: object) -> CheckResult:
    return CheckResult(name=name, kind="http", status=status, summary=kw.pop("summary", ""),  # type: ignore[arg-type]
                       started_at=T0, finished_at=T0, duration_ms=kw.pop("ms", 250.0),  # type: ignore[arg-type]
                       **kw)  # type: ignore[arg-type]


def test_checks_render_pass_fail_error_blocked_with_counts_and_seconds() -> None:
    results = [
        check("api-live", "pass"),
        check("api-ready", "fail", summary="expected status == 200, got 503",
              assertions=[Outcome("status == 200", False, 503, "== 200", "fail",
                                  "expected status == 200, got 503"),
                          Outcome("json.status == 'ready'", False, "not_ready", "== 'ready'")]),
        check("db", "error", summary="cannot connect",
              error={"message": "127.0.0.1:5432: connection refused", "hint": "is it running?"}),
        check("me", "blocked", summary="blocked: api-ready is failing", ms=0.0),
    ]
    root = ET.fromstring(checks_to_junit(results, "opsbook.check"))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "opsbook.check"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "1")
    assert suite.get("time") == "0.750"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["api-live"].get("time") == "0.250" and len(cases["api-live"]) == 0
    failure = cases["api-ready"].find("failure")
    assert failure is not None
    assert failure.get("message") == "expected status == 200, got 503"
    assert "status == 200: actual 503, expected == 200" in (failure.text or "")
    assert "json.status == 'ready': actual not_ready" in (failure.text or "")
    error = cases["db"].find("error")
    assert error is not None and "connection refused" in (error.text or "")
    assert "hint: is it running?" in (error.text or "")
    assert cases["me"].find("skipped") is not None


def test_smoke_renders_steps_and_finally_and_skipped() -> None:
    result = SmokeResult("login", "http://x", "fail", T0, 1500.0, [
        StepResult("health", "GET", "http://x/health", "pass", attempts=1, duration_ms=100),
        StepResult("login", "POST", "http://x/api/auth/login", "fail", attempts=1,
                   duration_ms=200,
                   assertions=[Outcome("status in [400, 401]", False, 500, "in [400, 401]")]),
        StepResult("me", "GET", "http://x/api/me", "skipped"),
        StepResult("cleanup", "POST", "http://x/logout", "error", phase="finally",
                   error={"message": "cannot connect", "hint": ""}),
    ])
    xml = smoke_to_junit(result)
    assert xml.startswith("<?xml")
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None and suite.get("name") == "smoke.login"
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names == ["health", "login", "me", "finally: cleanup"]
    cases = list(suite.iter("testcase"))
    assert cases[1].find("failure") is not None
    assert "status in [400, 401]: actual 500" in (cases[1].findtext("failure") or "")
    assert cases[2].find("skipped") is not None
    assert cases[3].find("error") is not None
    assert suite.get("failures") == "1" and suite.get("errors") == "1"


def test_control_characters_in_bodies_do_not_break_the_xml() -> None:
    r = check("x", "fail", summary="bad\x00body\x1b",
              assertions=[Outcome("body contains 'ok'", False, "\x07bell", "contains 'ok'")])
    root = ET.fromstring(checks_to_junit([r], "s"))
    assert root.find("testsuite/testcase/failure") is not None
