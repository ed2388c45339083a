"""format: directory: pg_dump -Fd -j N, one zstd | age object per file, restored by drills and verify."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.backuputil import age_keypair, seed, write_config
from tests.support.clirun import opsbook
from tests.support.pgutil import ADMIN_DSN, scratch_database
from tests.support.s3util import client, resource_yaml, scratch_bucket


@pytest.fixture
def source() -> Iterator[str]:
    with scratch_database("opsbook_bkdir_src") as dsn:
        seed(dsn)
        yield dsn


def drill_dbs() -> set[str]:
    with psycopg.connect(ADMIN_DSN) as conn:
        # only this file's drill: other test files run drills at the same time (xdist)
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_dirweekly\\_%'")
        return {r[0] for r in rows}


def config(tmp: Path, dsn: str, pub: str, key: Path, dest: str, resources: str = "") -> Path:
    return write_config(tmp, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
  drill-target: {{kind: postgres, dsn: "{ADMIN_DSN}"}}
{resources}
backups:
  daily:
    source: db
    {dest}
    format: directory
    jobs: 2
    exclude_table_data: [stripe_events]
    encrypt: {{age_recipients: ["{pub}"]}}
drills:
  dirweekly:
    backup: daily
    target: {{resource: drill-target}}
    identity: {{file: {key}}}
    jobs: 2
""")


def assert_drill_passes(cfg: Path) -> dict:
    before = drill_dbs()
    r = opsbook("drill", "run", "dirweekly", "--json", "--no-report", "-c", str(cfg))
    assert drill_dbs() == before  # the scratch database was dropped
    assert r.code == 0, r.text
    counts = {t["table"]: (t["expected"], t["actual"]) for t in r.json["tables"]}
    assert counts["public.users"] == (2000, 2000) and counts["public.habits"] == (3000, 3000)
    assert counts["public.audit_logs"] == (500, 500) and counts["public.stripe_events"] == (0, 0)
    return r.json


def test_directory_backup_to_a_local_dir_restores_in_a_drill_and_by_hand(tmp_path: Path, source: str) -> None:
    key, pub = age_keypair(tmp_path)
    cfg = config(tmp_path, source, pub, key, "path: ./backups")
    r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    bid = r.json["id"]
    d = tmp_path / "backups" / "daily" / bid
    manifest = json.loads((d / "manifest.json").read_text())
    names = [o["name"] for o in manifest["objects"]]
    assert "dump/toc.dat.zst.age" in names and len(names) >= 4  # toc + one file per table with data
    assert all(n.startswith("dump/") and n.endswith(".zst.age") for n in names)
    assert sorted(str(p.relative_to(d)) for p in (d / "dump").iterdir()) == sorted(names)
    assert {o["content"] for o in manifest["objects"]} == {"pg_dump-directory"}
    assert manifest["options"]["format"] == "directory" and manifest["options"]["jobs"] == 2
    assert manifest["snapshot"]["tables"]["public.users"]["rows"] == 2000
    assert [p.name for p in (tmp_path / "backups" / "daily").iterdir()] == [bid]  # no .partial left

    v = opsbook("backup", "verify", "daily", "--identity", str(key), "--json", "-c", str(cfg))
    assert v.code == 0, v.text
    toc = next(o for o in v.json["objects"] if o["name"] == "dump/toc.dat.zst.age")
    assert toc["entries"] > 5 and all(o["ok"] for o in v.json["objects"])

    doc = assert_drill_passes(cfg)
    assert set(doc["phases_ms"]) == {"fetch", "decrypt_decompress", "restore", "verify"}

    # the manual path of docs/backups.md: age -d | zstd -d per file, then pg_restore on the directory
    out = tmp_path / "restore"
    script = (f'mkdir {out} && for f in {d}/dump/*.zst.age; do '
              f'age -d -i {key} < "$f" | zstd -d > "{out}/$(basename "$f" .zst.age)"; done')
    subprocess.run(script, shell=True, check=True, executable="/bin/bash")
    with scratch_database("opsbook_bkdir_manual") as target:
        subprocess.run(["pg_restore", "-j", "2", "--no-owner", "-d", target, str(out)], check=True)
        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM habits").fetchone() == (3000,)


