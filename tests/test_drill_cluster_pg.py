"""cluster: drills restore into a throwaway cluster (initdb + pg_ctl), then stop and remove it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsbook.jobs.backup.cluster import find_bin_dir
from tests.support.backuputil import age_keypair, seed, write_config
from tests.support.clirun import opsbook
from tests.support.pgutil import scratch_database


def postgres_processes_under(path: str) -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path in cmd:
            out.append(f"{pid}: {cmd}")
    return out


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    try:
        find_bin_dir(None)
    except Exception:
        pytest.skip("no initdb/pg_ctl on this machine")
    key, pub = age_keypair(tmp_path)
    with scratch_database("opsbook_drillc_src") as dsn:
        seed(dsn)
        cfg = write_config(tmp_path, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
backups:
  daily:
    source: db
    path: ./backups
    exclude_table_data: [stripe_events]
    encrypt: {{age_recipients: ["{pub}"]}}
drills:
  weekly:
    backup: daily
    cluster: {{}}
    identity: {{file: {key}}}
    verify:
      sql:
        - {{name: no-negative-streaks, query: "SELECT count(*) FROM habits WHERE streak < 0", expect: "value == 0"}}
""")
        yield cfg, dsn


def test_a_drill_into_a_throwaway_cluster_passes_and_leaves_nothing_behind(setup: tuple[Path, str]) -> None:
    cfg, _ = setup
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    r = opsbook("drill", "run", "weekly", "--json", "--no-report", "-c", str(cfg))
    doc = r.json
    cluster = doc["cluster"]
    try:
        assert r.code == 0, r.text
        counts = {t["table"]: (t["expected"], t["actual"]) for t in doc["tables"]}
        assert counts["public.users"] == (2000, 2000) and counts["public.habits"] == (3000, 3000)
        assert counts["public.stripe_events"] == (0, 0)
        assert doc["ok"] and not doc["kept"] and cluster["port"] > 0 and "throwaway cluster" in doc["scratch"]
        assert not Path(cluster["dir"]).exists()
        st = subprocess.run([os.path.join(cluster["bin_dir"], "pg_ctl"), "status", "-D",
                             f"{cluster['dir']}/data"], capture_output=True, text=True)
        assert st.returncode != 0  # 3: not running, 4: no data directory
        assert postgres_processes_under(cluster["dir"]) == []
    finally:
        shutil.rmtree(cluster["dir"], ignore_errors=True)


def test_a_failed_cluster_drill_with_keep_keeps_the_stopped_cluster(setup: tuple[Path, str]) -> None:
    cfg, _ = setup
    cfg.write_text(cfg.read_text().replace('expect: "value == 0"', 'expect: "value == 1"'))
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    r = opsbook("drill", "run", "weekly", "--keep", "--json", "--no-report", "-c", str(cfg))
    cluster = r.json["cluster"]
    try:
        assert r.code == 1, r.text
        assert r.json["kept"] and cluster["kept"] and cluster["dir"] in r.json["scratch"]
        assert (Path(cluster["dir"]) / "data" / "PG_VERSION").exists()
        assert postgres_processes_under(cluster["dir"]) == []  # kept, but stopped
    finally:
        shutil.rmtree(cluster["dir"], ignore_errors=True)


def test_as_root_without_a_postgres_user_the_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsbook.errors import CouldNotRun
    from opsbook.jobs.backup import cluster

    def no_user(name: str) -> None:
        raise KeyError(name)

    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster.pwd, "getpwnam", no_user)
    with pytest.raises(CouldNotRun) as e:
        cluster._as_user_prefix()
    assert "initdb refuses to run as root" in e.value.message and "target:" in (e.value.hint or "")
