"""On-call schedules: rotation and handoff arithmetic (DST-correct, in the schedule's zone),
layers and restrict windows, overrides in the store on both dialects, and the `opsbook oncall`
commands' exit codes and JSON. Times are injected; nothing reads the clock."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.config.oncall import Layer, Schedule
from opsbook.errors import ConfigErrors, UsageError
from opsbook.ops import oncall as ops
from opsbook.rules.oncall import on_call, shifts
from opsbook.store import Store
from opsbook.store import oncall as rows
from tests.support.clirun import opsbook
from tests.support.helpers import load


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def sched(*layers: dict[str, object], tz: str = "Europe/Berlin") -> Schedule:
    return Schedule(timezone=tz, layers=[Layer.model_validate(x) for x in layers])


def ov(person: str, start: datetime, end: datetime, created: datetime, oid: str = "o1") -> rows.OverrideRow:
    return rows.OverrideRow(oid, "primary", person, start, end, "ana", "swap", created)


def handoffs(s: Schedule, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    return [(x.person, x.start) for x in shifts(s, [], start, end)]


def test_a_daily_rotation_hands_off_at_nine_local_across_the_march_dst_change() -> None:
    # 2026-03-29 is the last Sunday of March: Berlin moves from CET (+1) to CEST (+2) at 02:00
    s = sched({"people": ["alice", "bob"], "rotation": "1d", "handoff": "09:00", "start": "2026-03-27"})
    got = shifts(s, [], utc(2026, 3, 28, 8), utc(2026, 3, 31, 7))
    assert [(x.person, x.start, x.end) for x in got] == [
        ("bob", utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),    # 09:00 CET -> 09:00 CEST: 23 hours
        ("alice", utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
        ("bob", utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)),
    ]


def test_a_daily_rotation_hands_off_at_nine_local_across_the_october_dst_change() -> None:
    # 2026-10-25 is the last Sunday of October: CEST (+2) back to CET (+1) at 03:00
    s = sched({"people": ["alice", "bob"], "rotation": "1d", "handoff": "09:00", "start": "2026-10-24"})
    got = shifts(s, [], utc(2026, 10, 24, 7), utc(2026, 10, 26, 8))
    assert [(x.person, x.start, x.end) for x in got] == [
        ("alice", utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),  # 25 hours
        ("bob", utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    ]
    assert (got[0].end - got[0].start) == timedelta(hours=25)


def test_a_weekly_rotation_cycles_people_in_order_and_nobody_is_on_call_before_its_start() -> None:
    s = sched({"people": ["a", "b", "c"], "rotation": "1w", "handoff": "10:00", "start": "2026-01-05"}, tz="UTC")
    assert handoffs(s, utc(2026, 1, 1), utc(2026, 2, 2, 10, 1)) == [
        ("a", utc(2026, 1, 5, 10)), ("b", utc(2026, 1, 12, 10)), ("c", utc(2026, 1, 19, 10)),
        ("a", utc(2026, 1, 26, 10)), ("b", utc(2026, 2, 2, 10))]
    assert on_call(s, [], utc(2026, 1, 4))[0] is None


def test_a_twelve_hour_rotation_hands_off_at_the_handoff_and_twelve_hours_later() -> None:
    s = sched({"people": ["day", "night"], "rotation": "12h", "handoff": "08:00", "start": "2026-03-28"})
    got = handoffs(s, utc(2026, 3, 28, 7), utc(2026, 3, 30, 6, 1))
    # local 08:00 and 20:00 on both sides of the DST change
    assert got == [("day", utc(2026, 3, 28, 7)), ("night", utc(2026, 3, 28, 19)), ("day", utc(2026, 3, 29, 6)),
                   ("night", utc(2026, 3, 29, 18)), ("day", utc(2026, 3, 30, 6))]


def test_a_restricted_later_layer_wins_in_its_weekday_window_and_the_earlier_layer_fills_the_rest() -> None:
    s = sched({"people": ["alice"], "rotation": "1w", "start": "2026-01-05"},
              {"people": ["carol"], "rotation": "1w", "start": "2026-01-05",
               "restrict": {"hours": "09:00-17:00", "days": ["mon", "tue", "wed", "thu", "fri"]}}, tz="UTC")
    got = shifts(s, [], utc(2026, 1, 9), utc(2026, 1, 12, 12))  # Friday to Monday noon
    assert [(x.person, x.start, x.end, x.source) for x in got] == [
        ("alice", utc(2026, 1, 9), utc(2026, 1, 9, 9), "layer 1"),
        ("carol", utc(2026, 1, 9, 9), utc(2026, 1, 9, 17), "layer 2"),
        ("alice", utc(2026, 1, 9, 17), utc(2026, 1, 12, 9), "layer 1"),  # the weekend: no window
        ("carol", utc(2026, 1, 12, 9), utc(2026, 1, 12, 12), "layer 2"),
    ]


def test_a_window_ending_before_it_starts_runs_past_midnight_and_a_lone_restricted_layer_leaves_gaps() -> None:
    s = sched({"people": ["owl"], "rotation": "1d", "start": "2026-01-01", "handoff": "12:00",
               "restrict": {"hours": "22:00-06:00", "days": ["sat"]}}, tz="UTC")
    got = shifts(s, [], utc(2026, 1, 9), utc(2026, 1, 12))
    assert [(x.person, x.start, x.end) for x in got] == [("owl", utc(2026, 1, 10, 22), utc(2026, 1, 11, 6))]
    current, upcoming = on_call(s, [], utc(2026, 1, 10, 12))
    assert current is None and upcoming is not None and upcoming.start == utc(2026, 1, 10, 22)


def test_an_override_wins_over_every_layer_and_the_later_created_override_wins_where_two_overlap() -> None:
    s = sched({"people": ["alice"], "rotation": "1w", "start": "2026-01-05"}, tz="UTC")
    overrides = [ov("bob", utc(2026, 1, 6, 10), utc(2026, 1, 6, 14), utc(2026, 1, 1), "o1"),
                 ov("carol", utc(2026, 1, 6, 12), utc(2026, 1, 6, 16), utc(2026, 1, 2), "o2")]
    got = shifts(s, overrides, utc(2026, 1, 6), utc(2026, 1, 7))
    assert [(x.person, x.start.hour, x.end.hour, x.source) for x in got] == [
        ("alice", 0, 10, "layer 1"), ("bob", 10, 12, "override"), ("carol", 12, 16, "override"),
        ("alice", 16, 0, "layer 1")]
    current, _ = on_call(s, overrides, utc(2026, 1, 6, 11))
    assert current is not None and (current.person, current.override_id) == ("bob", "o1")


def test_overrides_are_added_listed_by_overlap_and_deleted_on_both_dialects(any_store: Store) -> None:
    a = ov("bob", utc(2026, 1, 6, 10), utc(2026, 1, 6, 14), utc(2026, 1, 1), "o1")
    b = ov("carol", utc(2026, 1, 8), utc(2026, 1, 9), utc(2026, 1, 2), "o2")
    with any_store.transaction() as tx:
        rows.add(tx, a)
        rows.add(tx, b)
    with any_store.read() as tx:
        assert rows.overlapping(tx, "primary", utc(2026, 1, 6), utc(2026, 1, 10)) == [a, b]
        assert rows.overlapping(tx, "primary", utc(2026, 1, 6, 14), utc(2026, 1, 8)) == []  # half-open
        assert rows.overlapping(tx, "secondary", utc(2026, 1, 1), utc(2026, 2, 1)) == []
    with any_store.transaction() as tx:
        assert rows.delete(tx, "o1") is True
        assert rows.delete(tx, "o1") is False
    with any_store.read() as tx:
        assert rows.overlapping(tx, "primary", utc(2026, 1, 1), utc(2026, 2, 1)) == [b]


CONFIG = """
notify:
  receivers:
    ops: {file: {path: n.jsonl}}
  route: {receiver: ops}
