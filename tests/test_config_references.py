"""Names one section uses for another are checked at load, with a did-you-mean; zero intervals
are refused. Before: `job backup dayly ...` loaded and never fired; `every: 0s` ran every 60 s."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from opsbook.errors import ConfigErrors
from tests.support.clirun import opsbook
from tests.support.helpers import load

BASE = """
resources:
  app-db: {kind: sqlite, path: app.db}
  web: {kind: http, url: "http://127.0.0.1:9"}
checks:
  api-ready: {http: {resource: web}}
  db: {sqlite: {resource: app-db}}
heartbeats:
  worker: {every: 5m}
backups:
  daily: {source: app-db, path: ./backups}
drills:
  weekly: {backup: daily}
integrity:
  core:
    resource: app-db
    checks: [{row_count: {table: users, min: 1}}]
smoke:
  login: {base_url: "http://127.0.0.1:9", steps: [{get: /}]}
notify:
  receivers:
    ops: {file: {path: notifications.jsonl}}
  route: {receiver: ops}
"""


def merged(extra: str) -> str:
    """BASE with ``extra``'s sections merged in (one level deep: a section's keys are added)."""
    base, more = yaml.safe_load(BASE), yaml.safe_load(textwrap.dedent(extra))
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return yaml.safe_dump(base, sort_keys=False)


def problems(tmp_path: Path, extra: str) -> list[tuple[str, str]]:
    """(path, message) of each config error, loading BASE plus ``extra`` with the real loader."""
    with pytest.raises(ConfigErrors) as e:
        load(merged(extra), tmp_path)
    return [(err.path, err.detail) for err in e.value.errors]


def test_the_base_config_with_every_kind_of_reference_loads(tmp_path: Path) -> None:
    cfg = load(BASE + """
alerts:
  backup-late: {when: "job backup daily last_success_age > 26h"}
  drill-failing: {when: job drill weekly failing}
  suite-failing: {when: job integrity core failing}
  smoke-failing: {when: job smoke login failing}
  gate: {when: job gate ready failing}
  migration: {when: job migration users.csv failing}
  hb: {when: heartbeat worker down}
slos:
  backups: {objective: 99%, job: {kind: backup, name: daily}}
status_page:
  components: [{name: API, checks: [api-ready]}]
serve:
  schedules: {integrity: {core: "0 3 * * *"}}
""", tmp_path)
    assert set(cfg.model.alerts) >= {"backup-late", "migration"}


def test_a_misspelt_job_name_in_an_alert_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    got = problems(tmp_path, """
alerts:
  backup-late: {when: "job backup dayly last_success_age > 26h"}
""")
    assert got == [("alerts.backup-late.when", "no backup named 'dayly' (did you mean 'daily'?)")]


def test_an_alert_on_a_job_kind_opsbook_never_records_is_refused(tmp_path: Path) -> None:
    got = problems(tmp_path, """
alerts:
  worker-job: {when: "job worker nightly consecutive_failures >= 2"}
  drill: {when: job dril weekly failing}
""")
    assert got[0][0] == "alerts.worker-job.when"
    assert got[0][1].startswith("no job kind 'worker'; opsbook records runs of backup,")
    assert got[1] == ("alerts.drill.when", got[1][1])
    assert got[1][1].startswith("no job kind 'dril' (did you mean 'drill'?)")


def test_a_misspelt_slo_job_is_refused(tmp_path: Path) -> None:
    got = problems(tmp_path, """
slos:
  suite: {objective: 99%, job: {kind: integrity, name: cor}}
