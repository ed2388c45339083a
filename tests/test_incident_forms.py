"""The incident page's forms over real HTTP (the app under uvicorn on 127.0.0.1, both store
dialects): close, cancel, assign a role, post a public update. Viewers cannot post, operators can
with the CSRF token, a form shown before another operator moved the incident shows a conflict,
every attempt is audited; the API's assign route answers 409 for the same race. The page shows
the newest timeline entries of a long incident with a link to more."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsbook.config.load import Config
from opsbook.ops import incident
from opsbook.store import Store
from opsbook.web import audit
from opsbook.web.app import create_app
from tests.support.helpers import serve_app
from tests.support.webutil import NOW, TOKENS, bearer, context, make_config, set_tokens

PEOPLE = """
people:
  carol: {name: Carol}
  dan: {}
"""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    set_tokens(monkeypatch)
    return make_config(tmp_path, extra=PEOPLE)


@pytest.fixture
def base(cfg: Config, any_store: Store) -> Iterator[str]:
    with serve_app(create_app(context(cfg, any_store))) as url:
        yield url


@contextlib.contextmanager
def client(base: str, who: str) -> Iterator[httpx.Client]:
    """A browser-like client logged in as ``who`` through /login (session cookie, CSRF token)."""
    with httpx.Client(base_url=base, timeout=30, headers={"accept": "text/html"}) as c:
        page = c.get("/login")
        r = c.post("/login", data={"token": TOKENS[who], "csrf": csrf_of(page.text), "next": "/"})
        assert r.status_code == 303, r.text
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def declare(store: Store, cfg: Config, severity: str = "SEV3") -> int:
    # SEV3 by default: closing it needs no post-mortem (SEV1/SEV2 do, tested below)
    return incident.declare(store, cfg.model.incidents, "Checkout returns 502", severity, "ana",
                            NOW - timedelta(minutes=3), detected_at=NOW - timedelta(minutes=4)).id


def outcomes(store: Store, action: str) -> list[str]:
    return [e["outcome"] for e in audit.recent(store, 100) if e["action"] == action]


def post(c: httpx.Client, path: str, data: dict[str, Any]) -> httpx.Response:
    return c.post(path, data=data, follow_redirects=True)


def test_a_viewer_cannot_post_any_of_the_forms_and_each_refusal_is_audited(
        base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with client(base, "developer") as c:
        page = c.get(f"/incidents/{iid}").text
        assert "Assign" not in page and "Post public update" not in page and "Cancel incident" not in page
        csrf = csrf_of(page)  # the logout form's token: a valid token, the wrong role
        for verb, data in (("assign", {"role": "commander", "person": "carol"}), ("cancel", {"reason": "x"}),
                           ("update", {"message": "we look", "status": "investigating"}), ("close", {})):
            r = c.post(f"/incidents/{iid}/{verb}", data={"csrf": csrf, **data})
            assert r.status_code == 403, verb
            assert outcomes(any_store, f"incident.{verb}") == ["denied"], verb
    inc = incident.show(any_store, iid)
    assert inc.status == "triage" and inc.row.roles == {} and [e.kind for e in inc.events] == ["declared"]


def test_an_operator_without_the_csrf_token_changes_nothing(base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with client(base, "on-call") as c:
        for verb in ("assign", "cancel", "update"):
            r = c.post(f"/incidents/{iid}/{verb}", data={"role": "commander", "person": "carol", "message": "m",
                                                        "status": "investigating"})
            assert r.status_code == 403, verb
    assert [e.kind for e in incident.show(any_store, iid).events] == ["declared"]


def test_an_operator_assigns_a_role_posts_a_public_update_and_closes_from_the_page(
        base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with client(base, "on-call") as c:
        page = c.get(f"/incidents/{iid}").text
        assert '<option value="communications">' in page and '<option value="carol">' in page  # roles, people
        assert 'name="component.Storefront"' in page  # the status page's components
        csrf = csrf_of(page)
        r = post(c, f"/incidents/{iid}/assign", {"csrf": csrf, "expected": "triage", "role": "commander",
                                                 "person": "carol"})
        assert r.url.params["done"] == "incident.assign" and "commander=carol" in r.text
        r = post(c, f"/incidents/{iid}/update", {"csrf": csrf, "message": "Checkout is failing for some",
                                                 "status": "identified", "component.Storefront": "outage",
                                                 "component.Database": ""})
        assert r.url.params["done"] == "incident.update"
        assert "Checkout is failing for some" in c.get("/status").text
        post(c, f"/incidents/{iid}/resolve", {"csrf": csrf, "expected": "triage"})
        page = c.get(f"/incidents/{iid}").text
        assert ">Close</button>" in page and "Assign</button>" not in page  # roles are for open incidents
        r = post(c, f"/incidents/{iid}/close", {"csrf": csrf, "expected": "resolved"})
        assert r.url.params["done"] == "incident.close" and 'data-status="closed"' in r.text
    inc = incident.show(any_store, iid)
    assert inc.status == "closed" and inc.row.commander == "carol"
    assert [e.kind for e in inc.events] == ["declared", "assign", "update", "status", "status"]
    assert inc.events[2].detail["components"] == {"Storefront": "outage"}
    assert {e.actor for e in inc.events[1:]} == {"on-call"}
    for verb in ("assign", "update", "resolve", "close"):
        assert outcomes(any_store, f"incident.{verb}") == ["ok"], verb
    assert any(e["detail"] == {"role": "commander", "person": "carol", "expected": "triage"}
               for e in audit.recent(any_store, 50) if e["action"] == "incident.assign")


def test_an_operator_cancels_a_false_alarm_with_its_reason(base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with client(base, "on-call") as c:
        csrf = csrf_of(c.get(f"/incidents/{iid}").text)
        r = post(c, f"/incidents/{iid}/cancel", {"csrf": csrf, "expected": "triage", "reason": "probe misfired"})
        assert r.url.params["done"] == "incident.cancel" and "triage -&gt; cancelled: probe misfired" in r.text
    assert incident.show(any_store, iid).status == "cancelled"


def test_a_form_shown_before_another_operator_moved_the_incident_shows_a_conflict(
        base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with client(base, "on-call") as c:
        csrf = csrf_of(c.get(f"/incidents/{iid}").text)  # the page shows triage
        incident.move(any_store, iid, "resolved", "bob", NOW)  # meanwhile, another operator
        for verb in ("cancel", "assign"):
            r = post(c, f"/incidents/{iid}/{verb}", {"csrf": csrf, "expected": "triage", "role": "scribe",
                                                     "person": "dan"})
            assert 'class="flash error"' in r.text, verb
            assert "changed under you: it was triage, bob made it resolved" in r.text, verb
            assert outcomes(any_store, f"incident.{verb}") == ["error 409"], verb
    inc = incident.show(any_store, iid)
    assert inc.status == "resolved" and inc.row.roles == {}


def test_an_unknown_person_or_role_is_a_message_naming_the_choices(base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with client(base, "on-call") as c:
        csrf = csrf_of(c.get(f"/incidents/{iid}").text)
        r = post(c, f"/incidents/{iid}/assign", {"csrf": csrf, "role": "commander", "person": "carl"})
        assert 'class="flash error"' in r.text and "carl" in r.text and "carol" in r.text
        r = post(c, f"/incidents/{iid}/update", {"csrf": csrf, "message": "m", "status": "fixed"})
        assert "no public status" in r.text
    assert incident.show(any_store, iid).row.roles == {}


def test_the_api_assigns_a_role_and_answers_409_when_the_incident_moved_first(
        base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    with httpx.Client(base_url=base, headers=bearer("on-call"), timeout=30) as c:
        r = c.post(f"/api/v1/incidents/{iid}/assign", json={"role": "scribe", "person": "dan", "expected": "triage"})
        assert r.status_code == 200 and r.json()["incident"]["roles"] == {"scribe": "dan"}
        incident.move(any_store, iid, "investigating", "bob", NOW)
        r = c.post(f"/api/v1/incidents/{iid}/assign", json={"role": "commander", "person": "carol",
                                                              "expected": "triage"})
        assert r.status_code == 409 and r.json()["error"]["type"] == "IncidentConflict"
        r = c.post(f"/api/v1/incidents/{iid}/close", json={"expected": "investigating"})
        assert r.status_code == 400  # not resolved yet: the lifecycle refuses
        doc = c.get("/api/v1/openapi.json").json()
        op = doc["paths"]["/api/v1/incidents/{id}/assign"]["post"]
        assert "409" in op["responses"] and op["requestBody"]["content"]["application/json"]
        assert "409" in doc["paths"]["/api/v1/incidents/{id}/close"]["post"]["responses"]
    with httpx.Client(base_url=base, headers=bearer("developer"), timeout=30) as c:
        assert c.post(f"/api/v1/incidents/{iid}/assign", json={"role": "scribe", "person": "carol"}).status_code == 403
    assert incident.show(any_store, iid).row.roles == {"scribe": "dan"}


def test_closing_from_the_api_or_the_page_needs_the_required_post_mortem_like_the_cli(
        base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg, "SEV2")
    incident.move(any_store, iid, "resolved", "bob", NOW)
    with httpx.Client(base_url=base, headers=bearer("on-call"), timeout=30) as c:
        r = c.post(f"/api/v1/incidents/{iid}/close", json={"expected": "resolved"})
        assert r.status_code == 409 and r.json()["error"]["type"] == "PostmortemMissing"
        assert f"opsbook incident postmortem {iid}" in r.json()["error"]["hint"]
    assert incident.show(any_store, iid).status == "resolved"


def test_a_long_incident_page_shows_its_newest_entries_and_links_to_more(
        base: str, any_store: Store, cfg: Config) -> None:
    iid = declare(any_store, cfg)
    for k in range(230):
        incident.note(any_store, iid, f"tried fix {k}", "bob", NOW - timedelta(minutes=2) + timedelta(seconds=k / 2))
    with client(base, "developer") as c:
        page = c.get(f"/incidents/{iid}").text
        assert page.count("<tr data-kind=") == 200 and "tried fix 229" in page and "tried fix 29<" not in page
        assert f'href="/incidents/{iid}?limit=1000" class="timeline-more">31 more</a>' in page
        assert "181 earlier events are not listed here" in page  # 231 events, the newest 50 listed
        more = c.get(f"/incidents/{iid}?limit=1000").text
        assert more.count("<tr data-kind=") == 231 and "tried fix 0<" in more


ESCALATION = PEOPLE + """
  lead: {name: Lee}
