"""Routing, grouping and timers with Alertmanager's semantics, delivered to file receivers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsbook.config.load import Config
from opsbook.errors import ConfigErrors
from opsbook.notify import acks, groups, silences
from opsbook.notify.pipeline import deliver_due, process
from opsbook.rules.model import AlertInstance
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.notifyutil import T0, alert, minutes, sqlite_store

__all__ = ["sqlite_store"]


class Harness:
    def __init__(self, cfg: Config, store: Store, tmp_path: Path) -> None:
        self.cfg, self.store, self.dir = cfg, store, tmp_path

    def tick(self, alerts: list[AlertInstance], at: datetime) -> None:
        process(self.cfg, self.store, alerts, at)
        deliver_due(self.cfg, self.store, at)

    def run(self, alerts: list[AlertInstance], start: datetime, end: datetime, step: float = 15) -> None:
        t = start
        while t <= end:
            self.tick(alerts, t)
            t += timedelta(seconds=step)

    def sent(self, name: str = "out") -> list[dict[str, Any]]:
        p = self.dir / f"{name}.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    def summary(self, name: str = "out") -> list[tuple[str, str, list[str]]]:
        return [(d["reason"], d["status"], sorted(a["labels"]["alertname"] + ":" + a["state"] for a in d["alerts"]))
                for d in self.sent(name)]


def harness(tmp_path: Path, store: Store, notify: str) -> Harness:
    return Harness(load("notify:\n" + notify, tmp_path), store, tmp_path)


BASIC = """
  route: {receiver: out, group_by: [alertname]}
  receivers:
    out: {file: {path: out.jsonl}}
"""


def test_a_new_group_waits_group_wait_before_its_first_notification(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    h.run([alert("api-down")], T0, T0 + timedelta(seconds=29))
    assert h.sent() == []
    h.tick([alert("api-down")], T0 + timedelta(seconds=30))
    assert h.summary() == [("firing", "firing", ["api-down:firing"])]


def test_pending_alerts_never_notify(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    h.run([alert("api-down", "pending")], T0, T0 + minutes(10))
    assert h.sent() == [] and groups.list_groups(sqlite_store) == []


def test_an_alert_joining_a_group_waits_for_the_next_group_interval(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    a1, a2 = alert("api-down", env="prod"), alert("api-down", env="staging")
    h.run([a1], T0, T0 + minutes(1))
    h.run([a1, a2], T0 + minutes(1), T0 + minutes(5))
    assert len(h.sent()) == 1  # next look is at 5m30s
    h.run([a1, a2], T0 + minutes(5), T0 + minutes(6))
    assert h.summary()[1] == ("changed", "firing", ["api-down:firing", "api-down:firing"])


def test_an_unchanged_firing_group_repeats_after_repeat_interval_only(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    h.run([alert("api-down")], T0, T0 + timedelta(hours=4), step=60)
    assert len(h.sent()) == 1
    h.run([alert("api-down")], T0 + timedelta(hours=4, minutes=1), T0 + timedelta(hours=4, minutes=10), step=60)
    assert [s[0] for s in h.summary()] == ["firing", "repeat"]


def test_a_resolved_group_notifies_once_and_is_dropped(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    h.run([alert("api-down")], T0, T0 + minutes(1))
    h.run([alert("api-down", "resolved")], T0 + minutes(2), T0 + minutes(20))
    assert h.summary() == [("firing", "firing", ["api-down:firing"]), ("resolved", "resolved", ["api-down:resolved"])]
    assert groups.list_groups(sqlite_store) == []


def test_an_alert_that_vanishes_counts_as_resolved(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    h.run([alert("api-down")], T0, T0 + minutes(1))
    h.run([], T0 + minutes(2), T0 + minutes(10))
    assert [s[1] for s in h.summary()] == ["firing", "resolved"]


def test_an_alert_resolving_inside_group_wait_sends_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    h.tick([alert("api-down")], T0)
    h.run([alert("api-down", "resolved")], T0 + timedelta(seconds=15), T0 + minutes(10))
    assert h.sent() == []


def test_first_matching_route_wins_unless_continue(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, """
  route:
    receiver: default
    group_wait: 0s
    routes:
      - {match: {severity: page}, receiver: pager, continue: true}
      - {match_re: {service: "api|web"}, receiver: chat}
      - {match: {service: api}, receiver: never}
  receivers:
    default: {file: {path: default.jsonl}}
    pager: {file: {path: pager.jsonl}}
    chat: {file: {path: chat.jsonl}}
    never: {file: {path: never.jsonl}}
""")
    h.tick([alert("api-down", service="api"), alert("disk", severity="ticket", service="db")], T0)
    assert [d["group_labels"]["alertname"] for d in h.sent("pager")] == ["api-down"]
    assert [d["group_labels"]["alertname"] for d in h.sent("chat")] == ["api-down"]
    assert [d["group_labels"]["alertname"] for d in h.sent("default")] == ["disk"]
    assert h.sent("never") == []


def test_short_form_routes_send_to_every_listed_receiver(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, """
  route: {group_wait: 0s}
  routes:
    - {match: {severity: page}, to: [a, b]}
  receivers:
    a: {file: {path: a.jsonl}}
    b: {file: {path: b.jsonl}}
