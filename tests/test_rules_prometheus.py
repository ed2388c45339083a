"""A real Prometheus (the Debian package) scraping the demo service feeds a PromQL rule and an SLO."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opsbook.results import utcnow
from opsbook.rules.engine import evaluate
from opsbook.rules.slo import status_of
from opsbook.store import Store
from tests.support.demo_service import Service, demo_service
from tests.support.helpers import free_port, load

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed")


def _wait(what: str, ok, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    work = tmp_path_factory.mktemp("prom")
    with demo_service(work) as svc:
        (work / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: demo\n    static_configs: [{{targets: ['127.0.0.1:{svc.port}']}}]\n")
        port = free_port()
        log = (work / "prometheus.log").open("wb")
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        url = f"http://127.0.0.1:{port}"
        try:
            _wait("prometheus ready", lambda: httpx.get(url + "/-/ready", timeout=1).status_code == 200)
            _wait("the first scrape", lambda: httpx.get(url + "/api/v1/query", params={"query": "up"},
                                                       timeout=1).json()["data"]["result"] != [])
            yield svc, url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


CONFIG = """
checks:
  api: {{command: {{run: "true"}}}}
resources:
  prom: {{kind: prometheus, url: "{url}"}}
alerts:
  api-5xx:
    prometheus:
      resource: prom
      query: 'sum by (path) (increase(http_requests_total{{status=~"5.."}}[1m]))'
    above: 0
    severity: page
    annotations: {{summary: "5xx answers from the API"}}
  api-down:
    when: check api failing
slos:
  api-errors:
    objective: 99%
    prometheus:
      resource: prom
      total: 'http_requests_total{{path="/api/me"}}'
      bad: 'http_requests_total{{path="/api/me", status=~"5.."}}'
"""


def test_a_promql_rule_fires_per_series_when_the_demo_service_starts_failing(
        stack: tuple[Service, str], tmp_path: Path) -> None:
    svc, url = stack
    cfg = load(CONFIG.format(url=url), tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        for _ in range(5):
            httpx.get(svc.url + "/api/me")
        ev = evaluate(cfg, store, utcnow())
        assert ev.errors == {} and [a for a in ev.alerts if a.rule == "api-5xx"] == []

        assert httpx.post(svc.url + "/admin/fault", json={"mode": "errors"}).status_code == 200

        def firing() -> bool:
            for _ in range(5):
                httpx.get(svc.url + "/api/me")
            ev = evaluate(cfg, store, utcnow())
            return any(a.rule == "api-5xx" and a.state == "firing" for a in ev.alerts)

        _wait("the 5xx rule to fire", firing, timeout=30)
        ev = evaluate(cfg, store, utcnow())
        (alert,) = [a for a in ev.alerts if a.rule == "api-5xx"]
        # the vector's series labels are carried onto the instance
        assert alert.labels["path"] == "/api/me" and alert.severity == "page" and alert.value and alert.value > 0

        st = status_of(cfg, store, "api-errors", utcnow())
        assert st.error is None and st.events.total > 0 and st.events.bad > 0
    finally:
        httpx.post(svc.url + "/admin/fault", json={"mode": "none"})
        store.close()
