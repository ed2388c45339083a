"""The explicit registry of receiver kinds: one line per kind. grep here to find them all.
The key is the receiver's kind key in notify.receivers.<name>; the config model is in
config/notify.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import apprise_receiver, file, pagerduty, webhook
from .base import SendContext

Sender = Callable[[Any, dict[str, Any], SendContext], dict[str, Any]]

SENDERS: dict[str, Sender] = {
    "pagerduty": pagerduty.send,
    "webhook": webhook.send,
    "apprise": apprise_receiver.send,
    "file": file.send,
}
