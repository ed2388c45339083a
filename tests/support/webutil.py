"""Shared set-up for the web tests: a config with three tokens (admin, on-call, developer),
a store with results, and a WebContext with a fixed clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.assertions import Outcome
from opsbook.config.load import Config
from opsbook.results import CheckResult, Status
from opsbook.store import Store
from opsbook.web.context import WebContext
from tests.support.helpers import load

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKENS = {"admin": "adm-7f3a9c-secret-token", "on-call": "oncall-2b8e-secret-token",
          "developer": "dev-91cd-secret-token"}
ENV_OF = {"admin": "OPSBOOK_T_ADMIN", "on-call": "OPSBOOK_T_ONCALL", "developer": "OPSBOOK_T_DEV"}

CONFIG = """
project: shop
checks:
  api-health:
    description: the storefront API answers
    http: {{url: "{api_url}"}}
    expect: ["status == 200", "json.status == 'ok'"]
    labels: {{team: web}}
  db-port:
    tcp: {{host: 127.0.0.1, port: 5432}}
api:
  tokens:
    admin: {{token: {{env: OPSBOOK_T_ADMIN}}, role: admin}}
    on-call: {{token: {{env: OPSBOOK_T_ONCALL}}, role: operator}}
    developer: {{token: {{env: OPSBOOK_T_DEV}}, role: viewer}}
status_page:
  title: Shop status
  components:
    - {{name: Storefront, checks: [api-health]}}
    - {{name: Database, checks: [db-port]}}
  notices:
    - {{title: Payments provider slow, body: Card payments may take longer., level: degraded}}
"""


def set_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, var in ENV_OF.items():
        monkeypatch.setenv(var, TOKENS[name])


def make_config(tmp_path: Path, api_url: str = "http://10.1.2.3:8080/health", extra: str = "") -> Config:
    return load(CONFIG.format(api_url=api_url) + extra, tmp_path)


def result(name: str, status: Status, at: datetime, duration_ms: float = 40.0, body: str = "",
           kind: str = "http", env: str = "") -> CheckResult:
    failing = status not in ("pass", "warn")
    obs: dict[str, Any] = {"status": 500 if failing else 200, "body": body or ('{"status": "ok"}' if not failing
                                                                            else '{"status": "db down"}'),
                           "phases": {"dns": 0.1, "connect": 1.0, "tls": 0.0, "first_byte": duration_ms - 2,
                                      "total": duration_ms}}
    return CheckResult(
        name=name, kind=kind, status=status, summary="GET -> 500" if failing else "GET -> 200",
        started_at=at - timedelta(milliseconds=duration_ms), finished_at=at, duration_ms=duration_ms, env=env,
        observations=obs,
        assertions=[Outcome("status == 200", not failing, obs["status"], "== 200",
                            message="" if not failing else "got 500")],
    )


def seed(store: Store, now: datetime = NOW, minutes: int = 30, failing_from: int = 5) -> None:
    """api-health every 15 s for ``minutes``, failing for the last ``failing_from`` minutes; db-port passing."""
    rs = []
    for i in range(minutes * 4):
        at = now - timedelta(seconds=15 * (minutes * 4 - i))
        bad = at >= now - timedelta(minutes=failing_from)
        rs.append(result("api-health", "fail" if bad else "pass", at, 40.0 + i % 7))
        rs.append(result("db-port", "pass", at, 2.0, kind="tcp"))
    for i in range(0, len(rs), 40):
        store.record_results(rs[i:i + 40])


def context(cfg: Config, store: Store, now: datetime = NOW,
            run_now: Callable[[str, str], Awaitable[dict[str, Any]]] | None = None) -> WebContext:
    return WebContext(get_config=lambda: cfg, store=store, run_now=run_now, clock=lambda: now)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture(name="store")
def seeded_store(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store in tmp_path holding the seed() history; closed afterwards."""
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    seed(s)
    yield s
    s.close()