people:
  alice: {name: Alice Example, contact: [ops]}
  bob: {}
oncall:
  primary:
    timezone: Europe/Berlin
    layers:
      - {people: [alice, bob], rotation: 1d, handoff: "09:00", start: 2026-03-27}
"""


def test_an_override_recorded_through_the_operation_is_who_is_on_call_with_since_and_until(
        any_store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    at = utc(2026, 3, 29, 12)  # alice's day
    before = ops.now(cfg, any_store, at).to_dict(cfg)["schedules"][0]
    assert before["person"]["display"] == "Alice Example" and before["person"]["contact"] == ["ops"]
    assert (before["since"], before["until"]) == (utc(2026, 3, 29, 7).isoformat(), utc(2026, 3, 30, 7).isoformat())
    ops.override(cfg, any_store, "primary", "bob", utc(2026, 3, 29, 10), utc(2026, 3, 29, 14), "ana", "dentist", at)
    after = ops.now(cfg, any_store, at, "primary").to_dict(cfg)["schedules"][0]
    assert (after["person"]["name"], after["source"], after["until"]) == (
        "bob", "override", utc(2026, 3, 29, 14).isoformat())
    assert after["next"]["person"]["name"] == "alice"
    with pytest.raises(UsageError, match="did you mean 'alice'"):
        ops.override(cfg, any_store, "primary", "alise", at, at + timedelta(hours=1), "ana", "", at)
    with pytest.raises(UsageError, match="end after it starts"):
        ops.override(cfg, any_store, "primary", "bob", at, at, "ana", "", at)


@pytest.mark.parametrize(("extra", "path", "detail"), [
    ("people: {alice: {contact: [opps]}}", "people.alice.contact[0]", "no receiver named 'opps' (did you mean 'ops'?)"),
    ("people: {alice: {}}\noncall: {p: {layers: [{people: [alise], start: 2026-01-01}]}}",
     "oncall.p.layers[0].people[0]", "no person named 'alise' (did you mean 'alice'?)"),
])
def test_unknown_receivers_and_people_are_config_errors_with_a_did_you_mean(
        tmp_path: Path, extra: str, path: str, detail: str) -> None:
    text = "notify: {receivers: {ops: {file: {path: n.jsonl}}}, route: {receiver: ops}}\n" + extra
    with pytest.raises(ConfigErrors) as e:
        load(text, tmp_path)
    assert [(x.path, x.detail) for x in e.value.errors] == [(path, detail)]


@pytest.mark.parametrize(("layer", "words"), [
    ("{people: [a], start: 2026-01-01, handoff: '9am'}", "not a time of day"),
    ("{people: [a], start: 2026-01-01, rotation: 10m}", "at least 1h"),
    ("{people: [a], start: 2026-01-01, restrict: {hours: '09:00'}}", "not a window"),
    ("{people: [], start: 2026-01-01}", "at least 1 item"),
])
def test_bad_layers_are_refused_when_the_config_loads(tmp_path: Path, layer: str, words: str) -> None:
    with pytest.raises(ConfigErrors, match=words):
        load(f"people: {{a: {{}}}}\noncall: {{p: {{layers: [{layer}]}}}}", tmp_path)


def test_an_unknown_timezone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="unknown timezone 'Europe/Berlinn'"):
        load("people: {a: {}}\noncall: {p: {timezone: Europe/Berlinn, layers: [{people: [a], start: 2026-01-01}]}}",
             tmp_path)


def test_the_oncall_commands_answer_json_and_refuse_unknown_names_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(textwrap.dedent(CONFIG))
    now = opsbook("oncall", "now", "--at", "2026-03-29T12:00:00Z", "--json", cwd=tmp_path)
    assert now.code == 0, now.text
    assert now.json["schema"] == "opsbook.oncall-now/1"
    assert now.json["schedules"][0]["person"]["name"] == "alice"
    show = opsbook("oncall", "show", "primary", "--from", "2026-03-28T08:00:00Z", "--days", "2", "--json", cwd=tmp_path)
    assert show.code == 0, show.text
    assert show.json["schema"] == "opsbook.oncall-shifts/1"
    assert [(s["person"], s["start"]) for s in show.json["shifts"]] == [
        ("bob", "2026-03-28T08:00:00+00:00"), ("alice", "2026-03-29T07:00:00+00:00"),
        ("bob", "2026-03-30T07:00:00+00:00")]  # 2 x 24 hours reach past the 09:00 CEST handoff
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    made = opsbook("oncall", "override", "primary", "--person", "bob", "--from", start.isoformat(), "--for", "4h",
                   "--reason", "swap", "--json", cwd=tmp_path)
    assert made.code == 0, made.text
    assert made.json["schema"] == "opsbook.oncall-override/1"
    assert (made.json["person"], made.json["reason"]) == ("bob", "swap")
    at = (start + timedelta(hours=1)).isoformat()
    assert opsbook("oncall", "now", "primary", "--at", at, "--json", cwd=tmp_path).json[
        "schedules"][0]["source"] == "override"
    text = opsbook("oncall", "show", "primary", "--from", start.isoformat(), "--days", "1", cwd=tmp_path)
    assert text.code == 0 and "override" in text.stdout
    unknown = opsbook("oncall", "now", "primry", cwd=tmp_path)
    assert unknown.code == 2 and "did you mean 'primary'" in unknown.stderr
    nobody = opsbook("oncall", "override", "primary", "--person", "bobb", "--for", "1h", "--json", cwd=tmp_path)
    assert nobody.code == 2 and "did you mean 'bob'" in nobody.json["error"]["message"]
    both = opsbook("oncall", "override", "primary", "--person", "bob", "--for", "1h", "--to", at, cwd=tmp_path)
    assert both.code == 2 and "one of them" in both.stderr


def test_a_schedule_starting_on_a_date_counts_shifts_from_that_day_at_the_handoff() -> None:
    layer = Layer.model_validate({"people": ["x"], "start": "2026-03-29", "handoff": "02:30", "rotation": "1d"})
    assert layer.start == date(2026, 3, 29)
    # 02:30 does not exist in Berlin that night: the first shift starts just past the gap (03:30 CEST)
    s = Schedule(timezone="Europe/Berlin", layers=[layer])
    assert shifts(s, [], utc(2026, 3, 28), utc(2026, 3, 29, 12))[0].start == utc(2026, 3, 29, 1, 30)


def test_a_one_person_layer_still_shows_one_shift_per_rotation_so_since_and_until_are_handoffs() -> None:
    s = sched({"people": ["solo"], "rotation": "1w", "handoff": "09:00", "start": "2026-01-05"})
    current, upcoming = on_call(s, [], utc(2026, 1, 14, 12))
    assert current is not None and upcoming is not None
    assert (current.start, current.end) == (utc(2026, 1, 12, 8), utc(2026, 1, 19, 8))
    assert (upcoming.person, upcoming.start) == ("solo", utc(2026, 1, 19, 8))


def test_a_long_override_in_force_is_reported_with_its_own_since_and_until() -> None:
    s = sched({"people": ["alice"], "rotation": "1d", "start": "2026-01-01"}, tz="UTC")
    long = ov("bob", utc(2026, 1, 1), utc(2026, 3, 1), utc(2025, 12, 1))
    current, _ = on_call(s, [long], utc(2026, 2, 1))
    assert current is not None and (current.person, current.start, current.end) == (
        "bob", utc(2026, 1, 1), utc(2026, 3, 1))
