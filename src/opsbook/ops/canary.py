"""``opsbook gate canary NAME``: run a canary's staged rollout, judge it, promote or roll back, and
record everything (store/rollouts.py) as it happens.

Steps run in order: a step's ``run:``/``webhook:`` sets the canary's weight or scale, its
``analysis:`` measures and judges for that long (canary/analysis.py). A canary without steps has one
analysis of ``count`` measurements. The first analysis that does not promote ends the rollout:

    promote            -> the ``promote`` command, status promoted, exit 0
    rollback           -> the ``rollback`` command (_rollback), status rolled_back, exit 1 (loud
                          when the rollback command itself fails)
    could_not_measure  -> status could_not_measure, exit 3 (nothing judged, nothing rolled back)
    inconclusive       -> status inconclusive, exit 4: held for a human
    aborted (SIGTERM)  -> status aborted, exit 143: nothing promoted, nothing rolled back

A step command that fails is failing evidence: the rollout rolls back.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from string import Template
from typing import TYPE_CHECKING, Any

from ..canary.analysis import AnalysisResult, Taken, analyse
from ..canary.providers.base import MeasureContext, Role, Target
from ..config.canaries import Canary, MetricBase, Step, Webhook
from ..config.load import Config
from ..config.references import missing
from ..errors import (
    EXIT_ABORTED,
    EXIT_COULD_NOT_RUN,
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    MeasurementError,
    UsageError,
)
from ..results import utcnow
from ..store import rollouts

if TYPE_CHECKING:
    from ..store import Store

SCHEMA = "opsbook.canary/1"
EXIT_OF = {"promoted": EXIT_OK, "rolled_back": EXIT_FAILED, "could_not_measure": EXIT_COULD_NOT_RUN,
           "inconclusive": EXIT_INCONCLUSIVE, "aborted": EXIT_ABORTED}
STATUS_OF = {"promote": "promoted", "rollback": "rolled_back", "could_not_measure": "could_not_measure",
             "inconclusive": "inconclusive", "aborted": "aborted"}


@dataclass
class CanaryReport:
    rollout_id: int
    canary: str
    canary_url: str
    baseline_url: str
    status: str = "running"
    reason: str = ""
    score: float | None = None
    analyses: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    rollback_failed: bool = False
    promote_failed: bool = False

    @property
    def exit_code(self) -> int:
        if self.rollback_failed or self.promote_failed:
            return EXIT_FAILED
        return EXIT_OF.get(self.status, EXIT_COULD_NOT_RUN)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "rollout": self.rollout_id, "canary": self.canary, "status": self.status,
                "ok": self.status == "promoted", "exit_code": self.exit_code, "reason": self.reason,
                "score": self.score, "canary_url": self.canary_url, "baseline_url": self.baseline_url,
                "rollback_failed": self.rollback_failed, "promote_failed": self.promote_failed,
                "analyses": self.analyses, "commands": self.commands}


def target(can: Canary, role: Role, given: str | None) -> Target:
    """``--canary``/``--baseline`` (a URL or a label in targets:), else the config's."""
    value = given or getattr(can, role)
    if "://" in value:
        label = next((k for k, v in can.targets.items() if v == value), "")
        return Target(role, value, label)
    if value not in can.targets:
        message, hint = missing("target", value, can.targets, "targets (or give a URL)")
        raise UsageError(message, hint=hint)
    return Target(role, can.targets[value], value)


def lookup(cfg: Config, name: str) -> Canary:
    can = cfg.model.canaries.get(name)
    if can is None:
        message, hint = missing("canary", name, cfg.model.canaries)
        raise UsageError(message, hint=hint)
    return can


def _substitute(text: str, values: dict[str, str]) -> str:
    return Template(text).safe_substitute(values)


