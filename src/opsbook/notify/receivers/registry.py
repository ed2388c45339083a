"""The explicit registry of receiver kinds: one line per kind. grep here to find them all.
The key is the receiver's kind key in notify.receivers.<name>; each kind's module holds its
config model and its sender (see base.py), and docs/receivers/<kind>.md documents it."""

from __future__ import annotations

from ...registry import Registry
from . import apprise_receiver, file, ntfy, pagerduty, webhook
from .base import ReceiverKind

RECEIVERS: Registry[ReceiverKind] = Registry("receiver kind", {
    "pagerduty": pagerduty.KIND,
    "webhook": webhook.KIND,
    "apprise": apprise_receiver.KIND,
    "file": file.KIND,
    "ntfy": ntfy.KIND,
}, docs="receivers/{name}.md", model=lambda k: k.Config)
