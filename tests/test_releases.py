"""The release registry on both store dialects with an injected clock: idempotent records, a
conflicting record named, DORA numbers computed by hand, the deploy gate refusing for each reason
(and naming it), passing when clear, an override recorded; the releases: config checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsbook.errors import ConfigError, ConfigErrors, UsageError
from opsbook.ops import deploy_gate, incident, release, release_stats
from opsbook.ops.record import Recorder
from opsbook.store import Store
from opsbook.store import releases as rows
from tests.support.clirun import opsbook
from tests.support.helpers import load

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
CONFIG = """
releases:
  change_failure_window: 24h
  services:
    api: {components: [API]}
    web: {components: [Web]}
"""


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def rec(store: Store, cfg, service: str, version: str, hours: float, env: str = "production",  # type: ignore[no-untyped-def]
        **kw) -> release.Recorded:  # type: ignore[no-untyped-def]
    return release.record(store, cfg, service=service, version=version, env=env, by="ci", now=at(hours), **kw)


def config_errors(text: str, tmp_path: Path) -> list[ConfigError]:
    with pytest.raises((ConfigErrors, ConfigError)) as e:
        load(text, tmp_path)
    return e.value.errors if isinstance(e.value, ConfigErrors) else [e.value]


def test_recording_twice_is_idempotent_and_a_new_version_supersedes_the_current_one(any_store: Store,
                                                                                    tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    first = rec(any_store, cfg, "api", "v1.0.0", 0, commit="abc123", committed_at=at(-2))
    again = rec(any_store, cfg, "api", "v1.0.0", 1, commit="abc123")
    assert first.created and not again.created and again.release.id == first.release.id
    assert again.release.recorded_at == at(0)
    rec(any_store, cfg, "api", "v1.1.0", 2)
    rec(any_store, cfg, "api", "v1.0.0", 3, env="staging")
    assert release.current(any_store, "api", "production").version == "v1.1.0"  # type: ignore[union-attr]
    assert release.current(any_store, "api", "staging").version == "v1.0.0"  # type: ignore[union-attr]
    listed = release.listing(any_store, service="api", env="production")
    assert [(r.version, r.status) for r in listed] == [("v1.1.0", "deployed"), ("v1.0.0", "superseded")]
    found, events = release.show(any_store, "api", "v1.0.0")
    assert {r.env for r in found} == {"production", "staging"}
    assert [e.kind for e in events] == ["recorded", "recorded"]


def test_a_repeated_record_with_another_commit_is_refused_naming_the_field(any_store: Store,
                                                                           tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    rec(any_store, cfg, "api", "v1.0.0", 0, commit="abc123", url="https://ci/1")
    with pytest.raises(UsageError) as e:
        rec(any_store, cfg, "api", "v1.0.0", 1, commit="def456", url="https://ci/1")
    assert "commit" in e.value.message and "url" not in e.value.message.split("(")[0]
    assert "abc123" in e.value.message and "def456" in e.value.message and e.value.exit_code == 2


@pytest.mark.parametrize(("service", "version", "extra", "says"), [
    ("apii", "v1", {}, "did you mean 'api'"),
    ("api", "--force", {}, "version '--force' is not valid"),
    ("api", "v1 && rm -rf /", {}, "is not valid"),
    ("api", "v1", {"url": "javascript:alert(1)"}, "is not an http(s) URL"),
    ("api", "v1", {"commit": "$(reboot)"}, "is not a commit id"),
])
def test_a_bad_service_version_commit_or_url_is_refused_before_anything_is_stored(
        tmp_path: Path, service: str, version: str, extra: dict[str, str], says: str) -> None:
    cfg = load(CONFIG, tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with pytest.raises(UsageError) as e:
            rec(store, cfg, service, version, 0, **extra)
        assert says in e.value.message
        assert release.listing(store) == []
    finally:
        store.close()


def test_dora_numbers_are_the_ones_computed_by_hand(any_store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    # api: v1 (lead 2h), v2 at 10h (lead 4h) rolled back at 11h to v1, v3 at 30h (lead 1h),
    # v4 at 50h followed by an API incident at 52h, v5 at 60h (restores v4)
    rec(any_store, cfg, "web", "w0", -100)  # before the period: not counted
    rec(any_store, cfg, "api", "v1", 0, committed_at=at(-2))
    rec(any_store, cfg, "api", "v2", 10, committed_at=at(6))
    with any_store.transaction() as tx:  # what a rollback from v2 to v1 leaves
        v2 = rows.get(tx, "api", "v2", "production")
        assert v2 is not None
        rows.add_event(tx, release_id=v2.id, service="api", env="production", at=at(11), kind="rollback_finished",
                       actor="ana", detail={"from": "v2", "to": "v1", "outcome": "ok"})
    rec(any_store, cfg, "api", "v3", 30, committed_at=at(29))
    rec(any_store, cfg, "api", "v4", 50)
    incident.declare(any_store, cfg.model.incidents, "API errors", "SEV2", "bob", at(52), components=["API"])
    # an incident on another component and a cancelled one count for nothing
    incident.declare(any_store, cfg.model.incidents, "billing slow", "SEV3", "bob", at(31), components=["Billing"])
    false_alarm = incident.declare(any_store, cfg.model.incidents, "flap", "SEV3", "bob", at(31))
    incident.move(any_store, false_alarm.id, "cancelled", "bob", at(31.5), reason="flap")
    rec(any_store, cfg, "api", "v5", 60)
    # web: one release, no failures
    rec(any_store, cfg, "web", "w1", 20)

    st = release_stats.compute(any_store, cfg.model.releases, "production", T0 - H, at(71), service=None)
    days = 72 / 24
    api = next(s for s in st.services if s.service == "api")
    assert api.deploys == 5
    assert api.to_dict()["deploys_per_day"] == pytest.approx(5 / days)
    assert sorted(api.lead_times) == [3600.0, 7200.0, 14400.0]
    assert api.failed == 2 and api.change_failure_rate == pytest.approx(2 / 5)
    # v2 restored by the rollback after 1h; v4 by v5 after 10h
    assert sorted(api.restore_times) == [3600.0, 36000.0] and api.unrestored == 0
    web = next(s for s in st.services if s.service == "web")
    assert (web.deploys, web.failed) == (1, 0)
    total = st.to_dict()["total"]
    assert total["deploys"] == 6 and total["change_failure_rate"] == pytest.approx(2 / 6)
    assert total["time_to_restore"]["median_seconds"] == pytest.approx((3600 + 36000) / 2)
    assert total["lead_time"]["median_seconds"] == 7200.0


def test_an_unrestored_failure_is_counted_as_such(any_store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    rec(any_store, cfg, "web", "w1", 0)
    incident.declare(any_store, cfg.model.incidents, "down", "SEV1", "bob", at(1))
    st = release_stats.compute(any_store, cfg.model.releases, "production", T0 - H, at(5), service="web")
    assert st.total.failed == 1 and st.total.unrestored == 1 and st.total.restore_times == []


# -- the deploy gate ---------------------------------------------------------------------------------

GATE_CONFIG = """
checks:
  api: {command: {run: "true"}}
