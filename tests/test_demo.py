from pathlib import Path

import pytest

from opsbook.config.load import load_config
from opsbook.demo.run import run_demo, write_config
from opsbook.plugins import PLUGINS


def test_bundled_demo_config_is_valid_and_examples_links_to_it(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "opsbook.yaml", 12345), PLUGINS)
    assert cfg.vars["base_url"] == "http://127.0.0.1:12345"
    assert {"api-live", "api-ready", "api-port", "db-integrity", "disk"} <= set(cfg.checks)
    assert cfg.checks["api-ready"].depends_on == ["api-live"]
    assert "login" in cfg.smoke
    assert (tmp_path / "runbooks" / "verify-service.md").is_file()  # runbooks.dir next to the config
    link = Path(__file__).parent.parent / "examples" / "demo.yaml"
    assert link.is_symlink()
    assert link.resolve() == (Path(__file__).parent.parent / "src/opsbook/demo/demo.yaml").resolve()


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert run_demo(tmp_path / "work") == 0
    out = capfd.readouterr().out
    assert "$ opsbook gate ready api-ready --timeout 30s --interval 1s --config" in out
    assert "$ opsbook smoke login --base-url http://127.0.0.1:" in out
    assert "status == 200" in out  # the failing assertion is shown in the fault step
    assert "-> exit 1 (as expected)" in out
    # the demo's runbook: a readiness gate, an HTTP GET and a sh step, run and recorded
    assert "$ opsbook runbook run verify-service -p base_url=http://127.0.0.1:" in out
    assert "run 1 succeeded" in out
    assert "# Runbook run 1: verify-service" in out and "- **Saved** `version` = `1.0.0`" in out
    assert "stopped the sample service" in out
    assert (tmp_path / "work" / "demo.db").exists()


def test_the_demo_runbook_runs_against_the_sample_service_and_records_every_step(tmp_path: Path) -> None:
    from opsbook.demo.run import free_port, start_service, stop_service
    from opsbook.ops import runbook as ops
    from opsbook.runbooks.load import find
    from opsbook.store import Store

    port = free_port()
    cfg = load_config(write_config(tmp_path / "opsbook.yaml", port), PLUGINS)
    proc = start_service(tmp_path, port, ready_after=0)
    store = Store.open(cfg.store_url())
    try:
        rec = ops.run(store, cfg, find(cfg, "verify-service"), {"base_url": f"http://127.0.0.1:{port}"}, "demo")
    finally:
        store.close()
        stop_service(proc)
    assert rec.run.status == "succeeded"
    assert [(s.name, s.kind, s.status) for s in rec.steps] == [("ready", "opsbook", "ok"), ("health", "http", "ok"),
                                                               ("disk", "sh", "ok")]
    assert rec.steps[1].captured == {"version": "1.0.0"}
