"""Config for the daemon (``serve:``): listen address, logs, self-heartbeat. Owned by
src/opsbook/daemon/."""

from __future__ import annotations

from .resources import Model


class Serve(Model):
    """Placeholder: filled in by the daemon work."""
