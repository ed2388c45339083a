"""The ``secret NAME overdue`` / ``secret overdue`` rule source: one alert instance per (secret,
environment) of the inventory (``secrets:``) whose rotation is past due: rotate_every after the
last recorded rotation, or never recorded. Instances that were firing and are rotated since
are observed as false and resolve through the normal alert path."""

from __future__ import annotations

from datetime import datetime

from ..config.load import Config
from ..store import secret_rotations as rows
from ..store.store import Store
from .spec import Observation
from .storage import Stored


def observe(cfg: Config, store: Store, target: str, stored: list[Stored], now: datetime) -> list[Observation]:
    inv = cfg.model.secrets
    names = [n for n in inv if target in ("*", n)]
    with store.read() as tx:
        latest = rows.latest(tx, names)
    out: list[Observation] = []
    seen: set[tuple[str, str]] = set()
    for name in names:
        entry = inv[name]
        for env in entry.environments or [""]:
            last = latest.get((name, env))
            due, overdue = entry.due(last.at if last else None, now)
            if not overdue:
                continue
            labels = {"secret": name, "secret_env": env}
            seen.add((name, env))
            late = (now - due).total_seconds() if due else None
            where = f" in {env}" if env else ""
            what = (f"secret {name}{where}: rotation due {due.isoformat()}, not rotated" if due
                    else f"secret {name}{where}: no rotation recorded (rotate_every set)")
            out.append(Observation(labels, True, late, what + "; record one with `opsbook secrets rotated`"))
    for st in stored:  # was overdue, rotated since
        key = (st.alert.labels.get("secret", ""), st.alert.labels.get("secret_env", ""))
        if key[0] and key not in seen and st.alert.state != "inactive":
            out.append(Observation({"secret": key[0], "secret_env": key[1]}, False, 0.0,
                                   f"secret {key[0]}: rotated"))
    return out
