"""What a backup destination can and cannot make opsbook do: a tampered manifest writes nothing
outside the work directory, the daemon applies keep:, and the leftovers of a killed run go away.

The bucket is a trust boundary: these tests play the attacker against a real S3-protocol server
(moto in server mode) and check what lands on disk."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsbook.daemon import leases
from opsbook.daemon.log import Log
from opsbook.daemon.scheduler import Scheduler
from opsbook.jobs.backup.catalog import read_catalog
from opsbook.jobs.backup.manifest import Manifest, inside
from opsbook.jobs.backup.pipeline import run_backup
from opsbook.jobs.backup.prune import prune
from opsbook.jobs.backup.storage import storage_for
from opsbook.ops.load import load
from opsbook.store import Store
from tests.support.backuputil import write_config
from tests.support.clirun import opsbook
from tests.support.pgutil import scratch_database
from tests.support.s3util import client, resource_yaml, scratch_bucket


def make_db(path: Path, rows: int = 200) -> None:
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        c.executemany("INSERT INTO users (email) VALUES (?)", [(f"u{i}@x",) for i in range(rows)])
    c.close()


def s3_config(tmp: Path, endpoint: str, bucket: str) -> Path:
    make_db(tmp / "app.db")
    return write_config(tmp, f"""
resources:
  app-db: {{kind: sqlite, path: ./app.db}}
  vault: {resource_yaml(endpoint, bucket, "prod/")}
backups:
  nightly: {{source: app-db, to: vault}}
drills:
  nightly-drill: {{backup: nightly}}
""")


def tamper(endpoint: str, bucket: str, bid: str, name: str, **changes: Any) -> None:
    """What an attacker with write access to the bucket does: store the backup's own bytes (so
    size and sha256 match) under ``name`` and point the manifest's object at it."""
    s3 = client(endpoint)
    base = f"prod/nightly/{bid}/"
    m = json.loads(s3.get_object(Bucket=bucket, Key=base + "manifest.json")["Body"].read())
    data = s3.get_object(Bucket=bucket, Key=base + m["objects"][0]["name"])["Body"].read()
    s3.put_object(Bucket=bucket, Key=base + name, Body=data)
    m["objects"][0].update(name=name, **changes.pop("object", {}))
    m.update(changes)
    s3.put_object(Bucket=bucket, Key=base + "manifest.json", Body=json.dumps(m).encode())


