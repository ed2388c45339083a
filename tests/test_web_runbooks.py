"""Runbooks from the API and the dashboard over real HTTP (the app under uvicorn on 127.0.0.1,
both store dialects): viewers read and cannot act; an operator starts a run that walks in the
background and completes; a run waiting for an approval is approved by another operator on the
page and completes, the runner's own approval is refused; a held lock is a 409 naming the
holder; a running step's output is served live; the web process walks a bounded number of runs
and marks them interrupted when it stops; secret parameter values and a runbook's HTML never
reach a page or a response as such."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsbook.config.load import Config
from opsbook.ops import runbook as ops
from opsbook.runbooks.load import find
from opsbook.store import Store
from opsbook.web import audit
from opsbook.web.app import create_app
from opsbook.web.runbook_runner import pool_of
from tests.support.helpers import serve_app
from tests.support.webutil import bearer, context, make_config, set_tokens
from tests.test_incident_forms import client, csrf_of

SECRET = "zebra-s3cr3t-4821"  # a distinctive value: it must never come back
FINAL = ("succeeded", "failed", "interrupted", "aborted", "rolled_back", "rollback_failed")
BOOKS = {
    "hello": """---
title: Say hello
owner: web-team
schedule: "0 4 * * 1"
params:
  who: world
  token: {secret: true, description: an API token}
---
# Say hello

Greets **someone**, then uses the token.

```sh {name=greet mutates=false}
echo "hello $who"
```

```sh {name=use-token mutates=true}
echo "token is $token"
```
""",
    "gated": """---
title: Gated
---
```sh {name=before mutates=false}
echo before
```

```approval {name=go}
Go ahead?
```

```sh {name=after mutates=true}
echo after
```
""",
    "locked": """---
title: Locked
lock: shop-db
---
- [ ] confirm the status page says maintenance

```sh {name=work mutates=true}
echo worked
```
""",
    "xss": """---
title: Escapes
---
Prose with <script>alert('prose')</script> and [a link](javascript:alert(1)).

```sh {name=shout mutates=false}
echo "<script>alert('output')</script>"
```
""",
    "careful": """---
title: Careful
params:
  key: {secret: true, required: true}
---
```sh {name=drop mutates=true confirm=true}
echo "dropping with $key"
```

```approval {name=go}
Really?
```

```sh {name=after mutates=true}
echo "after with $key"
```
""",
    "slow": """---
title: Slow
---
```sh {name=wait-for-file mutates=false timeout=60s}
echo "waiting for the go file"
while [ ! -f "$go" ]; do sleep 0.05; done
echo released
```
""",
}


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    set_tokens(monkeypatch)
    books = tmp_path / "runbooks"
    books.mkdir()
    for name, text in BOOKS.items():
        (books / f"{name}.md").write_text(text.replace("$go", str(tmp_path / "go")))
    # one web run at a time (serve.runbook_runs): the pool test fills it with one slow run
    return make_config(tmp_path, extra="runbooks: {dir: runbooks, step_timeout: 20s}\nserve: {runbook_runs: 1}\n")


@pytest.fixture
def app(cfg: Config, any_store: Store) -> Any:
    return create_app(context(cfg, any_store))


@pytest.fixture
def base(app: Any) -> Iterator[str]:
    with serve_app(app) as url:
        yield url


@contextlib.contextmanager
def api(base: str, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30, headers=bearer(who)) as c:
        yield c


def start(c: httpx.Client, name: str, **body: Any) -> int:
    r = c.post(f"/api/v1/runbooks/{name}/run", json=body)
    assert r.status_code == 202, r.text
    return int(r.json()["run"])


def settle(c: httpx.Client, run_id: int, until: tuple[str, ...] = FINAL) -> dict[str, Any]:
    """The run's record once its status is one of ``until`` (polled with a deadline)."""
    deadline = time.monotonic() + 30
    while True:
        doc: dict[str, Any] = c.get(f"/api/v1/runbook-runs/{run_id}").json()
        if doc["status"] in until and not doc["walking"]:
            return doc
        assert time.monotonic() < deadline, f"run {run_id} is still {doc['status']}"
        time.sleep(0.05)


def steps(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["name"], s["status"]) for s in doc["steps"]]


def outcomes(store: Store, action: str) -> list[str]:
    return [e["outcome"] for e in audit.recent(store, 200) if e["action"] == action]


