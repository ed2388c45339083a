"""Incidents on the dashboard: the overview block, /incidents, /incidents/{id} with its timeline,
and the operator forms (ack, note, mitigate, resolve), CSRF-checked and audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from starlette.testclient import TestClient

from opsbook.config.incidents import Incidents
from opsbook.ops import incident
from opsbook.store import Store
from opsbook.web import audit
from opsbook.web.app import create_app
from tests.support.webutil import NOW, TOKENS, context, make_config, seeded_store, set_tokens

__all__ = ["seeded_store"]  # the `store` fixture

CFG = Incidents()


@pytest.fixture
def client(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    set_tokens(monkeypatch)
    with TestClient(create_app(context(make_config(tmp_path), store)), headers={"accept": "text/html"}) as c:
        yield c


def login(c: TestClient, who: str) -> None:
    page = c.get("/login")
    r = c.post("/login", data={"token": TOKENS[who], "csrf": form_csrf(page.text), "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303, r.text


def form_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def declare(store: Store, title: str = "Checkout returns 502", severity: str = "SEV2") -> int:
    return incident.declare(store, CFG, title, severity, "ana", NOW - timedelta(minutes=3),
                            detected_at=NOW - timedelta(minutes=4)).id


def test_the_overview_lists_open_incidents_at_the_top_and_nothing_when_none_are_open(
        client: TestClient, store: Store) -> None:
    login(client, "developer")
    assert "Open incidents" not in client.get("/").text
    iid = declare(store)
    html = client.get("/").text  # the checks body is cached; the incidents block is not
    block = html[html.index("Open incidents"):html.index('id="checks"')]
    assert f'href="/incidents/{iid}"' in block and "SEV2" in block and "triage" in block
    assert "Checkout returns 502" in block and "4m" in block


def test_a_viewer_sees_the_list_open_first_and_the_page_with_its_timeline(client: TestClient, store: Store) -> None:
    done = declare(store, "old disk full", "SEV4")
    incident.move(store, done, "resolved", "bob", NOW - timedelta(minutes=2))
    iid = declare(store)
    incident.note(store, iid, "rolled back to v41", "bob", NOW - timedelta(minutes=1))
    login(client, "developer")
    html = client.get("/incidents").text
    assert html.index(f'data-incident="{iid}"') < html.index("Recent") < html.index(f'data-incident="{done}"')
    page = client.get(f"/incidents/{iid}").text
    assert "Checkout returns 502" in page and "Timeline" in page
    assert 'data-kind="incident.declared"' in page and 'data-kind="incident.note"' in page
    assert "bob: rolled back to v41" in page and "incident_events:" in page
    assert "Acknowledge" not in page and "Add note" not in page  # no operator forms for a viewer
    assert client.get("/incidents/999").status_code == 404


def test_a_viewer_cannot_post_the_forms(client: TestClient, store: Store) -> None:
    iid = declare(store)
    login(client, "developer")
    csrf = form_csrf(client.get(f"/incidents/{iid}").text)  # the logout form's token
    r = client.post(f"/incidents/{iid}/ack", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403
    assert incident.show(store, iid).status == "triage"
    assert any(e["action"] == "incident.ack" and e["outcome"] == "denied" for e in audit.recent(store, 20))


def test_an_operator_acks_notes_and_resolves_through_the_forms_with_the_csrf_token(
        client: TestClient, store: Store) -> None:
    iid = declare(store)
    login(client, "on-call")
    page = client.get(f"/incidents/{iid}").text
    assert "Acknowledge" in page and "Resolve" in page
    assert client.post(f"/incidents/{iid}/ack", data={"expected": "triage"}, follow_redirects=False).status_code == 403
    csrf = form_csrf(page)
    r = client.post(f"/incidents/{iid}/ack", data={"csrf": csrf, "expected": "triage"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{iid}?done=incident.ack"
    r = client.post(f"/incidents/{iid}/note", data={"csrf": csrf, "text": "<b>cache</b> flushed"})
    assert "&lt;b&gt;cache&lt;/b&gt; flushed" in r.text and "<b>cache</b>" not in r.text
    r = client.post(f"/incidents/{iid}/resolve", data={"csrf": csrf, "expected": "investigating"})
    assert r.status_code == 200 and "Done: incident.resolve" in r.text
    inc = incident.show(store, iid)
    assert inc.status == "resolved" and inc.row.acknowledged_at == NOW
    assert [e.kind for e in inc.events] == ["declared", "ack", "note", "status"]
    assert {e.actor for e in inc.events[1:]} == {"on-call"}
    actions = {(e["action"], e["outcome"]) for e in audit.recent(store, 50)}
    assert {("incident.ack", "ok"), ("incident.note", "ok"), ("incident.resolve", "ok")} <= actions
    assert "Open incidents" not in client.get("/").text


def test_an_invalid_move_or_a_conflict_shows_a_message_not_an_error_page(client: TestClient, store: Store) -> None:
    iid = declare(store)
    incident.move(store, iid, "resolved", "bob", NOW)
    login(client, "on-call")
    page = client.get(f"/incidents/{iid}").text
    assert "Mark mitigated" not in page  # the page offers only the moves the lifecycle allows
    csrf = form_csrf(page)
    r = client.post(f"/incidents/{iid}/mitigate", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "is resolved; it cannot be moved to mitigated" in unquote_plus(r.headers["location"])
    r = client.post(f"/incidents/{iid}/mitigate", data={"csrf": csrf})
    assert r.status_code == 200 and 'class="flash error"' in r.text and "it cannot be moved to mitigated" in r.text
    other = declare(store)
    r = client.post(f"/incidents/{other}/ack", data={"csrf": csrf, "expected": "investigating"})
    assert r.status_code == 200 and "changed under you" in r.text
    assert incident.show(store, other).status == "triage"
