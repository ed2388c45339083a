"""Run checks once: the one unit of work shared by the CLI, the gates and (later) the daemon.

The runner probes, applies the timeout and retries, evaluates assertions, resolves
``depends_on`` (a dependent of a failing check is ``blocked`` naming the root cause) and
hands each result to ``on_result`` as it completes. It does not store or render.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .checks.base import CheckKind, ProbeContext
from .config.assertions import Assertion, Outcome
from .config.load import Config
from .config.models import CheckCommon, CheckParams
from .config.secrets import redactor
from .errors import OpsbookError, ProbeError, UsageError
from .results import CheckResult, Status, utcnow

RETRY_BACKOFF = 0.5  # seconds before the first retry; grows linearly, within the timeout


@dataclass
class Plan:
    """The checks to run, dependencies first."""

    names: list[str]
    requested: set[str] = field(default_factory=set)


def plan(config: Config, names: Iterable[str] = ()) -> Plan:
    wanted = list(names) or list(config.checks)
    unknown = [n for n in wanted if n not in config.checks]
    if unknown:
        raise UsageError(
            f"no check named {', '.join(repr(u) for u in unknown)}",
            hint=f"defined checks: {', '.join(config.checks) or '(none)'}",
        )
    order: list[str] = []
    seen: set[str] = set()

    def add(n: str) -> None:
        if n in seen:
            return
        seen.add(n)
        for dep in config.checks[n].depends_on:
            add(dep)
        order.append(n)

    for n in wanted:
        add(n)
    return Plan(order, set(wanted))


@functools.cache
def _defaults(expressions: tuple[str, ...]) -> tuple[Assertion, ...]:
    # a kind's default_expect is parsed once per process, not once per check run
    return tuple(Assertion.parse(e) for e in expressions)


def _assertions(check: CheckCommon, kind: CheckKind) -> list[Assertion]:
    expect = list(check.expect)
    if not expect:
        # a kind's params may narrow its default (an http check with websocket: true)
        narrowed = getattr(check.kind_and_params()[1], "default_expect", None)
        expect = list(_defaults(tuple(narrowed or kind.default_expect)))
    return expect + list(check.warn)


def judge(observations: dict[str, Any], assertions: list[Assertion]) -> tuple[Status, list[Outcome]]:
    outcomes = [a.evaluate(observations) for a in assertions]
    if any(not o.ok and o.severity == "fail" for o in outcomes):
        return "fail", outcomes
    if any(not o.ok for o in outcomes):
        return "warn", outcomes
    return "pass", outcomes


async def run_one(
    name: str,
    config: Config,
    kinds: dict[str, CheckKind],
    shared: dict[str, Any] | None = None,
) -> CheckResult:
    check = config.checks[name]
    kind_name, params = check.kind_and_params()
    kind = kinds[kind_name]
    timeout = check.timeout or config.model.defaults.timeout
    resource = None
    if isinstance(params, CheckParams) and params.resource:
        resource = config.resources[params.resource]
    ctx = ProbeContext(resource=resource, timeout=timeout, vars=config.vars,
                       base_dir=str(config.base_dir), shared=shared if shared is not None else {},
                       config=config.model, logs=config.model.logs,
                       reads=frozenset(path for a in (*check.expect, *check.warn) for path in a.paths()))
    started = utcnow()
    t0 = time.perf_counter()
    attempts = 0
    status: Status
    error: dict[str, Any] | None = None
    hint = ""
    outcomes: list[Outcome] = []
    observations: dict[str, Any] = {}
    summary = ""
    # timeout: bounds the whole check, retries included; a retry waits a little first so a
    # service that is restarting gets a moment
    deadline = t0 + timeout
    while True:
        attempts += 1
        remaining = deadline - time.perf_counter()
        try:
            if remaining <= 0:
                raise TimeoutError
            attempt_ctx = replace(ctx, timeout=round(remaining, 3))
            probe = await asyncio.wait_for(kind.probe(params, attempt_ctx), timeout=remaining)
            observations = dict(probe.observations)
            observations.setdefault("duration", round((time.perf_counter() - t0) * 1000, 3))
            status, outcomes = judge(observations, _assertions(check, kind))
            summary = probe.summary
            error = None
            break
        except TimeoutError:
            err: OpsbookError = ProbeError(
                f"timed out after {timeout:g}s" + (f" ({attempts} attempts)" if attempts > 1 else ""),
                hint="the target is slow or unreachable; raise timeout: if this is expected",
            )
        except OpsbookError as e:
            err = e
        except Exception as e:  # a bug or an unconverted library error: isolate it, never crash the run
            err = ProbeError(f"{type(e).__name__}: {e}", hint="unexpected error inside the probe", retryable=False)
        status, error, hint, summary = "error", err.to_dict(), err.hint, err.message
        if attempts > check.retries or not err.retryable or time.perf_counter() >= deadline:
            break
        backoff = min(RETRY_BACKOFF * attempts, max(0.0, deadline - time.perf_counter()) / 2)
        await asyncio.sleep(backoff)
    duration = (time.perf_counter() - t0) * 1000
    if status == "fail":
        failed = [o for o in outcomes if not o.ok and o.severity == "fail"]
        summary = failed[0].message or f"{failed[0].expr} is false"
        if len(failed) > 1:
            summary += f" (+{len(failed) - 1} more)"
        hint = hint or f"{len(failed)} of {len(outcomes)} assertion(s) failed"
    elif status == "warn":
        warned = [o for o in outcomes if not o.ok]
        summary = "warning: " + (warned[0].message or warned[0].expr)
    result = CheckResult(
        name=name,
        kind=kind_name,
        env=config.env,
        status=status,
        summary=summary,
        hint=hint,
        started_at=started,
        finished_at=utcnow(),
        duration_ms=duration,
        observations=observations,
        assertions=outcomes,
        error=error,
        attempts=attempts,
    )
    return scrub(result)


def scrub(result: CheckResult) -> CheckResult:
    """Remove every known secret from a result before anyone sees or stores it."""
    result.summary = redactor.text(result.summary)
    result.hint = redactor.text(result.hint)
    result.observations = redactor.redact(result.observations)
    result.assertions = [
        Outcome(o.expr, o.ok, redactor.redact(o.actual), o.expected, o.severity, redactor.text(o.message))
        for o in result.assertions
    ]
    if result.error:
        result.error = redactor.redact(result.error)
    return result


def blocked(name: str, config: Config, root: str, via: str) -> CheckResult:
    now = utcnow()
    kind_name, _ = config.checks[name].kind_and_params()
    why = f"blocked: {root} is failing" if root == via else f"blocked: {root} is failing (via {via})"
    return CheckResult(
        name=name, kind=kind_name, env=config.env, status="blocked", summary=why,
        hint=f"fix {root} first; this check was not run", started_at=now, finished_at=now,
        duration_ms=0.0, blocked_by=root,
    )


async def run_checks(
    config: Config,
    kinds: dict[str, CheckKind],
    names: Iterable[str] = (),
    concurrency: int | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run the named checks (all when empty) and their dependencies, at most ``concurrency`` at once."""
    p = plan(config, names)
    for kind_name in {config.checks[n].kind_and_params()[0] for n in p.names}:
        for module in kinds[kind_name].imports:
            importlib.import_module(module)
    limit = asyncio.Semaphore(concurrency or config.model.defaults.concurrency)
    done: dict[str, asyncio.Future[CheckResult]] = {
        n: asyncio.get_running_loop().create_future() for n in p.names
    }
    shared: dict[str, Any] = {}

    async def one(n: str) -> None:
        deps = config.checks[n].depends_on
        for dep in deps:
            r = await done[dep]
            if not r.ok:
                root = r.blocked_by or dep
                res = blocked(n, config, root, dep)
                break
        else:
            async with limit:
                res = await run_one(n, config, kinds, shared)
        if on_result is not None:
            on_result(res)
        done[n].set_result(res)

    await asyncio.gather(*(one(n) for n in p.names))
    await close_shared(shared)
    return [done[n].result() for n in p.names]


async def close_shared(shared: dict[str, Any]) -> None:
    """Close per-run pools (HTTP clients and the like) that kinds stored in ``shared``."""
    for v in shared.values():
        aclose = getattr(v, "aclose", None)
        if aclose is not None:
            # closing is best effort; the results are already taken
            with contextlib.suppress(Exception):
                await aclose()