def test_a_viewer_reads_runbooks_but_cannot_run_or_approve_and_is_audited(
        base: str, cfg: Config, any_store: Store) -> None:
    waiting = ops.run(any_store, cfg, find(cfg, "gated"), {}, "ana")
    with api(base, "developer") as c:
        listed = c.get("/api/v1/runbooks").json()
        assert [b["name"] for b in listed["runbooks"]] == ["careful", "gated", "hello", "locked", "slow", "xss"]
        assert c.get("/api/v1/runbooks/gated").json()["items"][1]["kind"] == "approval"
        assert c.post("/api/v1/runbooks/hello/run", json={}).status_code == 403
        assert c.post(f"/api/v1/runbook-runs/{waiting.run.id}/approve", json={}).status_code == 403
    assert outcomes(any_store, "runbook.run") == ["denied"]
    assert outcomes(any_store, "runbook.approve") == ["denied"]
    with client(base, "developer") as page:
        assert "Dry-run</button>" not in page.get("/runbooks").text
        html = page.get(f"/runbook-runs/{waiting.run.id}").text
        assert "Approve go" not in html and 'data-status="waiting"' in html
        r = page.post(f"/runbook-runs/{waiting.run.id}/approve", data={"csrf": csrf_of(html)})
        assert r.status_code == 403
    assert ops.record(any_store, waiting.run.id).run.status == "waiting"


def test_an_operator_starts_a_run_over_the_api_and_it_completes(base: str, any_store: Store) -> None:
    with api(base, "on-call") as c:
        run_id = start(c, "hello", params={"who": "ops", "token": "tok-1234"})
        doc = settle(c, run_id)
        assert doc["status"] == "succeeded" and doc["operator"] == "on-call"
        assert steps(doc) == [("greet", "ok"), ("use-token", "ok")]
        assert doc["steps"][0]["output"].strip() == "hello ops"
        assert doc["params"] == {"who": "ops", "token": "***"}
        out = c.get(f"/api/v1/runbook-runs/{run_id}/output", params={"step": doc["steps"][0]["id"]}).json()
        assert out["done"] and out["text"].strip() == "hello ops"
        runs = c.get("/api/v1/runbook-runs", params={"runbook": "hello", "status": "succeeded"}).json()["runs"]
        assert [r["id"] for r in runs] == [run_id]
        listed = {b["name"]: b for b in c.get("/api/v1/runbooks").json()["runbooks"]}
        assert listed["hello"]["last_run"]["status"] == "succeeded" and listed["hello"]["lint_status"] == "warning"
        assert c.post("/api/v1/runbooks/hello/run", json={"params": {"nope": "1"}}).status_code == 400
        assert c.post("/api/v1/runbooks/missing/run", json={}).status_code == 404
    assert outcomes(any_store, "runbook.run") == ["error 400", "ok"]


def test_a_run_waiting_for_an_approval_is_approved_on_the_page_by_another_operator_and_completes(
        base: str, any_store: Store) -> None:
    with api(base, "on-call") as c:
        run_id = start(c, "gated")
        assert settle(c, run_id, ("waiting",))["waiting"]["name"] == "go"
        with client(base, "admin") as page:
            html = page.get(f"/runbook-runs/{run_id}").text
            assert "Approve go</button>" in html and 'hx-trigger="every 2s"' in html
            r = page.post(f"/runbook-runs/{run_id}/approve", data={"csrf": csrf_of(html), "step": "go"},
                          follow_redirects=True)
            assert r.status_code == 200 and "approved; the run continues" in r.text
        doc = settle(c, run_id)
    assert doc["status"] == "succeeded" and doc["operator"] == "on-call"
    assert steps(doc) == [("before", "ok"), ("go", "approved"), ("after", "ok")]
    assert doc["steps"][1]["actor"] == "admin"
    assert outcomes(any_store, "runbook.approve") == ["ok"]


def test_the_runner_approving_its_own_run_is_refused_with_a_conflict(base: str, any_store: Store) -> None:
    with api(base, "on-call") as c:
        run_id = start(c, "gated")
        settle(c, run_id, ("waiting",))
        r = c.post(f"/api/v1/runbook-runs/{run_id}/approve", json={})
        assert r.status_code == 409 and "must come from another operator" in r.json()["error"]["message"]
        with client(base, "on-call") as page:
            html = page.get(f"/runbook-runs/{run_id}").text
            r = page.post(f"/runbook-runs/{run_id}/approve", data={"csrf": csrf_of(html)}, follow_redirects=True)
            assert "must come from another operator" in r.url.params["error"]
        assert c.get(f"/api/v1/runbook-runs/{run_id}").json()["status"] == "waiting"
    assert outcomes(any_store, "runbook.approve") == ["error 409", "error 409"]