escalation:
  standard:
    levels:
      - {notify: {people: [carol]}}
      - {wait: 30m, notify: {people: [lead]}}
incidents:
  escalation: {default: standard}
"""


def test_escalate_now_fires_the_next_level_from_the_page_until_none_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, any_store: Store) -> None:
    from opsbook.ops import escalation

    set_tokens(monkeypatch)
    cfg = make_config(tmp_path, extra=ESCALATION)
    iid = incident.declare(any_store, cfg.model.incidents, "Checkout returns 502", "SEV2", "ana", NOW,
                           model=cfg.model).id
    with serve_app(create_app(context(cfg, any_store))) as url, client(url, "on-call") as c:
        page = c.get(f"/incidents/{iid}").text
        assert "Escalate now" in page
        for level in (1, 2):  # level 2 waits 30 minutes; by hand it goes at once
            r = post(c, f"/incidents/{iid}/escalate", {"csrf": csrf_of(page)})
            assert r.status_code == 200 and "done=incident.escalate" in str(r.url), r.text
            assert escalation.state(cfg, any_store, iid).to_dict()["level_reached"] == level
            page = r.text
        r = post(c, f"/incidents/{iid}/escalate", {"csrf": csrf_of(page)})  # the ladder has run out
        assert "does not escalate any more" in r.text and "Escalate now" not in r.text
    assert outcomes(any_store, "incident.escalate") == ["error 400", "ok", "ok"]  # newest first
    kinds = [e.kind for e in incident.show(any_store, iid).events]
    assert kinds.count("escalated") == 2
