"""Secrets: redacted from the moment the config loads, never printed back by `config show`,
flagged when written inline, redacted in every encoding, and usable in smoke bodies
(issue 10, findings 3, 4, 5 and 16)."""

from __future__ import annotations

import asyncio
import html
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from starlette.testclient import TestClient

from opsbook.config.secrets import redactor, reveal
from opsbook.errors import ConfigError
from opsbook.smoke import run_smoke
from opsbook.store import Store
from tests.support.clirun import opsbook
from tests.support.helpers import free_port, load
from tests.support.webutil import NOW, bearer, context, make_config, result, set_tokens


def unique(prefix: str) -> str:
    # the redactor is process-wide: a fresh value proves this test registered it
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def encodings(secret: str) -> list[str]:
    """How JSON, HTML and JSON-inside-HTML spell ``secret``."""
    j_ascii, j_utf8 = json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, j_ascii, j_utf8, html.escape(secret), str(markupsafe.escape(secret)),
             html.escape(j_ascii), str(markupsafe.escape(j_ascii))}
    return sorted(forms)


def assert_no_form_of(secret: str, text: str) -> None:
    for form in encodings(secret):
        assert form not in text, f"{form!r} leaked"


# -- finding 3: registered at load -------------------------------------------------------------


def test_a_secret_reference_is_redacted_as_soon_as_the_config_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn_password, token, from_file = unique("pw"), unique("tok"), unique("file")
    monkeypatch.setenv("OPSBOOK_T_STORE", f"postgresql://opsbook:{dsn_password}@db.internal/opsbook")
    monkeypatch.setenv("OPSBOOK_T_TOKEN", token)
    monkeypatch.delenv("OPSBOOK_T_UNSET", raising=False)
    (tmp_path / "pd_key").write_text(from_file + "\n")
    cfg = load(f"""
        store: {{url: {{env: OPSBOOK_T_STORE}}}}
        api:
          tokens:
            ci: {{token: {{env: OPSBOOK_T_TOKEN}}}}
        notify:
          receivers:
            pd: {{pagerduty: {{routing_key: {{file: {tmp_path / "pd_key"}}}}}}}
            later: {{webhook: {{url: {{env: OPSBOOK_T_UNSET}}}}}}
    """, tmp_path)
    # nothing has used these secrets yet: loading the config is enough
    line = f"enqueued for {token} with {from_file} into postgresql://opsbook:{dsn_password}@db"
    shown = redactor.text(line)
    assert token not in shown and from_file not in shown and dsn_password not in shown
    # a reference that does not resolve at load breaks only what uses it
    later = cfg.model.notify.receivers["later"].webhook
    assert later is not None
    with pytest.raises(ConfigError, match="OPSBOOK_T_UNSET is not set"):
        reveal(later.url, "notify.receivers.later.webhook.url")


# -- finding 4: inline secrets --------------------------------------------------------------------

INLINE = """
resources:
  db: {kind: postgres, dsn: "postgresql://app@db.internal/app?sslmode=require&password=%(qpw)s"}
  api:
    kind: http
    url: "https://api.example.com/v1?token=%(qtok)s"
    headers: {X-Api-Key: %(hdr)s, X-Client: opsbook}
    auth: {basic: {username: ops, password: %(basic)s}}
  s3: {kind: s3, bucket: backups, access_key_id: AKIAEXAMPLE, secret_access_key: %(s3)s}
notify:
  receivers:
    hook: {webhook: {url: "https://hooks.example.com/opsbook", secret: %(hmac)s}}
    pd: {pagerduty: {routing_key: %(rk)s}}
api:
  tokens:
    ci: {token: %(tok)s, role: viewer}
checks:
  db-port: {tcp: {host: 127.0.0.1, port: 5432}}
"""
INLINE_PATHS = {
    "resources.db.dsn", "resources.api.url", "resources.api.headers.X-Api-Key",
    "resources.api.auth.basic.password", "resources.s3.secret_access_key",
    "notify.receivers.hook.webhook.secret", "notify.receivers.pd.pagerduty.routing_key",
    "api.tokens.ci.token",
}