""")
    assert got == [("slos.suite.job", "no integrity suite named 'cor' (did you mean 'core'?)")]


@pytest.mark.parametrize(("extra", "path", "message"), [
    ("alerts: {a: {when: check api-redy failing}}", "alerts.a.when",
     "no check named 'api-redy' (did you mean 'api-ready'?)"),
    ("alerts: {a: {when: heartbeat wroker down}}", "alerts.a.when",
     "no heartbeat named 'wroker' (did you mean 'worker'?)"),
    ("slos: {a: {objective: 99%, check: api-redy}}", "slos.a.check",
     "no check named 'api-redy' (did you mean 'api-ready'?)"),
    ("checks: {x: {http: {resource: web}, depends_on: [api-redy]}}", "checks.x.depends_on[0]",
     "no check named 'api-redy' (did you mean 'api-ready'?)"),
    ("drills: {d: {backup: dailly}}", "drills.d.backup", "no backup named 'dailly' (did you mean 'daily'?)"),
    ("drills: {d: {backup: daily, verify: {integrity: coer}}}", "drills.d.verify.integrity",
     "no integrity suite named 'coer' (did you mean 'core'?)"),
    ("integrity: {s: {resource: app_db, checks: [{row_count: {table: t, min: 1}}]}}", "integrity.s.resource",
     "no resource named 'app_db' (did you mean 'app-db'?)"),
    ("status_page: {components: [{name: API, checks: [api-redy]}]}", "status_page.components[0].checks[0]",
     "no check named 'api-redy' (did you mean 'api-ready'?)"),
    ("serve: {schedules: {integrity: {coer: '0 3 * * *'}}}", "serve.schedules.integrity.coer",
     "no integrity suite named 'coer' (did you mean 'core'?)"),
    ("maintenance: [{name: m, schedule: '0 3 * * *', duration: 1h, checks: [dbb]}]", "maintenance[0].checks[0]",
     "no check named 'dbb' (did you mean 'db'?)"),
])
def test_every_reference_names_its_path_and_the_closest_name(
        tmp_path: Path, extra: str, path: str, message: str) -> None:
    assert (path, message) in problems(tmp_path, extra)


def test_a_misspelt_receiver_in_a_route_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE.replace("route: {receiver: ops}", "route: {receiver: ops, routes: [{to: [opps]}]}")
    with pytest.raises(ConfigErrors) as e:
        load(text, tmp_path)
    assert [(x.path, x.detail) for x in e.value.errors] == [
        ("notify.route.routes[0].to[0]", "no receiver named 'opps' (did you mean 'ops'?)")]


def test_config_validate_exits_2_naming_the_path_and_the_suggestion(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(BASE + 'alerts:\n  backup-late: {when: "job backup dayly last_success_age > 26h"}\n')
    r = opsbook("config", "validate", "-c", str(cfg))
    assert r.code == 2, r.text
    assert "alerts.backup-late.when" in r.text
    assert "no backup named 'dayly' (did you mean 'daily'?)" in r.text
    assert "Traceback" not in r.text


@pytest.mark.parametrize(("extra", "path"), [
    ("checks: {x: {http: {resource: web}, every: 0s}}", "checks.x.every"),
    ("checks: {x: {http: {resource: web}, timeout: 0}}", "checks.x.timeout"),
    ("defaults: {every: 0s}", "defaults.every"),
    ("heartbeats: {h: {every: 0s}}", "heartbeats.h.every"),
    ("heartbeats: {h: {every: 5m, grace: 0s}}", "heartbeats.h.grace"),
    ("serve: {tick: 0s}", "serve.tick"),
    ("serve: {rules_every: 0ms}", "serve.rules_every"),
    ("notify: {route: {receiver: ops, repeat_interval: 0s}, receivers: {ops: {file: {path: x}}}}",
     "notify.route.repeat_interval"),
    ("integrity: {s: {resource: app-db, timeout: 0s, checks: [{row_count: {table: t, min: 1}}]}}",
     "integrity.s.timeout"),
])
def test_a_zero_interval_is_refused_instead_of_falling_back_to_a_default(
        tmp_path: Path, extra: str, path: str) -> None:
    got = dict(problems(tmp_path, extra))
    assert path in got, got
    assert "must be longer than 0s" in got[path]


def test_every_0s_makes_the_cli_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "opsbook.yaml"
    cfg.write_text(BASE.replace("api-ready: {http: {resource: web}}", "api-ready: {http: {resource: web}, every: 0s}"))
    r = opsbook("config", "validate", "-c", str(cfg))
    assert r.code == 2, r.text
    assert "checks.api-ready.every" in r.text and "'0s' must be longer than 0s" in r.text
