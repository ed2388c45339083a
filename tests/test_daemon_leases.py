"""Claims are compare-and-set UPDATEs with a lease, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.daemon import leases
from opsbook.daemon.schedule import Unit
from opsbook.store import Store
from tests.support.pgutil import scratch_database

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
UNITS = [Unit("check", f"c{i}", "", every=1.0) for i in range(40)]


@pytest.fixture(scope="module")
def pg_dsn() -> Iterator[str]:
    with scratch_database() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, pg_dsn: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield pg_dsn


def seeded(url: str) -> Store:
    store = Store.open(url)
    with store.db.transaction() as tx:  # one scratch database per module: start each test from no rows
        tx.execute("DELETE FROM schedule_units")
    leases.sync_units(store, [(u, T0, T0) for u in UNITS])
    leases.sync_units(store, [(u, T0, T0) for u in UNITS])  # idempotent: a second replica starting
    return store


def test_racing_claimers_each_win_different_units_and_together_all_of_them(store_url: str) -> None:
    seeded(store_url).close()
    keys = {u.key for u in UNITS}
    won: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def claimer(owner: str) -> None:
        store = Store.open(store_url, migrate=False)
        try:
            barrier.wait()
            won[owner] = [c.unit_key for c in leases.claim_due(store, owner, keys, T0, 30)]
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(f"owner{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    claimed = [k for ks in won.values() for k in ks]
    assert sorted(claimed) == sorted(keys)  # every unit claimed exactly once


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_finish(store_url: str) -> None:
    store = seeded(store_url)
    keys = {UNITS[0].key}
    try:
        assert [c.unit_key for c in leases.claim_due(store, "a", keys, T0, 10)] == [UNITS[0].key]
        assert leases.claim_due(store, "b", keys, T0 + timedelta(seconds=5), 10) == []  # still leased
        taken = leases.claim_due(store, "b", keys, T0 + timedelta(seconds=11), 10)  # "a" died: lease expired
        assert [c.unit_key for c in taken] == [UNITS[0].key]
        later = T0 + timedelta(seconds=12)
        assert not leases.finish(store, "a", UNITS[0].key, slot=later, due=later, now=later, status="pass",
                                 error=None, failures=0)
        assert leases.finish(store, "b", UNITS[0].key, slot=later, due=later + timedelta(seconds=1), now=later,
                             status="pass", error=None, failures=0)
        row = next(r for r in leases.rows(store) if r.unit_key == UNITS[0].key)
        assert row.lease_owner is None and row.runs == 1 and row.next_due == later + timedelta(seconds=1)
    finally:
        store.close()


def test_a_changed_schedule_reschedules_the_row_on_reload(store_url: str) -> None:
    store = seeded(store_url)
    try:
        hourly = Unit("check", "c0", "", every=3600.0)
        leases.sync_units(store, [(hourly, T0 + timedelta(hours=1), T0 + timedelta(hours=1))])
        row = next(r for r in leases.rows(store) if r.unit_key == hourly.key)
        assert row.next_due == T0 + timedelta(hours=1)
    finally:
        store.close()
