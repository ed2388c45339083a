"""``apprise:`` receiver: chat and e-mail through the Apprise library (slack://, mailto://,
tgram://, json://...). Apprise URLs embed tokens: they are secrets, revealed at send time and
registered with the redactor. Apprise reports only success or failure, so a failure is
retried (it may be transient) until the outbox's max_age."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ...config.resources import Model, Secret
from ...config.secrets import redactor, reveal
from ...durations import PositiveDuration
from ...errors import DeliveryError
from ..render import body_text, title_text
from .base import ReceiverKind, SendContext


class AppriseReceiver(Model):
    urls: list[Secret] = Field(min_length=1, description="Apprise URLs (slack://, mailto://, json://...)")
    timeout: PositiveDuration = 10.0

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        # PRODUCT.md's `apprise: "slack://..."` and `apprise: [url, url]`
        if isinstance(data, str | list):
            return {"urls": data if isinstance(data, list) else [data]}
        return data


def send(spec: AppriseReceiver, payload: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
    import apprise  # 0.2 s to import; only when an apprise receiver sends

    ap = apprise.Apprise()
    for i, secret in enumerate(spec.urls):
        url = reveal(secret, f"notify.receivers.{ctx.name}.apprise.urls[{i}]") or ""
        redactor.add(url)
        if not ap.add(url):
            raise DeliveryError(f"apprise {ctx.name}: urls[{i}] is not a URL Apprise understands",
                                retryable=False, hint="see https://github.com/caronc/apprise/wiki for URL forms")
    status = payload.get("status")
    notify_type = apprise.NotifyType.SUCCESS if status == "resolved" else (
        apprise.NotifyType.INFO if payload.get("kind") in ("acknowledge", "test") else apprise.NotifyType.FAILURE)
    ok = ap.notify(title=title_text(payload), body=body_text(payload), notify_type=notify_type)
    if not ok:
        raise DeliveryError(f"apprise {ctx.name}: at least one of {len(spec.urls)} URL(s) failed",
                            retryable=True, hint="check the service behind each URL; opsbook retries with backoff")
    return {"urls": len(spec.urls)}


KIND = ReceiverKind(AppriseReceiver, send)
