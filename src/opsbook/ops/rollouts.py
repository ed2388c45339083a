"""Past canary rollouts, read back: the list, newest first, one rollout's record (the rollout, its
measurements, its events: store/rollouts.py) and its Markdown (render/canary.py). The CLI
(`opsbook release rollouts|rollout`), the API (/api/v1/rollouts) and the /rollouts pages show these
same documents.

What a rollout recorded came from a config, a command's output and a metrics provider: URLs are
shown without their user and password (and credential query parameters), text goes through the
redactor, a command's output is cut to its tail, and a long rollout's measurements to the newest
``MEASUREMENTS`` (the document says how many were left out)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..config.secrets import redact_credentials_in, redactor
from ..errors import NotFound
from ..render.canary import markdown as render_markdown
from ..store import rollouts as rows

if TYPE_CHECKING:
    from ..store import Store

MEASUREMENTS = 2000  # the newest measurements of a rollout shown
EVENTS = 500  # the newest events of a rollout shown
OUTPUT = 4096  # characters of a command's output kept (its tail: where the error is)
_DETAIL = ("step", "weight", "decision")  # an event's detail fields shown besides its output


def safe_url(url: str) -> str:
    """A URL without its user:password@ (and credential query parameters); a label unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_credentials_in(url)
    if parts.scheme and "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        url = urlunsplit(parts)
    return redact_credentials_in(url)


def _text(s: str) -> str:
    return redact_credentials_in(s)


def _tail(s: str) -> tuple[str, bool]:
    return (s, False) if len(s) <= OUTPUT else (s[-OUTPUT:], True)


def summary(r: rows.RolloutRow) -> dict[str, Any]:
    return {"id": r.id, "canary": r.canary, "status": r.status, "reason": _text(r.reason), "score": r.score,
            "env": r.env, "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "canary_url": safe_url(r.canary_url), "baseline_url": safe_url(r.baseline_url)}


def _event(e: rows.EventRow) -> dict[str, Any]:
    output, cut = _tail(str(e.detail.get("output") or ""))
    return {"at": e.at.isoformat(), "kind": e.kind, "message": _text(e.message), "exit_code": e.exit_code,
            "output": _text(output), "output_truncated": cut,
            **{k: e.detail[k] for k in _DETAIL if k in e.detail}}


def _measurement(m: rows.MeasurementRow) -> dict[str, Any]:
    return {"at": m.at.isoformat(), "step": m.step, "metric": m.metric, "target": m.target, "outcome": m.outcome,
            "result": m.result, "n": m.n, "min": m.low, "median": m.median, "max": m.high,
            "message": _text(m.message)}


def listing(store: Store, canary: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` rollouts (of ``canary``), as summaries."""
    with store.read() as tx:
        found = rows.latest(tx, canary, limit)
    out: list[dict[str, Any]] = redactor.redact([summary(r) for r in found])
    return out


def _read(tx: Any, rollout_id: int) -> tuple[rows.RolloutRow, list[rows.MeasurementRow], list[rows.EventRow]]:
    """The rollout with its newest measurements and events (bounded), read in ``tx``."""
    r = rows.get(tx, rollout_id)
    if r is None:
        raise _missing(rollout_id)
    return r, rows.measurements(tx, rollout_id, MEASUREMENTS), rows.events(tx, rollout_id, EVENTS)


def record(store: Store, rollout_id: int) -> dict[str, Any]:
    """The opsbook.api.rollout/1 document; NotFound (404) for an unknown id."""
    with store.read() as tx:
        r, ms, es = _read(tx, rollout_id)
        n_m, n_e = rows.count(tx, rollout_id)  # what the bounded reads left out
    doc = {"schema": "opsbook.api.rollout/1", "rollout": summary(r),
           "measurements": [_measurement(m) for m in ms], "measurements_omitted": n_m - len(ms),
           "events": [_event(e) for e in es], "events_omitted": n_e - len(es)}
    out: dict[str, Any] = redactor.redact(doc)
    return out


def markdown(store: Store, rollout_id: int) -> str:
    """render/canary.py's Markdown record of a past rollout, with URLs and text made safe."""
    with store.read() as tx:
        r, ms, es = _read(tx, rollout_id)
    r = replace(r, canary_url=safe_url(r.canary_url), baseline_url=safe_url(r.baseline_url))
    return redactor.text(_text(render_markdown(r, ms, es)))


def _missing(rollout_id: int) -> NotFound:
    return NotFound(f"no rollout #{rollout_id}", hint="`opsbook release rollouts` (GET /api/v1/rollouts) lists them")
