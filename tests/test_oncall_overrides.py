"""On-call overrides: listing and deleting them (docs/oncall.md "Overrides"), on both store dialects
with injected times, and `opsbook oncall override add|list|delete` with JSON and exit codes (the
old `oncall override SCHEDULE --person ...` form still adds one)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.errors import UsageError
from opsbook.ops import oncall as ops
from opsbook.store import Store
from tests.support.clirun import opsbook
from tests.support.helpers import load

CONFIG = """
people:
  alice: {}
  bob: {}
oncall:
  primary:
    layers:
      - {people: [alice, bob], rotation: 1d, handoff: "09:00", start: 2026-03-27}
  secondary:
    layers:
      - {people: [bob], rotation: 1w, start: 2026-03-27}
"""
NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)


def test_overrides_are_listed_by_schedule_without_the_ended_ones_unless_asked(any_store: Store,
                                                                               tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    old = ops.override(cfg, any_store, "primary", "bob", NOW - timedelta(hours=5), NOW + timedelta(hours=1),
                       "ana", "swap", NOW - timedelta(hours=6)).override
    soon = ops.override(cfg, any_store, "primary", "alice", NOW + timedelta(hours=2), NOW + timedelta(hours=4),
                        "ana", "", NOW).override
    other = ops.override(cfg, any_store, "secondary", "alice", NOW, NOW + timedelta(days=1), "ana", "", NOW).override
    assert [o.id for o in ops.list_overrides(cfg, any_store, "primary", NOW).overrides] == [old.id, soon.id]
    assert [o.id for o in ops.list_overrides(cfg, any_store, None, NOW).overrides] == [old.id, other.id, soon.id]
    later = NOW + timedelta(hours=3)  # old has ended by then
    assert [o.id for o in ops.list_overrides(cfg, any_store, "primary", later).overrides] == [soon.id]
    doc = ops.list_overrides(cfg, any_store, "primary", later, ended=True).to_dict()
    assert doc["schema"] == "opsbook.oncall-overrides/1" and [o["id"] for o in doc["overrides"]] == [old.id, soon.id]
    with pytest.raises(UsageError, match="did you mean 'primary'"):
        ops.list_overrides(cfg, any_store, "primry", NOW)


def test_a_deleted_override_no_longer_decides_who_is_on_call_and_a_second_delete_is_refused(
        any_store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    o = ops.override(cfg, any_store, "primary", "bob", NOW, NOW + timedelta(hours=2), "ana", "", NOW).override
    at = NOW + timedelta(hours=1)
    assert ops.now(cfg, any_store, at, "primary").schedules[0].current.source == "override"  # type: ignore[union-attr]
    assert ops.delete_override(any_store, o.id) == o
    assert ops.now(cfg, any_store, at, "primary").schedules[0].current.source != "override"  # type: ignore[union-attr]
    with pytest.raises(UsageError, match=f"no on-call override '{o.id}'") as e:
        ops.delete_override(any_store, o.id)
    assert e.value.exit_code == 2 and "oncall override list" in e.value.hint


def test_the_override_commands_add_list_and_delete_with_json_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(textwrap.dedent(CONFIG))
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    old_form = opsbook("oncall", "override", "primary", "--person", "bob", "--from", start, "--for", "4h",
                       "--json", cwd=tmp_path)
    assert old_form.code == 0, old_form.text
    added = opsbook("oncall", "override", "add", "secondary", "--person", "alice", "--from", start, "--for", "1h",
                    "--reason", "swap", "--json", cwd=tmp_path)
    assert added.code == 0 and added.json["schema"] == "opsbook.oncall-override/1"
    listed = opsbook("oncall", "override", "list", "--json", cwd=tmp_path)
    assert listed.code == 0 and listed.json["schema"] == "opsbook.oncall-overrides/1"
    assert {o["id"] for o in listed.json["overrides"]} == {old_form.json["id"], added.json["id"]}
    one = opsbook("oncall", "override", "list", "secondary", cwd=tmp_path)
    assert one.code == 0 and added.json["id"] in one.stdout and old_form.json["id"] not in one.stdout
    gone = opsbook("oncall", "override", "delete", added.json["id"], "--json", cwd=tmp_path)
    assert gone.code == 0 and gone.json["deleted"]["id"] == added.json["id"]
    again = opsbook("oncall", "override", "delete", added.json["id"], cwd=tmp_path)
    assert again.code == 2 and "no on-call override" in again.stderr
    typo = opsbook("oncall", "override", "list", "secondry", cwd=tmp_path)
    assert typo.code == 2 and "did you mean 'secondary'" in typo.stderr
    left = opsbook("oncall", "override", "list", "--json", cwd=tmp_path).json["overrides"]
    assert [o["id"] for o in left] == [old_form.json["id"]]
