"""Restore drills prove a backup restores to exactly the data in the manifest's snapshot."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from opsbook.jobs.backup.pipeline import run_backup
from opsbook.jobs.drill import run_drill
from opsbook.ops.load import load
from tests.support.backuputil import age_keypair, seed, write_config
from tests.support.clirun import opsbook
from tests.support.pgutil import ADMIN_DSN, execute, scratch_database


def drill_dbs() -> set[str]:
    with psycopg.connect(ADMIN_DSN) as conn:
        # only this file's drill: other test files run drills at the same time (xdist)
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_weekly\\_%'")}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, str, Path, str]]:
    key, pub = age_keypair(tmp_path)
    with scratch_database("opsbook_drill_src") as dsn:
        seed(dsn)
        cfg = write_config(tmp_path, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
  drill-target: {{kind: postgres, dsn: "{ADMIN_DSN}"}}
backups:
  daily:
    source: db
    path: ./backups
    exclude_table_data: [stripe_events]
    encrypt: {{age_recipients: ["{pub}"]}}
    keep: {{last: 1}}
drills:
  weekly:
    backup: daily
    target: {{resource: drill-target}}
    identity: {{file: {key}}}
    rto_target: 10m
    verify:
      row_counts: all
      freshness: {{table: audit_logs, column: at, max_age: 26h}}
      sql:
        - {{name: no-negative-streaks, query: "SELECT count(*) FROM habits WHERE streak < 0", expect: "value == 0"}}
""")
        before = drill_dbs()
        yield cfg, dsn, key, pub
        leaked = drill_dbs() - before
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            for db in leaked:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        assert not leaked, f"scratch databases left behind: {leaked}"


def test_a_drill_passes_even_when_a_table_was_emptied_after_the_backup(
        setup: tuple[Path, str, Path, str]) -> None:
    cfg, dsn, _, _ = setup
    store = f"sqlite:///{cfg.parent / 'store.db'}"
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    execute(dsn, "DELETE FROM habits")  # production changes; the drill compares to the snapshot
    r = opsbook("drill", "run", "weekly", "--json", "-c", str(cfg), "--store", store)
    assert r.code == 0, r.text
    doc = r.json
    assert doc["schema"] == "opsbook.drill/1" and doc["ok"] and doc["rto_ok"]
    assert {t["table"]: t["actual"] for t in doc["tables"]}["public.habits"] == 3000
    assert {t["table"]: t["actual"] for t in doc["tables"]}["public.stripe_events"] == 0
    assert set(doc["phases_ms"]) == {"fetch", "decrypt_decompress", "restore", "verify"}
    assert [c["name"] for c in doc["checks"]] == ["row_counts", "freshness", "sql:no-negative-streaks"]
    md = Path(doc["report"]["markdown"]).read_text()
    assert "PASSED" in md and "| public.users | 2000 | 2000 | ok |" in md and doc["backup_id"] in md
    assert json.loads(Path(doc["report"]["json"]).read_text())["ok"] is True
    assert "postgresql://" not in md
    # the drill-verified backup survives a prune that would otherwise delete it
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    p = opsbook("backup", "prune", "daily", "--json", "-c", str(cfg), "--store", store)
    assert p.code == 0, p.text
    assert doc["backup_id"] in p.json["kept"] and p.json["deleted"] == []


def repack(obj: Path, key: Path, pub: str, change: str) -> None:
    """Replace the stored dump by one with ``change`` applied, and fix the manifest's checksum."""
    with scratch_database("opsbook_drill_tamper") as t:
        subprocess.run(f"age -d -i {key} < {obj} | zstd -d | pg_restore --no-owner -d '{t}'",
                       shell=True, check=True, executable="/bin/bash")
        execute(t, change)
        subprocess.run(f"pg_dump -Fc -Z0 '{t}' | zstd -q | age -r {pub} > {obj}", shell=True, check=True,
                       executable="/bin/bash")
    manifest = obj.parent / "manifest.json"
    m = json.loads(manifest.read_text())
    data = obj.read_bytes()
    m["objects"][0].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest.write_text(json.dumps(m))


def test_a_table_altered_inside_the_stored_dump_is_reported_by_table(
        setup: tuple[Path, str, Path, str]) -> None:
    cfg, _, key, pub = setup
    config = load(cfg)
    b = run_backup(config, "daily")
    repack(Path(b.objects_at["dump.pgc.zst.age"]), key, pub, "DELETE FROM habits WHERE id > 2990")
    result = run_drill(config, "weekly")
    assert not result.ok
    rc = next(c for c in result.checks if c.name == "row_counts")
    assert rc.detail["mismatched"] == ["public.habits"]
    assert "public.habits: expected 3000 rows, found 2990" in rc.summary


def test_a_flipped_byte_fails_the_drill_naming_the_object(setup: tuple[Path, str, Path, str]) -> None:
    cfg, _, _, _ = setup
    config = load(cfg)
    b = run_backup(config, "daily")
    obj = Path(b.objects_at["dump.pgc.zst.age"])
    data = bytearray(obj.read_bytes())
    data[100] ^= 0xFF
    obj.write_bytes(bytes(data))
    r = opsbook("drill", "run", "weekly", "--json", "--no-report", "-c", str(cfg))
    assert r.code == 1
    assert "object dump.pgc.zst.age" in r.json["error"]["message"] and "corrupt" in r.json["error"]["message"]


def test_a_drill_with_the_wrong_identity_says_so(setup: tuple[Path, str, Path, str]) -> None:
    cfg, _, _, _ = setup
    config = load(cfg)
    run_backup(config, "daily")
    other, _ = age_keypair(cfg.parent, "other")
    r = opsbook("drill", "run", "weekly", "--identity", str(other), "--no-report", "-c", str(cfg))
    assert r.code == 2 and "matches none of its recipients" in r.stderr
