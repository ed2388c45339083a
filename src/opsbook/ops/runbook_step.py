"""The pieces of a runbook run that concern one step or one value, apart from the walk
(ops/runbook.py): parameters checked and typed, ``expect`` judged, ``save`` captured, what is
kept of the observations, the heartbeat while a step runs, output redacted as it streams."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..config.assertions import Assertion
from ..config.references import missing
from ..config.secrets import REDACTED, redactor
from ..errors import AssertionSyntaxError, OpsbookError, UsageError
from ..runbooks.model import Runbook, Step
from ..runbooks.steps.base import StepOutcome
from ..store import Store
from ..store import runbook_runs as rows

HEARTBEAT = 5.0  # seconds between heartbeats of the run row while a step runs
STALE_AFTER = 30.0  # a running run whose heartbeat is older than this lost its runner
OBSERVATIONS_MAX = 16 * 1024  # characters of observations JSON kept per step (the output is kept apart)
_TEXT_KEYS = ("stdout", "stderr", "body")  # already in the bounded output: not kept twice


def resolve_params(runbook: Runbook, given: Mapping[str, str]) -> tuple[dict[str, str], frozenset[str]]:
    """The run's values from ``-p key=value``: each checked against its declaration (type,
    choices, required), defaults filled in. Secret values go to the redactor at once."""
    names = [p.name for p in runbook.params]
    for key in given:
        if key not in names:
            msg, hint = missing("parameter", key, names, f"parameters of runbook {runbook.name}")
            raise UsageError(msg, hint=hint)
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for p in runbook.params:
        raw: Any = given.get(p.name, p.default)
        if p.secret:
            secrets.add(p.name)
        if raw is None:
            if p.required:
                raise UsageError(f"runbook {runbook.name} needs the parameter {p.name!r}",
                                 hint=f"-p {p.name}=VALUE" + (f" ({p.description})" if p.description else ""))
            raw = ""
        text = _typed(runbook.name, p.name, p.type, raw)
        if p.choices and text not in p.choices:
            shown = REDACTED if p.secret else repr(text)
            raise UsageError(f"parameter {p.name}={shown} is not one of {', '.join(p.choices)}",
                             hint=f"-p {p.name}={p.choices[0]}")
        if p.secret:
            redactor.add(text)
        values[p.name] = text
    return values, frozenset(secrets)


def _typed(runbook: str, name: str, kind: str, raw: Any) -> str:
    text = str(raw).strip() if not isinstance(raw, bool) else ("true" if raw else "false")
    if kind == "str" or text == "":
        return str(raw) if kind == "str" else text
    try:
        if kind == "int":
            return str(int(text))
        if kind == "float":
            return str(float(text))
    except ValueError:
        raise UsageError(f"parameter {name} of runbook {runbook} is a {kind}, got {text!r}") from None
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "1", "on"):
            return "true"
        if low in ("false", "no", "0", "off"):
            return "false"
        raise UsageError(f"parameter {name} of runbook {runbook} is a bool (true/false), got {text!r}")
    return text


def recorded_params(values: Mapping[str, str], secret_names: frozenset[str]) -> dict[str, str]:
    """What the run row keeps: every value, secret ones as ***."""
    return {k: (REDACTED if k in secret_names else redactor.text(v)) for k, v in values.items()}


def condition(expr: str, values: Mapping[str, str]) -> bool:
    """A ``when=`` expression over the values (numbers compare as numbers)."""
    return Assertion.parse(expr).evaluate({k: _number(v) for k, v in values.items()}).ok


def _number(v: str) -> Any:
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    if re.fullmatch(r"-?\d+\.\d*", v):
        return float(v)
    return {"true": True, "false": False}.get(v, v)


def judge(step: Step, default_expect: tuple[str, ...], outcome: StepOutcome) -> tuple[str, list[dict[str, Any]]]:
    """The attempt's status and its assertion outcomes: timeout, error (could not do its work),
    failed (an ``expect`` did not hold) or ok."""
    if outcome.timed_out:
        return "timeout", []
    if outcome.error is not None:
        return "error", []
    results: list[dict[str, Any]] = []
    for expr in step.expect or default_expect:
        try:
            results.append(redactor.redact(Assertion.parse(expr).evaluate(outcome.observations).to_dict()))
        except AssertionSyntaxError as e:
            results.append({"expr": expr, "ok": False, "message": e.message})
    return ("ok" if all(r["ok"] for r in results) else "failed"), results


def _main_value(obs: Mapping[str, Any]) -> Any:
    """A bare ``save=NAME``: trimmed stdout, the first cell of the first row, or the body."""
    if "stdout" in obs:
        return str(obs["stdout"]).strip()
    if obs.get("rows"):
        first = obs["rows"][0]
        return next(iter(first.values()), None) if isinstance(first, dict) else first
    return obs.get("body")


def lookup(obs: Any, path: str) -> Any:
    """``json.items[0].id`` in the observations; None when any part is missing."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            obs = obs[i] if isinstance(obs, list) and -len(obs) <= i < len(obs) else None
        else:
            obs = obs.get(part) if isinstance(obs, dict) else None
        if obs is None:
            return None
    return obs


def as_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"), default=str)
    return "" if v is None else str(v)


def captured(step: Step, obs: Mapping[str, Any]) -> dict[str, str]:
    """The values ``save`` takes from a step's observations, as strings for later ``${name}``."""
    out: dict[str, str] = {}
    for name, path in step.save:
        out[name] = as_value(_main_value(obs) if not path or path == name else lookup(obs, path))
    return out


def kept_observations(obs: Mapping[str, Any]) -> dict[str, Any]:
    """The observations the record keeps: redacted, without the text already in the output,
    and bounded (a huge JSON response keeps its keys only)."""
    kept = {k: v for k, v in obs.items() if k not in _TEXT_KEYS}
    kept = redactor.redact(json.loads(json.dumps(kept, default=str)))
    if len(json.dumps(kept, default=str)) > OBSERVATIONS_MAX:
        small = {k: v for k, v in kept.items() if len(json.dumps(v, default=str)) <= 1024}
        return {**small, "truncated": sorted(set(kept) - set(small))}
    return dict(kept)


@contextmanager
def heartbeat(store: Store, run_id: int, clock: Callable[[], datetime], every: float = HEARTBEAT) -> Iterator[None]:
    """Refresh the run row's heartbeat from a thread while a step runs, so a runner that was
    killed shows as stale; the thread ends with the step (joined, bounded)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                with store.transaction() as tx:
                    rows.heartbeat(tx, run_id, clock())
            except OpsbookError:
                continue  # a store hiccup: the next beat tries again

    t = threading.Thread(target=loop, name=f"runbook-heartbeat-{run_id}", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=every + 30)


class RedactedStream:
    """Step output on its way to the terminal: whole lines, each with secrets replaced (a
    secret split across two chunks is still caught)."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink
        self.pending = b""

    def __call__(self, chunk: bytes) -> None:
        self.pending += chunk
        if b"\n" not in self.pending and len(self.pending) < 65536:
            return
        cut = self.pending.rfind(b"\n") + 1 or len(self.pending)
        done, self.pending = self.pending[:cut], self.pending[cut:]
        self.sink(redactor.text(done.decode(errors="replace")).encode())

    def flush(self) -> None:
        if self.pending:
            self.sink(redactor.text(self.pending.decode(errors="replace")).encode())
            self.pending = b""
