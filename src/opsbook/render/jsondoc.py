"""Machine output: one JSON document on stdout, stable and versioned by ``schema``."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..config.secrets import redactor
from ..results import RUN_SCHEMA, CheckResult, overall_exit


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, set | frozenset):
        return sorted(o)
    to_dict = getattr(o, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(o)


def dumps(doc: Any) -> str:
    """Serialise with secrets scrubbed from the values (and keys) before encoding: an encoded
    secret is spelled differently (``\\"``, ``\\u00e9``); the last line of defence before stdout."""
    return json.dumps(redactor.redact(json.loads(json.dumps(doc, default=_default))), indent=2,
                      ensure_ascii=False)


def check_run(results: list[CheckResult], env: str | None, flips: list[Any] | None = None) -> dict[str, Any]:
    counts = Counter(r.status for r in results)
    return {
        "schema": RUN_SCHEMA,
        "env": env,
        "ok": all(r.ok for r in results),
        "exit_code": overall_exit(results),
        "counts": {s: counts.get(s, 0) for s in ("pass", "warn", "fail", "error", "blocked")},
        "results": [r.to_dict() for r in results],
        "flips": [f.to_dict() for f in flips or []],
    }


def error_doc(err: dict[str, Any], exit_code: int) -> dict[str, Any]:
    return {"schema": "opsbook.error/1", "ok": False, "exit_code": exit_code, "error": err}