slos:
  api-availability: {objective: 99.9%, window: 30d, check: api, min_events: 1}
maintenance:
  - {name: friday-freeze, start: "2026-03-06T12:00:00Z", end: "2026-03-09T06:00:00Z", freeze: true,
     notice: no deploys over the weekend}
releases:
  services:
    api: {components: [API]}
"""


def gate(store: Store, cfg, now: datetime = T0, **kw) -> deploy_gate.DeployVerdict:  # type: ignore[no-untyped-def]
    return deploy_gate.check(cfg, store, Recorder("production", store=store), "production", now, **kw)


def test_the_deploy_gate_passes_when_nothing_stands_in_the_way(any_store: Store, tmp_path: Path) -> None:
    from tests.support.rulesutil import bulk

    cfg = load(GATE_CONFIG, tmp_path)
    bulk(any_store, "api", T0 - timedelta(days=1), T0, timedelta(minutes=5))
    # a SEV3 is open, a SEV1 on another component too: neither blocks api
    incident.declare(any_store, cfg.model.incidents, "slow", "SEV3", "bob", T0 - H)
    incident.declare(any_store, cfg.model.incidents, "billing down", "SEV1", "bob", T0 - H, components=["Billing"])
    v = gate(any_store, cfg, service="api")
    assert v.ok and v.refusals == []
    runs = any_store.runs(kind="gate", name="deploy")
    assert len(runs) == 1 and runs[0]["status"] == "pass"


@pytest.mark.parametrize("reason", deploy_gate.REASONS)
def test_the_deploy_gate_refuses_for_each_reason_and_names_it(any_store: Store, tmp_path: Path, reason: str) -> None:
    from tests.support.rulesutil import bulk

    cfg = load(GATE_CONFIG, tmp_path)
    now = T0
    bulk(any_store, "api", T0 - timedelta(days=1), T0, timedelta(minutes=5), bad=lambda i, t: reason == "budget")
    if reason == "incident":
        incident.declare(any_store, cfg.model.incidents, "API down", "SEV1", "bob", T0 - H, components=["API"])
    elif reason == "freeze":
        now = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
        bulk(any_store, "api", T0, now, timedelta(minutes=30))
    elif reason == "failed_rollout":
        rec(any_store, cfg, "api", "v1", -5)
        rec(any_store, cfg, "api", "v2", -4)
        with any_store.transaction() as tx:
            rows.add_event(tx, release_id=None, service="api", env="production", at=at(-3), kind="rollback_finished",
                           actor="ana", detail={"from": "v2", "to": "v1", "outcome": "verification_failed",
                                                "message": "ready api-ready: not ready"})
    elif reason == "rollback_running":  # claimed by a rollback that has not finished
        rec(any_store, cfg, "api", "v1", -5)
        with any_store.transaction() as tx:
            current = rows.current(tx, "api", "production")
            assert current is not None and rows.move(tx, current.id, "deployed", "rolling_back", at(-1))
    v = gate(any_store, cfg, now, service="api")
    assert not v.ok and [r.reason for r in v.refusals] == [reason]
    msg = v.refusals[0].message
    assert {"budget": "SLO api-availability", "incident": "incident", "freeze": "friday-freeze",
            "failed_rollout": "verification_failed", "rollback_running": "rollback of api in production is running"
            }[reason] in msg


def test_a_release_after_a_failed_rollback_clears_the_failed_rollout(any_store: Store, tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    with any_store.transaction() as tx:
        rows.add_event(tx, release_id=None, service="api", env="production", at=at(0), kind="rollback_finished",
                       actor="ana", detail={"outcome": "rollback_failed", "message": "exited 1"})
    assert deploy_gate._last_rollout_failed(cfg, any_store, "api", "production")
    assert deploy_gate._last_rollout_failed(cfg, any_store, "api", "staging") is None
    rec(any_store, cfg, "api", "v9", 1)
    assert deploy_gate._last_rollout_failed(cfg, any_store, "api", "production") is None


def test_a_rolled_back_canary_of_the_service_blocks_the_deploy_gate_until_a_release_follows(
        any_store: Store, tmp_path: Path) -> None:
    from opsbook.store import rollouts

    cfg = load(CONFIG + """
