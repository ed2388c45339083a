"""The webhook receiver: headers, error classification, no secret in any error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from opsbook.errors import DeliveryError
from opsbook.notify.pipeline import send_one
from opsbook.notify.receivers.base import retry_after
from tests.support.helpers import free_port, load
from tests.support.notifyutil import recorder

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_extra_headers_are_sent_and_secret_ones_resolved_at_send_time(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "Bearer t0ken-abc123")
    with recorder() as (rec, url):
        cfg = load(f"""
            notify:
              receivers:
                hook: {{webhook: {{url: "{url}/in", headers: {{Authorization: {{env: HOOK_TOKEN}}, X-Team: web}}}}}}
            """, tmp_path)
        receipt = send_one(cfg, "hook", {"id": "n1", "status": "firing"}, NOW)
    assert receipt == {"http_status": 200}
    h = rec.requests[0]["headers"]
    assert h["authorization"] == "Bearer t0ken-abc123" and h["x-team"] == "web" and h["idempotency-key"] == "n1"
    assert "x-opsbook-signature" not in h  # no secret: unsigned


def test_a_refused_connection_is_retryable_and_names_no_url_path(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/tok-s3cret-path")
    cfg = load("""
        notify:
          receivers:
            hook: {webhook: {url: {env: HOOK_URL}, timeout: 2s}}
        """, tmp_path)
    with pytest.raises(DeliveryError) as e:
        send_one(cfg, "hook", {"id": "n1"}, NOW, httpx.Client())
    assert e.value.retryable and "tok-s3cret-path" not in str(e.value.to_dict())


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after("120", NOW) == 120
    assert retry_after("Mon, 23 Nov 2026 12:01:00 GMT", NOW) == 60
    assert retry_after("soon", NOW) is None
