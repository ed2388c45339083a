"""A full disk under the store is "the store's disk is full" (exit 3), never an internal error,
and what was stored before is kept."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.errors import EXIT_COULD_NOT_RUN, StoreDiskFull
from opsbook.results import CheckResult
from opsbook.store import Store
from tests.support.clirun import opsbook

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def result(name: str, at: datetime, summary: str) -> CheckResult:
    return CheckResult(name=name, kind="command", status="pass", summary=summary, started_at=at,
                       finished_at=at + timedelta(milliseconds=5), duration_ms=5.0, env=None,
                       observations={"stdout": summary}, assertions=[])


def make_full(store: Store) -> None:
    """SQLite's max_page_count caps the file at its current size: the next page it needs
    fails with SQLITE_FULL, exactly as a full disk does (per connection, so only this store)."""
    with store.db.read() as tx:
        row = tx.one("PRAGMA page_count")
        assert row is not None
        tx.one(f"PRAGMA max_page_count = {int(row[0])}")


def test_a_full_sqlite_store_raises_disk_full_and_keeps_earlier_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        store.record_results([result("api", T0 + timedelta(minutes=i), f"run {i}") for i in range(3)])
        make_full(store)
        with pytest.raises(StoreDiskFull) as info:
            store.record_results([result("api", T0 + timedelta(hours=1), "x" * 400_000)])
        assert info.value.exit_code == EXIT_COULD_NOT_RUN
        assert "the store's disk is full" in info.value.message and info.value.hint
        # the failed write left no transaction behind: the same connection still reads
        assert [r.summary for r in store.history("api")] == ["run 2", "run 1", "run 0"]
    with Store.open(url) as store:  # and a fresh process sees the same rows, nothing half-written
        assert [r.summary for r in store.history("api")] == ["run 2", "run 1", "run 0"]
        store.record_results([result("api", T0 + timedelta(hours=2), "after")])  # usable again
        assert store.history("api")[0].summary == "after"


def test_repeated_disk_full_writes_are_reported_and_leave_no_transaction_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        store.record_results([result("api", T0, "kept")])
        make_full(store)
        for _ in range(2):  # the second attempt must not trip over the first one's transaction
            with pytest.raises(StoreDiskFull), store.db.transaction() as tx:
                tx.execute("CREATE TABLE filler (v TEXT)")
                tx.execute("INSERT INTO filler VALUES (?)", ("y" * 400_000,))
        assert [r.summary for r in store.history("api")] == ["kept"]


# -- a real full filesystem (root only) ---------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (room for the store's schema, not much more), unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the max_page_count tests above cover SQLITE_FULL")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"mount is not permitted here: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def fill(d: Path, leave: int = 0) -> Path:
    """Take every free byte of the filesystem holding ``d`` but ``leave``."""
    filler = d / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def config(tiny_fs: Path, tmp_path: Path) -> Path:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(f"""\
version: 1
store: {{url: "sqlite:///{tiny_fs}/store.db"}}
checks:
  small: {{command: {{run: "echo ready"}}}}
  big: {{command: {{run: "head -c 200000 /dev/zero | tr '\\\\0' x"}}}}
""")
    return cfg


def test_a_disk_filling_up_during_the_commit_says_the_store_disk_is_full(tiny_fs: Path, tmp_path: Path) -> None:
    """The reported case: the store opens, the COMMIT finds no room for the WAL (SQLite then
    ends the transaction itself, and the old ROLLBACK raised "no transaction is active")."""
    cfg = config(tiny_fs, tmp_path)
    assert opsbook("check", "small", "-c", str(cfg)).code == 0
    filler = fill(tiny_fs, leave=96 * 1024)  # room to open the store, not for a 200 KB result
    r = opsbook("check", "big", "-c", str(cfg))
    assert r.code == 3, r.text
    assert "the store's disk is full" in r.stderr and "internal error" not in r.text
    filler.unlink()
    h = opsbook("history", "small", "--json", "-c", str(cfg))
    assert h.code == 0 and [x["status"] for x in h.json["results"]] == ["pass"], h.text
    assert opsbook("history", "big", "--json", "-c", str(cfg)).json["results"] == []


def test_check_on_a_full_disk_says_the_store_disk_is_full_and_exits_3(tiny_fs: Path, tmp_path: Path) -> None:
    cfg = config(tiny_fs, tmp_path)
    assert opsbook("check", "small", "-c", str(cfg)).code == 0
    filler = fill(tiny_fs)
    r = opsbook("check", "big", "-c", str(cfg))
    assert r.code == 3, r.text
    assert "the store's disk is full" in r.stderr and "internal error" not in r.text
    # even reading needs a few free blocks (SQLite's shared-memory file): free the space first
    filler.unlink()
    h = opsbook("history", "small", "--json", "-c", str(cfg))
    assert h.code == 0 and [x["status"] for x in h.json["results"]] == ["pass"], h.text
    assert opsbook("history", "big", "--json", "-c", str(cfg)).json["results"] == []  # nothing half-written
    assert opsbook("check", "big", "-c", str(cfg)).code == 0  # and the store works again
    assert opsbook("history", "big", "--json", "-c", str(cfg)).json["results"][0]["status"] == "pass"