canaries:
  api-canary:
    service: api
    canary: http://127.0.0.1:1
    baseline: http://127.0.0.1:2
    metrics:
      errors: {provider: http_json, path: /m, value: errors, failure_condition: "result > 1"}
""", tmp_path)
    assert deploy_gate._last_rollout_failed(cfg, any_store, "api", "production") is None
    with any_store.transaction() as tx:
        r = rollouts.start(tx, "api-canary", "http://c", "http://b", "production", at(0))
        rollouts.finish(tx, r.id, "rolled_back", "errors: result > 1", None, at(0.1), {})
    why = deploy_gate._last_rollout_failed(cfg, any_store, "api", "production")
    assert why is not None and "api-canary" in why and "rolled_back" in why
    assert deploy_gate._last_rollout_failed(cfg, any_store, "web", "production") is None
    rec(any_store, cfg, "api", "v10", 1)
    assert deploy_gate._last_rollout_failed(cfg, any_store, "api", "production") is None


def test_an_override_lets_the_deploy_through_and_is_recorded_with_who_and_why(any_store: Store,
                                                                             tmp_path: Path) -> None:
    cfg = load(CONFIG, tmp_path)
    incident.declare(any_store, cfg.model.incidents, "API down", "SEV1", "bob", T0 - H)
    v = gate(any_store, cfg, override="hotfix for INC-1", by="carol")
    assert v.ok and [r.reason for r in v.refusals] == ["incident"]
    with any_store.read() as tx:
        ev = rows.events(tx, kinds=("gate_override",))
    assert len(ev) == 1 and ev[0].actor == "carol" and ev[0].detail["reason"] == "hotfix for INC-1"
    assert ev[0].detail["overrode"][0]["reason"] == "incident"


def test_gate_deploy_cli_exits_1_naming_the_reason_and_0_with_an_override(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(CONFIG)
    store = f"sqlite:///{tmp_path / 's.db'}"
    common = ("--config", str(tmp_path / "opsbook.yaml"), "--store", store, "--env", "production")
    r = opsbook("incident", "declare", "API down", "--severity", "SEV2", *common[:4])
    assert r.code == 0, r.text
    r = opsbook("gate", "deploy", "--service", "api", *common)
    assert r.code == 1 and "refused" in r.stdout and "incident: incident 1 (SEV2" in r.stdout, r.text
    r = opsbook("gate", "deploy", "--service", "api", "--override", "hotfix", "--by", "carol", *common, "--json")
    assert r.code == 0 and r.json["override"]["by"] == "carol" and r.json["refusals"][0]["reason"] == "incident"


def test_release_record_cli_is_idempotent_and_a_conflict_exits_2(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(CONFIG)
    common = ("--config", str(tmp_path / "opsbook.yaml"), "--store", f"sqlite:///{tmp_path / 's.db'}")
    args = ("release", "record", "--service", "api", "--version", "v1.4.2", "--env", "production",
            "--commit", "abc", "--committed-at", "2026-03-01T10:00:00Z", "--by", "ci", *common)
    first = opsbook(*args)
    assert first.code == 0 and "recorded api v1.4.2 in production" in first.stdout, first.text
    again = opsbook(*args)
    assert again.code == 0 and "already recorded" in again.stdout
    clash = opsbook(*args[:-6], "--commit", "zzz", *common)
    assert clash.code == 2 and "commit" in clash.stderr and "zzz" in clash.stderr
    cur = opsbook("release", "current", "--service", "api", "--env", "production", *common)
    assert cur.code == 0 and cur.stdout.strip() == "v1.4.2"
    listed = opsbook("release", "list", "--json", *common)
    assert [r["version"] for r in listed.json["releases"]] == ["v1.4.2"]
    shown = opsbook("release", "show", "api", "v1.4.2", *common)
    assert shown.code == 0 and "abc" in shown.stdout
    none = opsbook("release", "current", "--service", "api", "--env", "staging", *common)
    assert none.code == 1
    stats = opsbook("release", "stats", "--json", "--env", "production", *common)
    assert stats.code == 0 and stats.json["total"]["deploys"] == 1
    text = opsbook("release", "stats", "--env", "production", *common)
    assert "api: 1 deploys" in text.stdout and "lead time" in text.stdout


@pytest.mark.parametrize(("snippet", "says"), [
    ("api: {rollback: {command: x, runbook: y}}", "exactly one of command: and runbook:"),
    ("api: {rollback: {runbook: rollbak}}", "no runbook named 'rollbak' (did you mean 'rollback'?)"),
    ("api: {verify: {ready: [api-redy]}}", "no check named 'api-redy' (did you mean 'api-ready'?)"),
    ("api: {verify: {smoke: [smok]}}", "no smoke suite named 'smok'"),
])
def test_the_releases_config_is_checked_with_did_you_mean(tmp_path: Path, snippet: str, says: str) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "rollback.md").write_text("# Roll back\n\n```sh\ntrue\n```\n")
    text = f"""
checks:
  api-ready: {{command: {{run: "true"}}}}
releases:
  services:
    {snippet}
"""
    errors = config_errors(text, tmp_path)
    assert any(says in e.message for e in errors), [e.message for e in errors]


def test_a_freeze_window_neither_quiets_alerts_nor_shows_as_maintenance_on_the_status_page(tmp_path: Path) -> None:
    from opsbook.rules import maintenance
    from opsbook.web import status

    cfg = load(GATE_CONFIG + """
status_page:
  title: Shop
  components: [{name: API, checks: [api]}]
""", tmp_path)
    now = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    (win,) = maintenance.active(cfg, now)
    assert win.freeze and win.freeze_only and not win.everything
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert status.build(cfg, store, now)["maintenance"] == []
    finally:
        store.close()