""")
    h.tick([alert("api-down"), alert("disk", severity="ticket")], T0)
    assert len(h.sent("a")) == len(h.sent("b")) == 1  # the ticket matches no route: sent nowhere


def test_group_by_splits_alerts_into_groups(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC.replace("[alertname]", "[alertname, env]"))
    h.run([alert("api-down", env="prod"), alert("api-down", env="staging")], T0, T0 + minutes(1))
    assert sorted(d["group_labels"]["env"] for d in h.sent()) == ["prod", "staging"]


def test_silenced_alerts_are_not_sent_and_go_out_when_the_silence_ends(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC)
    s = silences.add(sqlite_store, ["alertname=api-down"], "ana", "deploy", None, T0 + minutes(30), T0)
    h.run([alert("api-down"), alert("db-down")], T0, T0 + minutes(29))
    assert [d["group_labels"]["alertname"] for d in h.sent()] == ["db-down"]
    silences.expire(sqlite_store, s.id, T0 + minutes(29), "ana")
    h.run([alert("api-down"), alert("db-down")], T0 + minutes(29), T0 + minutes(40))
    assert [d["group_labels"]["alertname"] for d in h.sent()] == ["db-down", "api-down"]


def test_an_inhibited_alert_is_not_sent_while_its_source_fires(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC + """
  inhibit_rules:
    - {source_match: {severity: page}, target_match: {severity: ticket}, equal: [env]}
""")
    page, ticket = alert("db-down", env="prod"), alert("slow-queries", severity="ticket", env="prod")
    other_env = alert("slow-queries", severity="ticket", env="staging")
    h.run([page, ticket, other_env], T0, T0 + minutes(1))
    assert sorted(a["labels"]["env"] for d in h.sent() for a in d["alerts"]) == ["prod", "staging"]
    assert {d["group_labels"]["alertname"] for d in h.sent()} == {"db-down", "slow-queries"}


def test_an_acknowledged_group_stops_repeating_until_a_new_alert_fires(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC.replace("group_by: [alertname]", "group_by: [alertname], "
                                                      "repeat_interval: 1h"))
    a1, a2 = alert("api-down", env="prod"), alert("api-down", env="eu")
    h.run([a1], T0, T0 + minutes(1))
    (g,) = groups.list_groups(sqlite_store)
    ack = acks.acknowledge(sqlite_store, g.group_id, "ana", T0 + minutes(2), "on it")
    assert ack.by == "ana" and ack.enqueued == []  # no PagerDuty receiver here
    h.run([a1], T0 + minutes(2), T0 + minutes(180), step=60)
    assert len(h.sent()) == 1  # no repeats
    assert groups.list_groups(sqlite_store)[0].acked_by == "ana"
    h.run([a1, a2], T0 + minutes(181), T0 + minutes(190), step=60)
    assert [s[0] for s in h.summary()] == ["firing", "changed"]
    assert groups.list_groups(sqlite_store)[0].acked_by is None  # re-armed


NIGHTS = """
  route:
    receiver: out
    group_by: [alertname]
    group_wait: 0s
    mute_time_intervals: [nights]
  receivers:
    out: {file: {path: out.jsonl}}
  time_intervals:
    nights: [{times: [{start: "22:00", end: "07:00"}], location: Europe/Paris}]
"""


def test_a_mute_time_interval_holds_sends_until_it_ends(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, NIGHTS)
    night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # midnight in Paris
    h.run([alert("api-down")], night, night + timedelta(hours=5, minutes=59), step=300)
    assert h.sent() == []
    h.tick([alert("api-down")], datetime(2026, 11, 24, 6, 0, tzinfo=UTC))  # 07:00 in Paris
    assert len(h.sent()) == 1


def test_an_active_time_interval_sends_only_inside_it(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, NIGHTS.replace("mute_time_intervals: [nights]",
                                                       "active_time_intervals: [office]").replace(
        "nights: [", "office: [{weekdays: ['monday:friday'], times: [{start: '09:00', end: '18:00'}]}]\n    x: ["))
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    h.run([alert("api-down")], saturday, saturday + timedelta(hours=40), step=3600)
    assert h.sent() == []
    h.tick([alert("api-down")], datetime(2026, 11, 30, 9, 0, tzinfo=UTC))  # Monday 09:00
    assert len(h.sent()) == 1


def test_send_resolved_false_skips_resolve_notifications(sqlite_store: Store, tmp_path: Path) -> None:
    h = harness(tmp_path, sqlite_store, BASIC.replace("out: {file: {path: out.jsonl}}",
                                                      "out: {file: {path: out.jsonl}, send_resolved: false}"))
    h.run([alert("api-down")], T0, T0 + minutes(1))
    h.run([alert("api-down", "resolved")], T0 + minutes(2), T0 + minutes(20))
    assert [s[1] for s in h.summary()] == ["firing"]
    assert groups.list_groups(sqlite_store) == []


def test_group_state_survives_a_restart(tmp_path: Path) -> None:
    cfg = load("notify:\n" + BASIC, tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    for i in range(3):  # a fresh store object each minute, like a restarted daemon
        s = Store.open(url)
        process(cfg, s, [alert("api-down")], T0 + minutes(i))
        deliver_due(cfg, s, T0 + minutes(i))
        s.close()
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(("notify", "message"), [
    ("route: {receiver: nope}\n  receivers: {out: {file: {path: x}}}", "no receiver named 'nope'"),
    ("route: {receiver: out, mute_time_intervals: [nights]}\n  receivers: {out: {file: {path: x}}}",
     "no time interval named 'nights'"),
    ("routes: [{to: [a]}]\n  receivers: {out: {file: {path: x}}}", "no receiver named 'a'"),
    ("receivers: {out: {file: {path: x}, webhook: {url: 'http://x'}}}", "exactly one kind"),
    ("route: {receiver: out, match_re: {a: '('}}\n  receivers: {out: {file: {path: x}}}", "not a regular"),
])
def test_config_errors_name_the_path(tmp_path: Path, notify: str, message: str) -> None:
    with pytest.raises(ConfigErrors) as e:
        load("notify:\n  " + notify, tmp_path)
    assert message in str(e.value) and "notify." in str(e.value)
