"""PostgreSQL backups: local and S3, encrypted, atomic, listed from the destination, verified."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.backuputil import age_keypair, seed, write_config
from tests.support.clirun import opsbook
from tests.support.helpers import free_port
from tests.support.pgutil import execute, scratch_database
from tests.support.s3util import client, resource_yaml, scratch_bucket


@pytest.fixture
def source() -> Iterator[str]:
    with scratch_database("opsbook_bk_src") as dsn:
        seed(dsn)
        yield dsn


def local_config(tmp: Path, dsn: str, pub: str, extra: str = "") -> Path:
    return write_config(tmp, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
backups:
  daily:
    source: db
    path: ./backups
    exclude_table_data: [stripe_events]
    encrypt: {{age_recipients: ["{pub}"]}}
    keep: {{last: 2}}
{extra}""")


def only_backup(tmp: Path) -> Path:
    ids = [p for p in (tmp / "backups" / "daily").iterdir()]
    assert len(ids) == 1
    return ids[0]


def test_local_backup_writes_an_encrypted_object_and_a_manifest_with_snapshot_counts(
        tmp_path: Path, source: str) -> None:
    _, pub = age_keypair(tmp_path)
    cfg = local_config(tmp_path, source, pub)
    r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
    assert r.code == 0, r.text
    doc = r.json
    assert doc["schema"] == "opsbook.backup/1" and doc["ok"]
    assert doc["tables"]["public.users"] == {"rows": 2000, "data": True, "max_pk": "2000"}
    assert doc["tables"]["public.stripe_events"]["data"] is False
    d = only_backup(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["objects"][0]["name"] == "dump.pgc.zst.age"
    assert manifest["snapshot"]["tables"]["public.habits"]["rows"] == 3000
    assert manifest["recipients"] == [pub]
    assert set(manifest["versions"]) >= {"pg_dump", "server", "zstd", "age", "opsbook"}
    assert (d / "dump.pgc.zst.age").read_bytes().startswith(b"age-encryption.org/v1")
    assert source.split("@")[-1] not in (d / "manifest.json").read_text()  # no DSN in the manifest


def test_the_manual_restore_path_needs_only_age_zstd_and_pg_restore(tmp_path: Path, source: str) -> None:
    key, pub = age_keypair(tmp_path)
    cfg = local_config(tmp_path, source, pub)
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    obj = only_backup(tmp_path) / "dump.pgc.zst.age"
    with scratch_database("opsbook_bk_manual") as target:
        subprocess.run(f"age -d -i {key} < {obj} | zstd -d | pg_restore --no-owner -d '{target}'",
                       shell=True, check=True, executable="/bin/bash")
        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (2000,)
            assert conn.execute("SELECT count(*) FROM stripe_events").fetchone() == (0,)


def test_list_reads_the_destination_and_verify_passes(tmp_path: Path, source: str) -> None:
    key, pub = age_keypair(tmp_path)
    cfg = local_config(tmp_path, source, pub)
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    # a leftover of a failed run is not a backup
    (tmp_path / "backups" / "daily" / ".20260101T000000Z-dead.partial").mkdir()
    (tmp_path / "backups" / "daily" / "20260101T000000Z-beef").mkdir()
    listed = opsbook("backup", "list", "daily", "--json", "-c", str(cfg)).json
    assert listed["schema"] == "opsbook.backup-list/1" and listed["count"] == 1
    assert listed["ignored"] == []
    v = opsbook("backup", "verify", "daily", "--identity", str(key), "--json", "-c", str(cfg))
    assert v.code == 0, v.text
    assert v.json["objects"][0]["checksum"] and v.json["objects"][0]["entries"] > 5


def test_a_flipped_byte_fails_verify_naming_the_object(tmp_path: Path, source: str) -> None:
    key, pub = age_keypair(tmp_path)
    cfg = local_config(tmp_path, source, pub)
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    obj = only_backup(tmp_path) / "dump.pgc.zst.age"
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    v = opsbook("backup", "verify", "daily", "--identity", str(key), "--json", "-c", str(cfg))
    assert v.code == 1
    assert "dump.pgc.zst.age" in v.json["objects"][0]["error"] and "corrupt" in v.json["objects"][0]["error"]


def test_a_wrong_age_identity_is_a_clear_error(tmp_path: Path, source: str) -> None:
    _, pub = age_keypair(tmp_path)
    other, _ = age_keypair(tmp_path, "other")
    cfg = local_config(tmp_path, source, pub)
    assert opsbook("backup", "run", "daily", "-c", str(cfg)).code == 0
    v = opsbook("backup", "verify", "daily", "--identity", str(other), "-c", str(cfg))
    assert v.code == 2
    assert "matches none of its recipients" in v.stderr and pub in v.stderr
    assert "Traceback" not in v.text


def killer(tmp: Path, after_bytes: int) -> Path:
    """A pg_dump that dies by SIGKILL after ``after_bytes`` of output."""
    w = tmp / "pg_dump_dies"
    w.write_text(f'#!/bin/bash\n/usr/bin/pg_dump "$@" | head -c {after_bytes}\nkill -9 $$\n')
    w.chmod(0o755)
    return w


def test_pg_dump_killed_midway_lists_nothing_and_records_the_failed_run(tmp_path: Path, source: str) -> None:
    _, pub = age_keypair(tmp_path)
    cfg = local_config(tmp_path, source, pub).read_text()
    cfg = cfg.replace("    keep:", f"    pg_dump: {killer(tmp_path, 20000)}\n    keep:")
    path = write_config(tmp_path, cfg)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    r = opsbook("backup", "run", "daily", "--json", "-c", str(path), "--store", store)
    assert r.code == 1, r.text
    assert "pg_dump was killed by signal 9" in r.json["error"]["message"]
    assert opsbook("backup", "list", "daily", "--json", "-c", str(path)).json["count"] == 0
    assert list((tmp_path / "backups" / "daily").iterdir()) == []  # the partial directory is gone
    from opsbook.store import Store

    s = Store.open(store)
    try:
        runs = s.runs("backup")
    finally:
        s.close()
    assert len(runs) == 1 and not runs[0]["ok"]
    detail = runs[0]["detail"] if isinstance(runs[0]["detail"], dict) else json.loads(runs[0]["detail"])
    assert "killed" in detail["error"]["message"]


def s3_config(tmp: Path, dsn: str, pub: str, endpoint: str, bucket: str, extra: str = "") -> Path:
    return write_config(tmp, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
  vault: {resource_yaml(endpoint, bucket, "prod/")}
backups:
  daily:
    source: db
    to: vault
    encrypt: {{age_recipients: ["{pub}"]}}
{extra}""")


def test_s3_backup_lists_and_verifies_from_a_fresh_machine(tmp_path: Path, source: str, moto: str) -> None:
    key, pub = age_keypair(tmp_path)
    with scratch_bucket(moto) as bucket:
        cfg = s3_config(tmp_path, source, pub, moto, bucket)
        r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
        assert r.code == 0, r.text
        keys = sorted(o["Key"] for o in client(moto).list_objects_v2(Bucket=bucket)["Contents"])
        bid = r.json["id"]
        assert keys == [f"prod/daily/{bid}/dump.pgc.zst.age", f"prod/daily/{bid}/manifest.json"]
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        cfg2 = s3_config(fresh, source, pub, moto, bucket)
        listed = opsbook("backup", "list", "daily", "--json", "-c", str(cfg2)).json
        assert [b["id"] for b in listed["backups"]] == [bid]
        assert opsbook("backup", "verify", "daily", "--identity", str(key), "-c", str(cfg2)).code == 0


def test_a_failed_s3_upload_aborts_the_multipart_upload_and_lists_nothing(
        tmp_path: Path, moto: str) -> None:
    _, pub = age_keypair(tmp_path)
    with scratch_database("opsbook_bk_big") as dsn, scratch_bucket(moto) as bucket:
        # ~50 MB of hex text: compressed it still spans several 16 MB parts
        execute(dsn, "CREATE TABLE blobs AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS body "
                     "FROM generate_series(1, 800000) g")
        cfg = s3_config(tmp_path, dsn, pub, moto, bucket,
                        f"    pg_dump: {killer(tmp_path, 45_000_000)}\n    compress: {{level: 1, threads: 2}}\n")
        r = opsbook("backup", "run", "daily", "--json", "-c", str(cfg))
        assert r.code == 1, r.text
        s3 = client(moto)
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_s3_down_is_a_retryable_could_not_run_and_earlier_backups_stay(
        tmp_path: Path, source: str, moto: str) -> None:
    _, pub = age_keypair(tmp_path)
    with scratch_bucket(moto) as bucket:
        good = s3_config(tmp_path, source, pub, moto, bucket)
        first = opsbook("backup", "run", "daily", "--json", "-c", str(good)).json
        down_dir = tmp_path / "down"
        down_dir.mkdir()
        down = s3_config(down_dir, source, pub, f"http://127.0.0.1:{free_port()}", bucket)
        r = opsbook("backup", "run", "daily", "--json", "-c", str(down))
        assert r.code == 3, r.text
        assert r.json["error"]["retryable"] is True and "cannot reach the S3 endpoint" in r.json["error"]["message"]
        listed = opsbook("backup", "list", "daily", "--json", "-c", str(good)).json
        assert [(b["id"], b["objects"][0]["sha256"]) for b in listed["backups"]] == [
            (first["id"], first["objects"][0]["sha256"])]


def test_an_unreachable_source_database_could_not_run(tmp_path: Path) -> None:
    _, pub = age_keypair(tmp_path)
    cfg = local_config(tmp_path, f"postgresql://postgres:hunter22@127.0.0.1:{free_port()}/x", pub)
    r = opsbook("backup", "run", "daily", "-c", str(cfg))
    assert r.code == 3 and "cannot connect" in r.stderr and "hunter22" not in r.text


def test_config_cross_checks_name_the_path(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, """
resources:
  api: {kind: http, url: "http://x"}
backups:
  daily: {source: api, to: nowhere}
drills:
  weekly: {backup: nightly, target: {env: X}}
""")
    r = opsbook("config", "validate", "-c", str(cfg))
    assert r.code == 2
    for needle in ("backups.daily.source", "backups.daily.to", "drills.weekly.backup"):
        assert needle in r.stderr, r.stderr
    cfg.write_text(cfg.read_text().replace("to: nowhere", 'to: ./b, schedule: "every day"'))
    r = opsbook("config", "validate", "-c", str(cfg))
    assert r.code == 2 and "backups.daily.schedule" in r.stderr and "not a cron expression" in r.stderr
