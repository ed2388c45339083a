"""The file receiver writes one JSON line per notification, or to stdout with path "-"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsbook.notify.pipeline import deliver_due, process
from opsbook.store import Store
from tests.support.helpers import load
from tests.support.notifyutil import T0, alert, sqlite_store

__all__ = ["sqlite_store"]


def test_file_receiver_appends_json_lines_relative_to_the_config(sqlite_store: Store, tmp_path: Path) -> None:
    cfg = load("""
        notify:
          route: {receiver: log, group_wait: 0s, group_by: [alertname]}
          receivers: {log: {file: {path: logs/notifications.jsonl}}}
        """, tmp_path)
    process(cfg, sqlite_store, [alert("a"), alert("b")], T0)
    assert deliver_due(cfg, sqlite_store, T0)["delivered"] == 2
    lines = (tmp_path / "logs" / "notifications.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["group_labels"]["alertname"] for x in lines) == ["a", "b"]


def test_file_receiver_dash_writes_to_stdout(sqlite_store: Store, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load("""
        notify:
          route: {receiver: out, group_wait: 0s}
          receivers: {out: {file: {path: "-"}}}
        """, tmp_path)
    process(cfg, sqlite_store, [alert("a")], T0)
    deliver_due(cfg, sqlite_store, T0)
    assert json.loads(capsys.readouterr().out)["schema"] == "opsbook.notification/1"
