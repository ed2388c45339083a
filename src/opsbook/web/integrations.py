"""The rules and notify functions the web surfaces show (alerts, silences, acks, SLOs,
heartbeats, maintenance), looked up by name so a page can say "not available" when one is
missing instead of failing the whole app."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# what each feature needs: (module, function)
FEATURES: dict[str, tuple[str, str]] = {
    "alerts": ("opsbook.rules.engine", "current_alerts"),
    "slos": ("opsbook.rules.slo", "status"),
    "heartbeat_ping": ("opsbook.rules.heartbeats", "record_ping"),
    "heartbeats": ("opsbook.rules.heartbeats", "status"),
    "maintenance": ("opsbook.rules.maintenance", "active"),
    "silence_add": ("opsbook.notify.silences", "add"),
    "silences": ("opsbook.notify.silences", "list_active"),
    "silence_expire": ("opsbook.notify.silences", "expire"),
    "ack": ("opsbook.notify.acks", "acknowledge"),
    "groups": ("opsbook.notify.groups", "list_groups"),
    "outbox": ("opsbook.notify.outbox", "recent"),
}


def feature(name: str) -> Callable[..., Any] | None:
    module, fn = FEATURES[name]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    f = getattr(mod, fn, None)
    return f if callable(f) else None


def missing() -> list[str]:
    return [f"{m}.{f}" for name, (m, f) in FEATURES.items() if feature(name) is None]


def as_dict(obj: Any) -> Any:
    """Rules/notify objects carry to_dict(); dicts and lists pass through."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, list | tuple):
        return [as_dict(o) for o in obj]
    return obj
