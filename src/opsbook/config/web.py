"""Config for the JSON API, dashboard, status page and history retention (``api:``,
``status_page:``, ``retention:``). Owned by src/opsbook/web/."""

from __future__ import annotations

from .resources import Model


class Api(Model):
    """Placeholder: filled in by the web work."""


class StatusPage(Model):
    """Placeholder: filled in by the web work."""


class Retention(Model):
    """Placeholder: filled in by the web work."""
