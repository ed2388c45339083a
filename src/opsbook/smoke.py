"""Smoke suites: multi-step HTTP scenarios run against a base URL (``opsbook smoke NAME``).

Each step is one request; its observations have the http check kind's shape (``status``,
``header``, ``json``, ``body``, ``duration``), so the same assertion language applies.
``save: {token: json.access_token}`` captures a value for later steps (``${token}``); saved
values are treated as secrets. A failing step skips the remaining ``steps``; ``finally``
steps always run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from .config.assertions import Assertion, Outcome
from .config.load import Config
from .config.models import SmokeStep, SmokeSuite
from .config.resources import HttpAuth, HttpResource
from .config.secrets import Secret, SecretRef, redactor, reveal, reveal_in
from .errors import AssertionSyntaxError, OpsbookError, ProbeError, UndefinedVariable, UsageError
from .results import utcnow

SMOKE_SCHEMA = "opsbook.smoke/1"
BODY_EXCERPT = 64 * 1024  # characters of body kept as the ``body`` observation
DEFAULT_EXPECT = ("status < 400",)
StepStatus = Literal["pass", "fail", "error", "skipped"]
Sleep = Callable[[float], Awaitable[None]]
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_JSON_TYPES = ("application/json", "+json")


@dataclass
class StepResult:
    name: str
    method: str
    url: str  # redacted
    status: StepStatus
    phase: Literal["steps", "finally"] = "steps"
    attempts: int = 0
    duration_ms: float = 0.0
    assertions: list[Outcome] = field(default_factory=list)
    error: dict[str, Any] | None = None  # OpsbookError.to_dict() when status == error

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    @property
    def message(self) -> str:
        """One line on why the step did not pass ("" when it did)."""
        if self.error:
            return str(self.error.get("message", ""))
        failed = [o for o in self.assertions if not o.ok]
        if failed:
            return failed[0].message or f"{failed[0].expr} is false"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "duration_ms": round(self.duration_ms, 3),
            "assertions": [a.to_dict() for a in self.assertions],
            "error": self.error,
        }


@dataclass
class SmokeResult:
    suite: str
    base_url: str
    status: Literal["pass", "fail", "error"]
    started_at: datetime
    duration_ms: float
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SMOKE_SCHEMA,
            "suite": self.suite,
            "base_url": self.base_url,
            "ok": self.ok,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "started_at": self.started_at.isoformat(),
            "steps": [s.to_dict() for s in self.steps],
        }


def substitute(value: Any, variables: dict[str, str], where: str) -> Any:
    """``${name}`` in strings, recursively through lists and dicts; ``$$`` is a literal ``$``."""
    if isinstance(value, dict):
        return {k: substitute(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name not in variables:
            raise UndefinedVariable(
                f"${{{name}}} is not defined (in {where})",
                hint=f"save it in an earlier step (save: {{{name}: json.field}}) or define it "
                "under vars:",
            )
        return variables[name]

    return _VAR.sub(sub, value)


def lookup(observations: dict[str, Any], path: str) -> Any:
    """The value at an observation path such as ``json.access_token`` or ``header.x-id``."""
    try:
        tree = Assertion.parse(path).tree
    except AssertionSyntaxError as e:
        raise UsageError(f"save: {path!r} is not an observation path: {e}") from None
    if tree[0] != "path":
        raise UsageError(f"save: {path!r} is not an observation path such as json.access_token")
    cur: Any = observations
    for part in tree[1]:
        if isinstance(cur, dict):
            key = part
            if key not in cur and isinstance(key, str):
                # header names are case-insensitive; observations store them lowercased
                key = key.lower()
            if key not in cur:
                raise KeyError(path)
            cur = cur[key]
        elif isinstance(cur, list) and str(part).lstrip("-").isdigit():
            idx = int(part)
            if not -len(cur) <= idx < len(cur):
                raise KeyError(path)
            cur = cur[idx]
        else:
            raise KeyError(path)
    return cur


def _base_url(config: Config, name: str, suite: SmokeSuite, given: str | None) -> str:
    res = _resource(config, suite)
    base = given or suite.base_url or (res.url if res else None)
    if not base:
        raise UsageError(
            f"smoke.{name}: no base URL",
            hint="pass --base-url URL, or set base_url: or resource: on the suite",
        )
    return str(substitute(base, config.vars, f"smoke.{name}.base_url")).rstrip("/")


def _resource(config: Config, suite: SmokeSuite) -> HttpResource | None:
    res = config.resources.get(suite.resource) if suite.resource else None
    return res if isinstance(res, HttpResource) else None


def _join(base: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return base + "/" + path.lstrip("/")


def _auth_headers(auth: HttpAuth | None, where: str) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    if auth is None:
        return {}, None
    if auth.bearer is not None:
        return {"Authorization": "Bearer " + (reveal(auth.bearer, f"{where}.bearer") or "")}, None
    if auth.basic is not None:
        pw = reveal(auth.basic.password, f"{where}.basic.password") or ""
        return {}, httpx.BasicAuth(auth.basic.username, pw)
    return {}, None


def _connect_error(e: Exception, url: str, timeout: float) -> ProbeError:
    if isinstance(e, httpx.TimeoutException):
        return ProbeError(f"{url}: timed out after {timeout:g}s",
                          hint="the server is slow or unreachable; raise timeout: if expected")
    if isinstance(e, httpx.ConnectError):
        return ProbeError(f"{url}: cannot connect ({e})",
                          hint="is the service running, and is the base URL right?")
    if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProbeError(f"{url}: bad URL: {e}", retryable=False)
    return ProbeError(f"{url}: {type(e).__name__}: {e}", hint="the server broke the HTTP exchange")


def _observe(resp: httpx.Response, elapsed_ms: float) -> dict[str, Any]:
    text = resp.text
    obs: dict[str, Any] = {
        "status": resp.status_code,
        "header": {k: ", ".join(resp.headers.get_list(k)) for k in resp.headers},
        "body": text[:BODY_EXCERPT],
        "size": len(resp.content),
        "duration": round(elapsed_ms, 3),
        "url": str(resp.url),
    }
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if text and ctype.endswith(_JSON_TYPES):
        # a server claiming JSON and sending garbage: assert on body instead
        with contextlib.suppress(ValueError):
            obs["json"] = json.loads(text)
    return obs


class _Run:
    """State of one suite run: the client, the variables, what has been saved."""

    def __init__(self, config: Config, name: str, suite: SmokeSuite, base: str,
                 client: httpx.AsyncClient, sleep: Sleep) -> None:
        self.config, self.name, self.suite, self.base = config, name, suite, base
        self.client, self.sleep = client, sleep
        self.variables = {**config.vars, "base_url": base}
        self.resource = _resource(config, suite)

    async def step(self, step: SmokeStep, where: str, phase: Literal["steps", "finally"]) -> StepResult:
        label = step.name or f"{step.method} {step.path}"
        result = StepResult(label, step.method, redactor.text(_join(self.base, step.path)),
                            "error", phase)
        t0 = time.perf_counter()
        times = step.retry.times if step.retry else 1
        interval = step.retry.interval if step.retry else 0.0
        while True:
            result.attempts += 1
            try:
                obs = await self._request(step, where, result)
                assertions = list(step.expect) or [Assertion.parse(e) for e in DEFAULT_EXPECT]
                result.assertions = [_scrub(a.evaluate(obs)) for a in assertions]
                result.status = "pass" if all(o.ok for o in result.assertions) else "fail"
                result.error = None
                if result.status == "pass":
                    self._save(step, obs, where)
            except OpsbookError as e:
                result.status, result.assertions = "error", []
                result.error = redactor.redact(e.to_dict())
                if not e.retryable:
                    break
            if result.status == "pass" or result.attempts >= times:
                break
            await self.sleep(interval)  # polling: wait, then ask again
        result.duration_ms = (time.perf_counter() - t0) * 1000
        return result

    async def _request(self, step: SmokeStep, where: str, result: StepResult) -> dict[str, Any]:
        v = self.variables
        url = _join(self.base, substitute(step.path, v, f"{where}.{step.method.lower()}"))
        result.url = redactor.text(url)
        res = self.resource
        headers: dict[str, str] = {}
        merged = {**(res.headers if res else {}), **self.suite.headers, **step.headers}
        for k, raw in merged.items():
            headers[k] = _value(raw, v, f"{where}.headers.{k}")
        auth_headers, basic = _auth_headers(step.auth or (res.auth if res else None),
                                            f"{where}.auth")
        headers.update(substitute(auth_headers, v, f"{where}.auth"))
        timeout = step.timeout or self.suite.timeout
        t0 = time.perf_counter()
        try:
            resp = await self.client.request(
                step.method, url, headers=headers, auth=basic, timeout=timeout,
                json=reveal_in(substitute(step.json_body, v, f"{where}.json"), f"{where}.json"),
                content=None if step.body is None else _value(step.body, v, f"{where}.body"),
                data=None if step.form is None else {
                    k: _value(x, v, f"{where}.form.{k}") for k, x in step.form.items()},
            )
        except httpx.HTTPError as e:
            raise _connect_error(e, redactor.text(url), timeout) from None
        return _observe(resp, (time.perf_counter() - t0) * 1000)

    def _save(self, step: SmokeStep, obs: dict[str, Any], where: str) -> None:
        for var, path in step.save.items():
            try:
                value = lookup(obs, path)
            except KeyError:
                raise ProbeError(f"{where}.save.{var}: {path} is not in the response",
                                 hint="check the path against the response body",
                                 retryable=False) from None
            text = value if isinstance(value, str) else json.dumps(value)
            redactor.add(text)  # saved values are usually tokens: never show them
            self.variables[var] = text


def _value(raw: Secret, variables: dict[str, str], where: str) -> str:
    """A header, body or form value: a secret reference resolved (its value is sent as it is,
    a ``$`` in a password is not a variable), else ``${name}`` substituted."""
    if isinstance(raw, SecretRef):
        return raw.resolve(where)
    return str(substitute(raw, variables, where))


def _scrub(o: Outcome) -> Outcome:
    return Outcome(o.expr, o.ok, redactor.redact(o.actual), o.expected, o.severity,
                   redactor.text(o.message))


def _overall(steps: list[StepResult]) -> Literal["pass", "fail", "error"]:
    # the first step that did not pass is the root cause; later ones are consequences
    for s in steps:
        if s.status in ("fail", "error"):
            return s.status
    return "pass"


async def run_smoke(
    config: Config,
    name: str,
    base_url: str | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> SmokeResult:
    """Run the smoke suite ``name``; raises ``UsageError`` for an unknown suite or no base URL."""
    suite = config.smoke.get(name)
    if suite is None:
        raise UsageError(f"no smoke suite named {name!r}",
                         hint=f"defined suites: {', '.join(config.smoke) or '(none)'}")
    base = _base_url(config, name, suite, base_url)
    started = utcnow()
    t0 = time.perf_counter()
    res = _resource(config, suite)
    verify = suite.verify and (res.verify if res else True)
    results: list[StepResult] = []

    def emit(r: StepResult) -> None:
        results.append(r)
        if on_step is not None:
            on_step(r)

    async with httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=True) as client:
        run = _Run(config, name, suite, base, client, sleep)
        failed = False
        for i, step in enumerate(suite.steps):
            where = f"smoke.{name}.steps[{i}]"
            if failed:
                label = step.name or f"{step.method} {step.path}"
                emit(StepResult(label, step.method, redactor.text(_join(base, step.path)),
                                "skipped"))
                continue
            r = await run.step(step, where, "steps")
            failed = not r.ok
            emit(r)
        for i, step in enumerate(suite.finally_):
            emit(await run.step(step, f"smoke.{name}.finally[{i}]", "finally"))
    return SmokeResult(name, redactor.text(base), _overall(results), started,
                       (time.perf_counter() - t0) * 1000, results)