def test_a_held_lock_is_a_conflict_naming_its_holder_and_an_ack_lets_the_run_finish(base: str) -> None:
    with api(base, "on-call") as c:
        first = start(c, "locked")
        assert settle(c, first, ("waiting",))["waiting"]["kind"] == "checklist"
        r = c.post("/api/v1/runbooks/locked/run", json={})
        assert r.status_code == 409 and f"held by run {first} (on-call" in r.json()["error"]["message"]
        acked = c.post(f"/api/v1/runbook-runs/{first}/ack", json={"item": "check-1"})
        assert acked.status_code == 202 and acked.json()["note"] == "acknowledged; the run continues"
        doc = settle(c, first)
        assert doc["status"] == "succeeded" and steps(doc) == [("check-1", "acked"), ("work", "ok")]
        assert settle(c, start(c, "locked"), ("waiting",))["status"] == "waiting"  # the lock was given back


def test_secret_parameter_values_appear_in_no_page_and_no_response(base: str) -> None:
    seen: list[str] = []
    with api(base, "on-call") as c:
        run_id = start(c, "hello", params={"token": SECRET})
        doc = settle(c, run_id)
        assert doc["status"] == "succeeded" and "token is ***" in doc["steps"][1]["output"]
        for path in (f"/api/v1/runbook-runs/{run_id}", f"/api/v1/runbook-runs/{run_id}/output",
                     "/api/v1/runbook-runs", "/api/v1/runbooks", "/api/v1/runbooks/hello"):
            seen.append(c.get(path).text)
    with api(base, "admin") as c:
        seen.append(c.get("/api/v1/audit").text)
    with client(base, "on-call") as page:
        for path in ("/runbooks", "/runbooks/hello", f"/runbook-runs/{run_id}"):
            seen.append(page.get(path).text)
        form = page.get("/runbooks/hello").text
        assert 'type="password" name="param.token"' in form
    assert all(SECRET not in text for text in seen)


def test_a_reject_ends_the_run_and_an_abort_of_an_ended_run_is_a_conflict(base: str, any_store: Store) -> None:
    with api(base, "on-call") as c:
        run_id = start(c, "gated")
        settle(c, run_id, ("waiting",))
        with api(base, "admin") as other:
            r = other.post(f"/api/v1/runbook-runs/{run_id}/reject", json={"reason": "not during peak"})
            assert r.status_code == 202, r.text
        doc = settle(c, run_id)
        assert doc["status"] == "aborted" and steps(doc) == [("before", "ok"), ("go", "rejected")]
        assert doc["approvals"][0]["reason"] == "not during peak"
        r = c.post(f"/api/v1/runbook-runs/{run_id}/abort", json={})
        assert r.status_code == 409 and "ended already" in r.json()["error"]["message"]
    assert outcomes(any_store, "runbook.reject") == ["ok"]
    assert outcomes(any_store, "runbook.abort") == ["error 409"]


def test_a_confirm_and_an_approval_with_a_secret_parameter_are_continued_from_the_page_forms(base: str) -> None:
    with api(base, "on-call") as c:
        run_id = start(c, "careful", params={"key": SECRET})
        assert settle(c, run_id, ("waiting",))["waiting"]["kind"] == "confirm"
        with client(base, "on-call") as page:
            html = page.get(f"/runbook-runs/{run_id}").text
            assert "Confirm drop and resume</button>" in html and SECRET not in html
            r = page.post(f"/runbook-runs/{run_id}/resume", data={"csrf": csrf_of(html), "yes": "true",
                                                                  "param.key": SECRET}, follow_redirects=True)
            assert r.url.params["done"] == "resumed"
        assert settle(c, run_id, ("waiting",))["waiting"]["kind"] == "approval"
        with client(base, "admin") as page:
            html = page.get(f"/runbook-runs/{run_id}").text
            r = page.post(f"/runbook-runs/{run_id}/approve", data={"csrf": csrf_of(html)}, follow_redirects=True)
            assert "waits to be resumed with its secret parameters (key)" in r.url.params["done"]
        with client(base, "on-call") as page:
            html = page.get(f"/runbook-runs/{run_id}").text
            assert 'name="param.key"' in html and ">Resume</button>" in html
            page.post(f"/runbook-runs/{run_id}/resume", data={"csrf": csrf_of(html), "param.key": SECRET})
        doc = settle(c, run_id)
        text = c.get(f"/api/v1/runbook-runs/{run_id}").text
    assert doc["status"] == "succeeded" and steps(doc) == [("drop", "ok"), ("go", "approved"), ("after", "ok")]
    assert "after with ***" in doc["steps"][2]["output"] and SECRET not in text


def test_a_runbooks_html_and_a_steps_output_are_escaped(base: str) -> None:
    with api(base, "on-call") as c:
        doc = settle(c, start(c, "xss"))
    with client(base, "on-call") as page:
        html = page.get("/runbooks/xss").text
        assert "<script>alert" not in html and "&lt;script&gt;alert('prose')&lt;/script&gt;" in html
        assert 'href="javascript:' not in html
        run = page.get(f"/runbook-runs/{doc['id']}").text
    assert "<script>alert" not in run and "&lt;script&gt;alert(&#39;output&#39;)&lt;/script&gt;" in run