def files_under(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


ESCAPES = {
    "absolute": ("{abs}", {}),
    "dot-dot": ("../escaped", {}),
    "backslash": ("..\\..\\escaped", {}),
    "directory dump file": ("dump/../../escaped.zst",
                            {"source_kind": "postgres", "object": {"content": "pg_dump-directory"}}),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_a_tampered_manifest_writes_nothing_outside_the_workdir(tmp_path: Path, moto: str, case: str) -> None:
    outside = tmp_path / "abs-escaped"
    name, changes = ESCAPES[case]
    name = name.format(abs=outside)
    wd = tmp_path / "wd"  # opsbook's work directories go here; "../escaped" would land in it
    wd.mkdir()
    env = {"OPSBOOK_TMPDIR": str(wd)}
    with scratch_bucket(moto) as bucket:
        cfg = s3_config(tmp_path, moto, bucket)
        bid = run_backup(load(cfg), "nightly").manifest.id
        tamper(moto, bucket, bid, name, **changes)
        v = opsbook("backup", "verify", "nightly", "-c", str(cfg), env=env)
        d = opsbook("drill", "run", "nightly-drill", "--no-report", "-c", str(cfg), env=env)
        assert not outside.exists()
        assert files_under(wd) == []  # nothing escaped into it, and every work directory was removed
        assert not (tmp_path / "escaped").exists() and not (tmp_path / "escaped.zst").exists()

        assert v.code == 1, v.text
        assert f"backup {bid} of nightly is unusable" in v.text and "Traceback" not in v.text
        assert d.code == 1, d.text
        assert "unusable" in d.text and "Traceback" not in d.text
        by_id = opsbook("backup", "verify", "nightly", bid[:10], "-c", str(cfg), env=env)
        assert by_id.code == 1 and "unusable" in by_id.text
        listed = opsbook("backup", "list", "nightly", "--json", "-c", str(cfg), env=env)
        assert listed.code == 0, listed.text
        assert listed.json["count"] == 0 and listed.json["ignored"] == [bid]
        assert [i["id"] for i in listed.json["invalid"]] == [bid]
        assert "object name" in listed.json["invalid"][0]["error"]
        shown = opsbook("backup", "list", "nightly", "-c", str(cfg), env=env)
        assert f"{bid}: unusable" in shown.text


def test_an_older_good_backup_stays_usable_by_id_beside_a_tampered_newer_one(tmp_path: Path, moto: str) -> None:
    with scratch_bucket(moto) as bucket:
        cfg = load(s3_config(tmp_path, moto, bucket))
        good = run_backup(cfg, "nightly").manifest.id
        bad = run_backup(cfg, "nightly").manifest.id
        tamper(moto, bucket, bad, "../x")
        catalog = read_catalog(storage_for(cfg, "nightly"), "nightly")
        assert [m.id for m in catalog.backups] == [good] and list(catalog.invalid) == [bad]
        assert catalog.get(good).id == good
        r = opsbook("backup", "verify", "nightly", good, "--json", "-c", str(tmp_path / "opsbook.yaml"))
        assert r.code == 0, r.text


def test_a_bucket_serving_more_bytes_than_the_manifest_says_is_refused(tmp_path: Path, moto: str) -> None:
    with scratch_bucket(moto) as bucket:
        cfg = s3_config(tmp_path, moto, bucket)
        m = run_backup(load(cfg), "nightly").manifest
        key = f"prod/nightly/{m.id}/{m.objects[0].name}"
        s3 = client(moto)
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=bucket, Key=key, Body=data + b"\0" * (4 << 20))
        r = opsbook("backup", "verify", "nightly", "--json", "-c", str(cfg))
        assert r.code == 1
        assert f"more bytes than the manifest's {len(data)}" in r.json["objects"][0]["error"]


def good_manifest() -> dict[str, Any]:
    return {"schema": "opsbook.backup-manifest/1", "id": "20261123T030000Z-3f9a", "backup": "nightly",
            "source_kind": "postgres", "created_at": "2026-11-23T03:00:00+00:00",
            "finished_at": "2026-11-23T03:01:00+00:00",
            "objects": [{"name": "dump.pgc.zst.age", "size": 10, "sha256": "ab" * 32,
                         "content": "pg_dump-custom", "compression": "zstd", "encryption": "age"}],
            "snapshot": {"tables": {"public.users": {"rows": 3, "data": True, "max_pk": "3"}}}}


def directory_manifest(*files: str) -> dict[str, Any]:
    d = good_manifest()
    d["objects"] = [{**d["objects"][0], "name": f, "content": "pg_dump-directory"} for f in files]
    return d


BAD_MANIFESTS: dict[str, tuple[Any, str]] = {
    "absolute name": ({"objects": [{"name": "/etc/cron.d/x"}]}, "absolute path"),
    "dot-dot name": ({"objects": [{"name": "../../x"}]}, "'..'"),
    "backslash name": ({"objects": [{"name": "..\\x"}]}, "backslash"),
    "NUL in name": ({"objects": [{"name": "x\x00y"}]}, "NUL"),
    "subdirectory name": ({"objects": [{"name": "a/b"}]}, "'/'"),
    "hidden name": ({"objects": [{"name": ".bashrc"}]}, "plain name"),
    "id with a slash": ({"id": "../20261123T030000Z-3f9a"}, "manifest id"),
    "negative size": ({"objects": [{"size": -1}]}, "byte count"),
    "huge size": ({"objects": [{"size": 1 << 60}]}, "byte count"),
    "size not a number": ({"objects": [{"size": "10"}]}, "byte count"),
    "sha256 not hex": ({"objects": [{"sha256": "zz"}]}, "sha256"),
    "rows not a count": ({"snapshot": {"tables": {"t": {"rows": -5}}}}, "rows"),
    "no objects": ({"objects": []}, "objects"),
}


def merged(change: dict[str, Any]) -> dict[str, Any]:
    d = good_manifest()
    for k, v in change.items():
        if k == "objects" and v:
            d["objects"] = [{**d["objects"][0], **v[0]}]
        else:
            d[k] = v
    return d


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_manifest_fields_that_become_paths_or_sizes_are_validated_on_read(case: str) -> None:
    change, why = BAD_MANIFESTS[case]
    with pytest.raises(ValueError, match=why.replace("(", r"\(")):
        Manifest.loads(json.dumps(merged(change)).encode())


@pytest.mark.parametrize(("files", "why"), [
    (["dump/toc.dat.zst.age", "dump/../../x.zst.age"], "'..'"),
    (["dump/toc.dat.zst.age", "elsewhere/3.dat.zst.age"], "dump/<file>"),
    (["dump/toc.dat.zst.age", "dump/sub/3.dat.zst.age"], "dump/<file>"),
    (["dump/toc.dat.zst.age", "dump/..zst.age"], "plain name"),
    (["dump/toc.dat.zst.age", "dump/toc.dat.zst"], "listed twice"),
])
def test_the_dump_files_of_a_directory_manifest_are_plain_names(files: list[str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Manifest.loads(json.dumps(directory_manifest(*files)).encode())
    assert Manifest.loads(json.dumps(directory_manifest("dump/toc.dat.zst.age", "dump/3.dat.zst.age")).encode())


def test_a_manifest_larger_than_the_cap_is_refused_unparsed() -> None:
    with pytest.raises(ValueError, match="larger than"):
        Manifest.loads(b" " * ((64 << 20) + 1))


def test_resolved_paths_must_stay_inside_their_directory(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    os.symlink("/etc", tmp_path / "work" / "link")
    assert inside(tmp_path / "work", "toc.dat") == tmp_path / "work" / "toc.dat"
    for name in ("../x", "/etc/passwd", "link/passwd", ".", ""):
        with pytest.raises(ValueError, match="outside"):
            inside(tmp_path / "work", name)


# --- leftovers of a killed run (.<id>.partial/) -------------------------------------------------

def local_config(tmp: Path, extra: str = "") -> Path:
    make_db(tmp / "app.db")
    return write_config(tmp, f"""
resources:
  app-db: {{kind: sqlite, path: ./app.db}}
backups:
  nightly: {{source: app-db, path: ./backups, timeout: 1h{extra}}}
""")


def leftover(root: Path, bid: str, last_write: float) -> Path:
    """A ``.<id>.partial/`` as a kill -9 leaves it, last written at ``last_write``."""
    d = root / f".{bid}.partial"
    d.mkdir(parents=True)
    (d / "db.sqlite.zst").write_bytes(b"half an object")
    for p in (d / "db.sqlite.zst", d):
        os.utime(p, (last_write, last_write))
    return d


def test_the_next_run_removes_partial_directories_older_than_the_timeout(tmp_path: Path) -> None:
    cfg = load(local_config(tmp_path))
    root = tmp_path / "backups" / "nightly"
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    dead = leftover(root, "20261123T090000Z-dead", (now - timedelta(hours=2)).timestamp())
    live = leftover(root, "20261123T115000Z-live", (now - timedelta(minutes=10)).timestamp())
    os.utime(live, ((now - timedelta(hours=5)).timestamp(),) * 2)  # an old directory still being written
    result = run_backup(cfg, "nightly", now=lambda: now)
    assert result.partials_removed == [dead.name]
    assert not dead.exists() and live.exists()
    assert result.to_dict()["partials_removed"] == [dead.name]


def test_prune_removes_partial_directories_older_than_the_timeout(tmp_path: Path) -> None:
    cfg_path = local_config(tmp_path, ", keep: {last: 3}")
    cfg = load(cfg_path)
    root = tmp_path / "backups" / "nightly"
    now = datetime.now(UTC)
    dead = leftover(root, "20261123T090000Z-dead", (now - timedelta(hours=1, seconds=5)).timestamp())
    fresh = leftover(root, "20261123T115000Z-live", now.timestamp())
    dry = prune(cfg, "nightly", set(), now, dry_run=True)
    assert dry["partials"] == [dead.name] and dead.exists()
    r = opsbook("backup", "prune", "nightly", "--json", "-c", str(cfg_path))
    assert r.code == 0, r.text
    assert r.json["partials"] == [dead.name]
    assert not dead.exists() and fresh.exists()


HANGING_PG_DUMP = """#!/bin/sh
# pg_dump that writes a little and then hangs, so the backup is caught mid-object
if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 16.0"; exit 0; fi
printf 'PGDMP-partial'
exec sleep 300
"""


def test_a_kill_9_mid_backup_leaves_a_partial_that_the_next_run_removes(tmp_path: Path) -> None:
    fake = tmp_path / "pg_dump"
    fake.write_text(HANGING_PG_DUMP)
    fake.chmod(0o755)
    with scratch_database("opsbook_bk_kill") as dsn:
        cfg_path = write_config(tmp_path, f"""
resources:
  db: {{kind: postgres, dsn: "{dsn}"}}
backups:
  nightly: {{source: db, path: ./backups, pg_dump: {fake}, timeout: 10m}}
""")
        root = tmp_path / "backups" / "nightly"
        p = subprocess.Popen([sys.executable, "-m", "opsbook", "backup", "run", "nightly", "-c", str(cfg_path)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not any(root.glob(".*.partial/*")) and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.05)
            assert any(root.glob(".*.partial/*")), "the backup never started writing"
        finally:
            os.killpg(p.pid, signal.SIGKILL)  # opsbook, pg_dump and zstd: nothing gets to clean up
            p.wait()
        partials = [d.name for d in root.glob(".*.partial")]
        assert len(partials) == 1
        fake.write_text(f"#!/bin/sh\nexec {shutil.which('pg_dump')} \"$@\"\n")  # a working pg_dump again
        cfg = load(cfg_path)
        soon = datetime.now(UTC) + timedelta(minutes=5)  # within the timeout: maybe still running
        later = datetime.now(UTC) + timedelta(minutes=11)
        assert run_backup(cfg, "nightly", now=lambda: soon).partials_removed == []
        assert run_backup(cfg, "nightly", now=lambda: later).partials_removed == partials
        assert list(root.glob(".*.partial")) == []
        assert len(read_catalog(storage_for(cfg, "nightly"), "nightly").backups) == 2


# --- the daemon applies keep: -------------------------------------------------------------------

class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_daemon_prunes_each_backup_after_its_successful_run(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db")
    clock = Clock(datetime.now(UTC) + timedelta(days=1))  # ahead of the backups' real timestamps
    cfg = load(write_config(tmp_path, """
resources:
  app-db: {kind: sqlite, path: ./app.db}
backups:
  nightly: {source: app-db, path: ./backups, schedule: "0 4 * * *", keep: {last: 2}}
serve: {jitter: 0}
"""))
    store = Store.open(cfg.store_url())
    s = Scheduler(cfg, store, log=Log(stream=io.StringIO()), clock=clock, rng=random.Random(7))

    async def run_when_due() -> None:
        row = next(r for r in leases.rows(store) if r.kind == "backup")
        clock.now = row.next_due + timedelta(seconds=1)
        await s.tick(clock.now)
        await s.drain(60)

    try:
        for _ in range(3):
            asyncio.run(run_when_due())
        runs = store.runs("backup", limit=10)
        assert len(runs) == 3 and all(r["ok"] for r in runs)
        kept = [m.id for m in read_catalog(storage_for(cfg, "nightly"), "nightly").backups]
        assert len(kept) == 2
        prunes = store.runs("backup-prune", limit=10)
        assert len(prunes) == 3 and all(r["ok"] for r in prunes)
        assert prunes[0]["detail"]["kept"] == kept[::-1] and len(prunes[0]["detail"]["deleted"]) == 1
    finally:
        store.close()
