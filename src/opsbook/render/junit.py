"""JUnit XML for CI systems (GitHub Actions, GitLab, Jenkins): one testcase per check or step.

``<failure>`` carries the false assertions (expression, actual, expected), ``<error>`` a probe
that could not observe, ``<skipped>`` a blocked check or a step skipped after a failure.
Times are in seconds, as the format wants.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..config.assertions import Outcome
from ..results import CheckResult
from ..smoke import SmokeResult

# XML 1.0 cannot carry most control characters, even escaped; a response body may contain them
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class _Case:
    name: str
    classname: str
    seconds: float
    status: str  # pass | warn | fail | error | skipped | blocked
    message: str
    details: str


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _assertion_lines(outcomes: Iterable[Outcome]) -> str:
    return "\n".join(
        f"{o.expr}: actual {_value(o.actual)}, expected {o.expected}"
        + (f" ({o.message})" if o.message else "")
        for o in outcomes if not o.ok
    )


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    hint = error.get("hint") or ""
    return str(error.get("message", "")) + (f"\nhint: {hint}" if hint else "")


def _render(suite: str, cases: list[_Case], timestamp: str) -> str:
    root = ET.Element("testsuites", name="opsbook")
    ts = ET.SubElement(root, "testsuite", name=_clean(suite), timestamp=timestamp)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for c in cases:
        tc = ET.SubElement(ts, "testcase", name=_clean(c.name), classname=_clean(c.classname),
                           time=f"{c.seconds:.3f}")
        if c.status == "fail":
            counts["failures"] += 1
            el = ET.SubElement(tc, "failure", message=_clean(c.message), type="AssertionFailed")
            el.text = _clean(c.details)
        elif c.status == "error":
            counts["errors"] += 1
            el = ET.SubElement(tc, "error", message=_clean(c.message), type="ProbeError")
            el.text = _clean(c.details)
        elif c.status in ("skipped", "blocked"):
            counts["skipped"] += 1
            ET.SubElement(tc, "skipped", message=_clean(c.message))
        elif c.status == "warn":
            out = ET.SubElement(tc, "system-out")
            out.text = _clean(f"warning: {c.message}\n{c.details}".strip())
    total = sum(c.seconds for c in cases)
    for el in (root, ts):
        el.set("tests", str(len(cases)))
        for k, n in counts.items():
            el.set(k, str(n))
        el.set("time", f"{total:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def checks_to_junit(results: list[CheckResult], suite: str) -> str:
    cases = []
    for r in results:
        failing = _assertion_lines(r.assertions)
        details = (_error_text(r.error) or r.summary) if r.status == "error" else failing
        cases.append(_Case(r.name, f"{suite}.{r.kind}", r.duration_ms / 1000, r.status,
                           r.summary, details))
    stamp = min((r.started_at for r in results), default=None)
    return _render(suite, cases, stamp.isoformat() if stamp else "")


def smoke_to_junit(result: SmokeResult) -> str:
    cases = []
    for s in result.steps:
        label = f"{s.name}" if s.phase == "steps" else f"finally: {s.name}"
        message = s.message
        if s.status == "skipped":
            message = "skipped: an earlier step failed"
        details = _error_text(s.error) if s.status == "error" else _assertion_lines(s.assertions)
        cases.append(_Case(label, f"smoke.{result.suite}", s.duration_ms / 1000, s.status,
                           f"{s.method} {s.url}: {message}" if message else "", details))
    return _render(f"smoke.{result.suite}", cases, result.started_at.isoformat())