def test_a_running_steps_output_is_live_the_pool_is_bounded_and_a_stop_interrupts_the_run(
        base: str, app: Any, tmp_path: Path) -> None:
    pool = pool_of(app.state.web)
    assert pool.size == 1  # from the config
    with api(base, "on-call") as c:
        run_id = start(c, "slow")
        deadline = time.monotonic() + 30
        while "waiting for the go file" not in (out := c.get(f"/api/v1/runbook-runs/{run_id}/output").json())["text"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert out["done"] is False and out["next"] == len(out["text"].encode())
        busy = c.post("/api/v1/runbooks/hello/run", json={})
        assert busy.status_code == 503 and f"run {run_id} (slow" in busy.json()["error"]["message"]
        assert pool.shutdown() == [run_id]
        (tmp_path / "go").touch()
        doc = settle(c, run_id)
    assert doc["status"] == "interrupted" and steps(doc) == [("wait-for-file", "error")]


def test_the_openapi_document_lists_the_runbook_routes(base: str) -> None:
    doc = httpx.get(base + "/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert set(paths["/api/v1/runbooks/{name}/run"]["post"]["responses"]) >= {"202", "400", "409", "503"}
    for verb in ("approve", "reject", "ack", "abort", "resume"):
        assert "post" in paths[f"/api/v1/runbook-runs/{{id}}/{verb}"], verb
    for path in ("/api/v1/runbooks", "/api/v1/runbooks/{name}", "/api/v1/runbook-runs",
                 "/api/v1/runbook-runs/{id}", "/api/v1/runbook-runs/{id}/output"):
        assert "get" in paths[path], path
    assert "ActIn" in doc["components"]["schemas"] and "RunIn" in doc["components"]["schemas"]


@pytest.mark.slow
def test_sigterm_of_opsbook_serve_marks_the_run_it_walks_interrupted_at_once(tmp_path: Path) -> None:
    from opsbook.store import runbook_runs
    from tests.support.daemonutil import serving, wait_for
    from tests.support.helpers import free_port
    from tests.support.webutil import ENV_OF, TOKENS

    go = tmp_path / "go"
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "slow.md").write_text(BOOKS["slow"].replace("$go", str(go)))
    port = free_port()
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(f"""version: 1
serve: {{host: 127.0.0.1, port: {port}, tick: 0.2s, drain_timeout: 1s}}
runbooks: {{dir: runbooks, step_timeout: 60s}}
api:
  tokens:
    on-call: {{token: {{env: OPSBOOK_T_ONCALL}}, role: operator}}
""")
    env = {ENV_OF["on-call"]: TOKENS["on-call"]}
    try:
        with serving(cfg, env=env) as serve:
            base = f"http://127.0.0.1:{port}"

            def up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return httpx.get(base + "/api/v1/openapi.json", timeout=2).status_code == 200
                return False

            wait_for(up, 20, "the dashboard", serve.log)
            with api(base, "on-call") as c:
                run_id = start(c, "slow")
                wait_for(lambda: "waiting for the go file" in c.get(f"/api/v1/runbook-runs/{run_id}/output")
                         .json()["text"], 20, "the step's output", serve.log)
            serve.signal(signal.SIGTERM)
            assert serve.wait(30) == 0, serve.log()
        store = Store.open(f"sqlite:///{tmp_path / '.opsbook' / 'opsbook.db'}")
        try:
            with store.read() as tx:  # read as it is: no heartbeat rule applied by this read
                row = runbook_runs.get_run(tx, run_id)
                (step,) = runbook_runs.steps(tx, run_id)
        finally:
            store.close()
        assert row is not None and row.status == "interrupted" and step.status == "error"
    finally:
        go.touch()  # the step's shell (its own process group) ends now


def test_the_live_output_buffer_keeps_the_last_bytes_and_says_when_it_dropped_some() -> None:
    from opsbook.web.runbook_runner import LIVE_MAX, Live

    live = Live()
    for i in range(LIVE_MAX // 1000 + 10):
        live.add(f"{i:04d}".encode() * 250)  # 1,000 bytes a line
    assert len(live.data) == LIVE_MAX and live.total == (LIVE_MAX // 1000 + 10) * 1000
    start, piece, dropped = live.since(0, 100)
    assert dropped and start == live.total - LIVE_MAX and len(piece) == 100
    start, piece, dropped = live.since(live.total - 4, 100)
    assert not dropped and start == live.total - 4 and piece == live.data[-4:]
    assert live.since(live.total + 50, 100)[1] == b""  # past the end: nothing, not an error