def run_command(command: str, values: dict[str, str], timeout: float, cwd: str) -> tuple[int, str]:
    """A shell command with ${weight}/${canary_url}/... filled in (and as OPSBOOK_CANARY_* variables);
    its exit code and the tail of its output. A command past its deadline is killed: exit 124."""
    env = {**os.environ, **{f"OPSBOOK_CANARY_{k.upper()}": v for k, v in values.items()}}
    try:
        done = subprocess.run(["/bin/sh", "-c", _substitute(command, values)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"killed after {timeout:g}s"
    return done.returncode, (done.stdout + done.stderr)[-2000:]


def call_webhook(hook: Webhook, values: dict[str, str], timeout: float) -> tuple[int, str]:
    """0 for a 2xx answer, else the HTTP status (or 1 when there was no answer)."""
    import httpx

    body = {k: _substitute(v, values) if isinstance(v, str) else v for k, v in hook.body.items()}
    try:
        resp = httpx.request(hook.method, _substitute(hook.url, values), json=body or None, timeout=timeout)
    except httpx.HTTPError as e:
        return 1, f"{type(e).__name__}: {e}"
    return (0 if 200 <= resp.status_code < 300 else resp.status_code), f"HTTP {resp.status_code}"


def _rollback(cfg: Config, store: Store, can: Canary, values: dict[str, str]) -> tuple[int, str, str] | None:
    """Undo the canary: its ``rollback`` command, else its ``service``'s release rollback (to the
    previous release, then its verify gates: ops/release.py, a command or a runbook), else None.
    The exit code, the output and what ran."""
    if can.rollback is not None:
        code, out = run_command(can.rollback, values, can.command_timeout, str(cfg.base_dir))
        return code, out, f"`{can.rollback}`"
    if can.service is None:
        return None
    from ..errors import OpsbookError
    from . import release
    from .record import Recorder

    env = cfg.env or "production"
    try:
        plan = release.plan(store, cfg, can.service, "previous", env)
        done = release.rollback(store, cfg, plan, "opsbook-canary", Recorder(cfg.env, store=store))
    except OpsbookError as e:
        return 1, f"{e.message} ({e.hint})" if e.hint else e.message, f"release rollback {can.service}"
    return (0 if done.ok else 1), f"{done.outcome}: {done.message}", \
        f"release rollback {can.service} {done.from_version} -> {done.to_version}"


@dataclass
class Runtime:
    """What a run needs from outside: the clock, sleep and abort flag (tests inject them)."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    aborted: Callable[[], bool] = lambda: False
    now: Callable[[], datetime] = utcnow
    say: Callable[[str], None] = lambda line: None


def run(cfg: Config, store: Store, name: str, canary_url: str | None = None, baseline_url: str | None = None,
        rt: Runtime | None = None) -> CanaryReport:
    rt = rt or Runtime()
    can = lookup(cfg, name)
    c, b = target(can, "canary", canary_url), target(can, "baseline", baseline_url)
    with store.transaction() as tx:
        row = rollouts.start(tx, name, c.url, b.url, cfg.env, rt.now())
    report = CanaryReport(row.id, name, c.url, b.url)
    try:
        report.status, report.reason = _rollout(cfg, store, can, c, b, report, rt)
    except BaseException as e:  # Ctrl-C, a store or provider bug: the record must not stay "running"
        report.status, report.reason = "aborted", f"stopped by {type(e).__name__}: {e}"
        with store.transaction() as tx:
            rollouts.finish(tx, report.rollout_id, "aborted", report.reason, report.score, rt.now(),
                            {"analyses": report.analyses, "rollback_failed": report.rollback_failed})
        raise
    with store.transaction() as tx:
        rollouts.finish(tx, report.rollout_id, report.status, report.reason, report.score, rt.now(),
                        {"analyses": report.analyses, "rollback_failed": report.rollback_failed})
    return report


def _rollout(cfg: Config, store: Store, can: Canary, c: Target, b: Target, report: CanaryReport,
             rt: Runtime) -> tuple[str, str]:
    """The steps, then promote or roll back: the final status and its reason."""
    values = {"canary": c.name, "baseline": b.name, "canary_url": c.url, "baseline_url": b.url, "weight": ""}

    def event(kind: str, message: str, exit_code: int | None = None, **detail: Any) -> None:
        rt.say(message)
        with store.transaction() as tx:
            rollouts.add_event(tx, report.rollout_id, rt.now(), kind, message, exit_code, detail)
        if kind in ("command", "rollback", "promote"):
            report.commands.append({"kind": kind, "message": message, "exit_code": exit_code, **detail})

    status, reason = "promoted", "every step passed"
    steps = can.steps or [Step()]
    for i, step in enumerate(steps, 1):
        if rt.aborted():
            status, reason = "aborted", f"stopped by a signal before step {i}"
            break
        if step.weight is not None:
            values["weight"] = str(step.weight)
            event("step", f"step {i}: weight {step.weight}%", None, step=i, weight=step.weight)
        failed = _set_weight(cfg, can, step, values, i, event)
        if failed:
            status, reason = "rolled_back", failed
            break
        if step.analysis is None and can.steps:
            continue  # a step that only sets the weight
        result = _analysis(cfg, store, can, c, b, report, i, step.analysis, rt)
        report.analyses.append({"step": i, **result.to_dict()})
        report.score = result.score.score
        event("decision", f"step {i}: {result.decision}: {result.reason}", None, step=i, decision=result.decision)
        if result.decision != "promote":
            status, reason = STATUS_OF[result.decision], result.reason
            break
    if status == "promoted" and can.promote:
        code, out = run_command(can.promote, values, can.command_timeout, str(cfg.base_dir))
        event("promote", f"promote: `{can.promote}` exited {code}", code, output=out)
        if code != 0:
            status, reason = "aborted", f"the promote command failed (exit {code})"
            report.promote_failed = True  # exit 1: the canary is neither promoted nor rolled back
    if status == "rolled_back":
        got = _rollback(cfg, store, can, values)
        if got is None:
            event("rollback", "rollback: no rollback command or service configured; roll back by hand", None)
        else:
            code, out, what = got
            loud = "" if code == 0 else "ROLLBACK FAILED: "
            event("rollback", f"{loud}rollback: {what} exited {code}", code, output=out)
            report.rollback_failed = code != 0
    return status, reason


def _set_weight(cfg: Config, can: Canary, step: Step, values: dict[str, str], i: int,
                event: Callable[..., None]) -> str:
    """Run the step's command and webhook; the reason the rollout must roll back, or ""."""
    if step.run:
        code, out = run_command(step.run, values, can.command_timeout, str(cfg.base_dir))
        event("command", f"step {i}: `{step.run}` exited {code}", code, step=i, output=out)
        if code != 0:
            return f"step {i}: the command failed (exit {code})"
    if step.webhook:
        code, out = call_webhook(step.webhook, values, can.command_timeout)
        event("command", f"step {i}: {step.webhook.method} {step.webhook.url}: {out}", code, step=i)
        if code != 0:
            return f"step {i}: the webhook failed ({out})"
    return ""


def _analysis(cfg: Config, store: Store, can: Canary, c: Target, b: Target, report: CanaryReport, step: int,
              duration: float | None, rt: Runtime) -> AnalysisResult:
    from ..canary.providers.registry import PROVIDERS

    ctx = MeasureContext(cfg, c, b, can.analysis.timeout)
    targets = {"canary": c, "baseline": b}

    async def measure(name: str, metric: MetricBase, role: Role) -> list[float]:
        provider = PROVIDERS.lookup(getattr(metric, "provider"))  # noqa: B009 (every metric model has one)
        try:
            return await provider.measure(metric, targets[role], ctx)
        except MeasurementError:
            raise
        except Exception as e:  # a provider bug must count as an error, not crash the gate
            raise MeasurementError(f"{role}: {type(e).__name__}: {e}") from None

    def on_taken(t: Taken) -> None:
        with store.transaction() as tx:
            rollouts.add_measurement(tx, report.rollout_id, step, t.metric, t.target, rt.now(), t.judged.outcome,
                                     t.judged.result if t.target == "canary" else None, t.samples, t.judged.message)
        rt.say(f"  {t.metric} {t.target}: {t.judged.outcome} ({len(t.samples)} samples) {t.judged.message}")

    return asyncio.run(analyse(can, measure, duration=duration, clock=rt.clock, sleep=rt.sleep, aborted=rt.aborted,
                               on_taken=on_taken))
