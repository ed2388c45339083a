"""Status page notices posted from the command line (or the API): ``post`` writes one to the
store, ``expire`` takes it down. No YAML edit, no SIGHUP: /status reads them from the store.
Also the parsing of ``--component NAME=degraded|outage`` shared with public incident updates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..config.load import Config
from ..config.references import missing
from ..errors import UsageError
from ..store import Store
from ..store import status_updates as rows

IMPACTS: tuple[str, ...] = ("degraded", "outage")


def parse_components(cfg: Config, specs: Iterable[str]) -> dict[str, str]:
    """``NAME=degraded|outage`` (``NAME`` alone means degraded) -> {component: impact}; each name
    must be a status_page component (exit 2 with a did-you-mean otherwise)."""
    names = [c.name for c in cfg.model.status_page.components]
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, impact = spec.rpartition("=")
        if not sep:
            name, impact = spec, "degraded"
        name, impact = name.strip(), impact.strip()
        if impact not in IMPACTS:
            raise UsageError(f"--component {spec!r}: the impact must be degraded or outage",
                             hint="e.g. --component api=degraded")
        if name not in names:
            msg, hint = missing("status page component", name, names,
                                f"components in {cfg.path} (status_page.components)")
            raise UsageError(msg, hint=hint)
        out[name] = impact
    return out


def level(components: dict[str, str]) -> str:
    """The notice's level: the worst impact it names, else info."""
    vals = set(components.values())
    return "outage" if "outage" in vals else "degraded" if "degraded" in vals else "info"


@dataclass(frozen=True)
class Notice:
    row: rows.UpdateRow

    def to_dict(self) -> dict[str, Any]:
        r = self.row
        return {"id": r.id, "message": r.message, "level": r.status, "components": r.components,
                "posted_at": r.at.isoformat(), "author": r.author,
                "expires_at": r.expires_at.isoformat() if r.expires_at else None}


def post(store: Store, cfg: Config, message: str, author: str, now: datetime, *, components: Iterable[str] = (),
         for_seconds: float | None = None) -> Notice:
    """A notice on /status from now, for ``for_seconds`` (None: until expired)."""
    if not message.strip():
        raise UsageError("a notice needs a message", hint='e.g. opsbook status notice "Card payments are slow"')
    if for_seconds is not None and for_seconds <= 0:
        raise UsageError("--for must be positive", hint="e.g. --for 2h")
    comps = parse_components(cfg, components)
    expires = now + timedelta(seconds=for_seconds) if for_seconds is not None else None
    with store.transaction() as tx:
        return Notice(rows.insert(tx, incident_id=None, kind="notice", status=level(comps), message=message.strip(),
                                  components=comps, at=now, author=author, expires_at=expires))


def expire(store: Store, notice_id: int, now: datetime) -> Notice:
    """Take the notice down now. An unknown id, or one already down, is a usage error (exit 2)."""
    with store.transaction() as tx:
        row = rows.expire(tx, notice_id, now)
        if row is not None:
            return Notice(row)
        got = rows.get(tx, notice_id)
    hint = "`opsbook status notice --list` shows the notices that are up"
    if got is None or got.kind != "notice":
        raise UsageError(f"no notice {notice_id}", hint=hint)
    assert got.expires_at is not None
    raise UsageError(f"notice {notice_id} is already down (since {got.expires_at.isoformat()})", hint=hint)


def active(store: Store, now: datetime) -> list[Notice]:
    with store.read() as tx:
        return [Notice(r) for r in rows.active_notices(tx, now)]