def test_a_flipped_byte_in_one_object_fails_verify_naming_it(tmp_path: Path, source: str) -> None:
    key, pub = age_keypair(tmp_path)
    cfg = config(tmp_path, source, pub, key, "path: ./backups")
    r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    d = tmp_path / "backups" / "daily" / r.json["id"]
    victim = next(o["name"] for o in r.json["objects"] if o["name"] != "dump/toc.dat.zst.age")
    data = bytearray((d / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / victim).write_bytes(bytes(data))
    v = opsbook("backup", "verify", "daily", "--identity", str(key), "--json", "-c", str(cfg))
    assert v.code == 1, v.text
    bad = [o for o in v.json["objects"] if not o["checksum"]]
    assert [o["name"] for o in bad] == [victim]
    assert f"object {victim}" in bad[0]["error"] and "corrupt" in bad[0]["error"]


def test_a_directory_backup_to_s3_restores_in_a_drill(tmp_path: Path, source: str, moto: str) -> None:
    key, pub = age_keypair(tmp_path)
    with scratch_bucket(moto) as bucket:
        cfg = config(tmp_path, source, pub, key, "to: vault", f"  vault: {resource_yaml(moto, bucket, 'prod/')}")
        r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
        assert r.code == 0, r.text
        bid = r.json["id"]
        keys = sorted(o["Key"] for o in client(moto).list_objects_v2(Bucket=bucket)["Contents"])
        assert keys == sorted([f"prod/daily/{bid}/manifest.json"]
                              + [f"prod/daily/{bid}/{o['name']}" for o in r.json["objects"]])
        assert opsbook("backup", "verify", "daily", "--identity", str(key), "-c", str(cfg)).code == 0
        assert_drill_passes(cfg)


def test_a_failed_directory_dump_lists_nothing(tmp_path: Path, source: str) -> None:
    key, pub = age_keypair(tmp_path)
    cfg = config(tmp_path, source, pub, key, "path: ./backups")
    broken = tmp_path / "pg_dump_fails"
    broken.write_text('#!/bin/bash\n/usr/bin/pg_dump "$@"\necho "disk on fire" >&2\nexit 3\n')
    broken.chmod(0o755)
    body = cfg.read_text().replace("    jobs: 2\n    exclude", f"    jobs: 2\n    pg_dump: {broken}\n    exclude")
    cfg.write_text(body)
    r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
    assert r.code == 1, r.text
    message = r.json["error"]["message"]
    assert "pg_dump exited with status 3" in message and "disk on fire" in message
    assert list((tmp_path / "backups" / "daily").iterdir()) == []


def test_format_jobs_and_cluster_keys_are_cross_checked(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, """
resources:
  lite: {kind: sqlite, path: ./app.db}
  db: {kind: postgres, dsn: "postgresql://x@127.0.0.1/x"}
backups:
  small: {source: lite, path: ./b, format: directory}
  big: {source: db, path: ./b, jobs: 4}
drills:
  both: {backup: small, target: {env: X}, cluster: {}}
""")
    r = opsbook("config", "validate", "-c", str(cfg))
    assert r.code == 2
    for needle in ("backups.big", "needs format: directory", "drills.both", "not both"):
        assert needle in r.stderr, r.stderr
    # cross-checks run once the sections parse
    cfg.write_text(cfg.read_text().replace(", jobs: 4", "").replace("target: {env: X}, ", ""))
    r = opsbook("config", "validate", "-c", str(cfg))
    assert r.code == 2 and "backups.small.format" in r.stderr, r.stderr