@pytest.fixture
def inline_config(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    values = {k: unique(k) for k in ("qpw", "qtok", "hdr", "basic", "s3", "hmac", "rk", "tok")}
    path = tmp_path / "opsbook.yaml"
    path.write_text(INLINE % values)
    return path, values


def test_config_show_never_prints_an_inline_secret_whatever_its_form(
    inline_config: tuple[Path, dict[str, str]],
) -> None:
    path, values = inline_config
    for args in (("config", "show"), ("config", "show", "--json")):
        r = opsbook(*args, "-c", str(path))
        assert r.code == 0, r.text
        for value in values.values():
            assert value not in r.text, (args, value)
    shown = opsbook("config", "show", "--json", "-c", str(path)).json["config"]
    # what is not a secret is still shown, so the output stays useful
    assert shown["resources"]["api"]["headers"]["X-Client"] == "opsbook"
    assert shown["resources"]["s3"]["access_key_id"] == "AKIAEXAMPLE"
    assert shown["resources"]["db"]["dsn"] == "postgresql://app@db.internal/app?sslmode=require&password=***"


def test_config_validate_warns_about_each_inline_secret_and_strict_makes_it_an_error(
    inline_config: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, values = inline_config
    r = opsbook("config", "validate", "-c", str(path))
    assert r.code == 0, r.text
    for p in INLINE_PATHS:
        assert f"warning: {p} (" in r.stderr, p
    assert "resources.api.headers.X-Client" not in r.stderr
    doc = opsbook("config", "validate", "--json", "-c", str(path)).json
    assert {w["path"] for w in doc["warnings"]} == INLINE_PATHS
    strict = opsbook("config", "validate", "--strict", "--json", "-c", str(path))
    assert strict.code == 2
    assert {e["path"] for e in strict.json["error"]["errors"]} == INLINE_PATHS
    for value in values.values():
        assert value not in strict.text
    # written by reference, the same config is clean even under --strict
    by_ref = tmp_path / "by_ref.yaml"
    by_ref.write_text("""
api:
  tokens:
    ci: {token: {env: OPSBOOK_T_CI_TOKEN}}
notify:
  receivers:
    pd: {pagerduty: {routing_key: {file: /run/secrets/pd}}}
""")
    clean = opsbook("config", "validate", "--strict", "--json", "-c", str(by_ref))
    assert clean.code == 0 and clean.json["warnings"] == [], clean.text


# -- finding 5: every encoding -----------------------------------------------------------------


def test_a_secret_with_quotes_backslashes_and_accents_is_redacted_in_every_encoding() -> None:
    secret = unique('Zx9"s\u00e9cret\\<&>')
    redactor.add(secret)
    for form in encodings(secret):
        assert redactor.text(f"before {form} after") == "before *** after", form


def test_check_json_output_never_shows_a_json_escaped_secret(tmp_path: Path) -> None:
    secret = unique('Zx9"s\u00e9cret')
    (tmp_path / "opsbook.yaml").write_text("""
checks:
  leaky:
    command:
      run: ["python3", "-c", "import json, os; print(json.dumps({'token': os.environ['TOK']}))"]
      env: {TOK: {env: OPSBOOK_T_QUOTED}}
""")
    r = opsbook("check", "--json", "--no-store", "-c", str(tmp_path / "opsbook.yaml"),
                env={"OPSBOOK_T_QUOTED": secret})
    assert r.code == 0, r.text
    assert r.json["results"][0]["observations"]["stdout"] == '{"token": "***"}\n'
    assert_no_form_of(secret, r.text)


def test_web_pages_redact_secrets_before_html_escaping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = unique('Zx9"s\u00e9cret<')
    set_tokens(monkeypatch)
    monkeypatch.setenv("OPSBOOK_T_HOOK", secret)
    cfg = make_config(tmp_path, extra="""
notify:
  receivers:
    hook: {webhook: {url: "http://127.0.0.1:9/hook", secret: {env: OPSBOOK_T_HOOK}}}
""")
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        # a response body that quotes the secret the way a JSON API does
        store.record_results([result("api-health", "fail", NOW, body=json.dumps({"echo": secret}))])
        from opsbook.web.app import create_app

        app = create_app(context(cfg, store))
        with TestClient(app, headers={"accept": "text/html", **bearer("admin")}) as c:
            page = c.get("/checks/api-health")
            assert page.status_code == 200
            assert "echo" in page.text  # the excerpt is there, its secret is not
            assert_no_form_of(secret, page.text)
        # any value a template prints is redacted before autoescape turns " into &#34;
        tpl = app.state.web.templates.from_string("<p>{{ v }}</p>")
        assert tpl.render(v=f"said {secret}") == "<p>said ***</p>"
    finally:
        store.close()


# -- finding 16: secret references in smoke bodies ----------------------------------------------


class Recorder:
    """A real HTTP server on 127.0.0.1 that records every request it receives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    rec.thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()


def test_smoke_bodies_headers_and_form_fields_send_secret_references(
    recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key, password, note = unique("key"), unique("pw$not-a-var"), unique("note")
    monkeypatch.setenv("OPSBOOK_T_SMOKE_KEY", api_key)
    monkeypatch.setenv("OPSBOOK_T_SMOKE_PW", password)
    (tmp_path / "note.txt").write_text(note + "\n")
    cfg = load(f"""
        smoke:
          login:
            base_url: http://127.0.0.1:{recorder.port}
            steps:
              - post: /json
                headers: {{X-Api-Key: {{env: OPSBOOK_T_SMOKE_KEY}}}}
                json: {{user: ops, password: {{env: OPSBOOK_T_SMOKE_PW}}, extra: [{{file: {tmp_path}/note.txt}}]}}
              - post: /form
                form: {{user: ops, password: {{env: OPSBOOK_T_SMOKE_PW}}}}
              - post: /body
                body: {{file: {tmp_path}/note.txt}}
    """, tmp_path)
    r = asyncio.run(run_smoke(cfg, "login"))
    assert r.status == "pass", r.to_dict()
    by_path = {q["path"]: q for q in recorder.requests}
    assert by_path["/json"]["headers"]["X-Api-Key"] == api_key
    assert json.loads(by_path["/json"]["body"]) == {"user": "ops", "password": password, "extra": [note]}
    from urllib.parse import parse_qs

    assert parse_qs(by_path["/form"]["body"].decode()) == {"user": ["ops"], "password": [password]}
    assert by_path["/body"]["body"] == note.encode()
    # and none of it is shown back
    assert password not in json.dumps(r.to_dict()) and api_key not in json.dumps(r.to_dict())


def test_long_output_with_many_registered_secrets_is_redacted_like_short_text() -> None:
    from opsbook.config.secrets import REDACTED, Redactor

    r = Redactor()
    values = [f"tok-{i:03d}-{'x' * (i % 7)}" for i in range(200)] + ["tok-001-x-longer", "pass word!"]
    for v in values:
        r.add(v)
    short = "a tok-001-x-longer b tok-150-xxx c pass word! d tok-9 e"
    want = f"a {REDACTED} b {REDACTED} c {REDACTED} d tok-9 e"
    assert r.text(short) == want  # one tree-shaped regex: the longer value wins over its prefix
    long = (short + "\n") * 500  # past Redactor.LONG: the values found by substring search first
    assert r.text(long) == (want + "\n") * 500
    assert r.text("nothing secret here\n" * 500) == "nothing secret here\n" * 500
