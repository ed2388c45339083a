"""Silences, groups and acks in the store behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.errors import UsageError
from opsbook.notify import acks, groups, silences
from opsbook.notify.matchers import Matcher
from opsbook.notify.pipeline import process
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.notifyutil import T0, alert, minutes


def test_a_silence_is_active_between_its_start_and_end_and_expiring_ends_it(any_store: Store) -> None:
    s = silences.add(any_store, ["alertname=api-down", "env=~prod|staging"], "ana", "deploy",
                     T0 + minutes(5), T0 + minutes(65), T0)
    assert silences.list_active(any_store, T0) == []
    (active,) = silences.list_active(any_store, T0 + minutes(5))
    assert active.matches({"alertname": "api-down", "env": "staging"})
    assert not active.matches({"alertname": "api-down", "env": "staging-2"})  # anchored
    expired = silences.expire(any_store, s.id[:5], T0 + minutes(10), "bob")
    assert expired.expired_by == "bob" and expired.state(T0 + minutes(10)) == "expired"
    assert silences.list_active(any_store, T0 + minutes(10)) == []
    assert [x.id for x in silences.list_all(any_store, T0 + minutes(10), include_expired=True)] == [s.id]


@pytest.mark.parametrize("bad", [[], ["env!=prod"], ["nope"]])
def test_a_silence_needs_matchers_that_select_something(any_store: Store, bad: list[str]) -> None:
    with pytest.raises(UsageError):
        silences.add(any_store, bad, "ana", "", None, T0 + minutes(5), T0)


def test_matchers_parse_all_four_operators() -> None:
    assert [str(Matcher.parse(t)) for t in ("a=b", "a!=b", "a=~b.*", 'a!~"x"')] == ["a=b", "a!=b", "a=~b.*", "a!~x"]


def test_groups_and_acks_round_trip(any_store: Store, tmp_path: Path) -> None:
    cfg = load("""
        notify:
          route: {receiver: out, group_wait: 0s}
          receivers: {out: {file: {path: out.jsonl}}}
        """, tmp_path)
    summary = process(cfg, any_store, [alert("api-down"), alert("db-down", "pending")], T0)
    assert summary["enqueued"] == 1
    (g,) = groups.list_groups(any_store)
    assert g.labels == {"alertname": "api-down"} and g.last_notified_at == T0
    assert process(cfg, any_store, [alert("api-down")], T0)["enqueued"] == 0  # same again: nothing new
    ack = acks.acknowledge(any_store, g.group_id[:6], "ana", T0 + minutes(1), "looking")
    assert ack.group_key == g.group_key
    assert groups.list_groups(any_store)[0].to_dict()["acked_by"] == "ana"
    with pytest.raises(UsageError):
        acks.acknowledge(any_store, "nope-nope", "ana", T0)
