"""GFS retention is a pure function of (backups, now, policy, verified ids)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsbook.config.backups import Keep
from opsbook.jobs.backup.retention import Item, plan

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def daily_backups(days: int, per_day: int = 1) -> list[Item]:
    out = []
    for d in range(days):
        for h in range(per_day):
            at = NOW - timedelta(days=d, hours=9 - h)
            out.append(Item(f"{at:%Y%m%dT%H%M%SZ}-{d:02d}{h}", at))
    return out


def kept(decisions: list) -> set[str]:  # type: ignore[type-arg]
    return {d.id for d in decisions if d.keep}


def test_last_keeps_exactly_the_n_newest() -> None:
    items = daily_backups(10)
    decisions = plan(items, NOW, Keep(last=3))
    newest = sorted(items, key=lambda i: i.created, reverse=True)
    assert kept(decisions) == {i.id for i in newest[:3]}


def test_daily_keeps_the_newest_backup_of_each_day() -> None:
    items = daily_backups(5, per_day=3)
    decisions = plan(items, NOW, Keep(daily=2))
    by_day: dict[str, list[Item]] = {}
    for i in items:
        by_day.setdefault(i.created.date().isoformat(), []).append(i)
    days = sorted(by_day, reverse=True)[:2]
    assert kept(decisions) == {max(by_day[d], key=lambda i: i.created).id for d in days}


def test_weekly_and_monthly_reach_back_in_time() -> None:
    items = daily_backups(400)
    decisions = plan(items, NOW, Keep(daily=7, weekly=4, monthly=12))
    k = kept(decisions)
    months = {i.created.strftime("%Y-%m") for i in items if i.id in k}
    assert len(months) == 12
    assert 7 + 1 <= len(k) <= 7 + 4 + 12
    oldest_kept = min(i.created for i in items if i.id in k)
    assert oldest_kept < NOW - timedelta(days=300)


def test_a_zero_policy_still_keeps_the_newest_good_backup() -> None:
    items = daily_backups(5)
    decisions = plan(items, NOW, Keep())
    newest = max(items, key=lambda i: i.created)
    assert kept(decisions) == {newest.id}
    assert "floor: newest good backup" in decisions[0].reasons


def test_the_newest_drill_verified_backup_is_never_deleted() -> None:
    items = daily_backups(30)
    old = sorted(items, key=lambda i: i.created)[3]
    decisions = plan(items, NOW, Keep(last=2), verified={old.id})
    assert old.id in kept(decisions)
    assert any("drill-verified" in r for d in decisions if d.id == old.id for r in d.reasons)


def test_a_pause_in_backups_does_not_make_daily_delete_everything() -> None:
    items = [Item(f"b{n}", NOW - timedelta(days=60 + n)) for n in range(10)]
    assert len(kept(plan(items, NOW, Keep(daily=3)))) == 3


def test_every_deletion_says_why() -> None:
    decisions = plan(daily_backups(5), NOW, Keep(last=1))
    assert all(d.reasons for d in decisions)
    assert next(d.reasons for d in decisions if not d.keep) == ["outside the keep: policy"]
