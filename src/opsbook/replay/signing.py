"""Signatures a webhook receiver verifies: Stripe's ``Stripe-Signature: t=<ts>,v1=<hex>`` (HMAC-SHA256
of ``"{t}.{body}"``), a generic HMAC header with a format template, or none. The secret is
resolved by reference and registered with the redactor when the signer is built."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

from ..config.replay import Signature
from ..config.secrets import reveal

Signer = Callable[[bytes, int], dict[str, str]]


def stripe_header(secret: bytes, body: bytes, t: int) -> str:
    mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signer(sig: Signature, path: str) -> Signer:
    """(body, unix time) -> the headers to add. ``path`` names the config key in errors."""
    if sig.stripe is not None:
        key = (reveal(sig.stripe.secret, f"{path}.stripe.secret") or "").encode()

        def stripe(body: bytes, t: int) -> dict[str, str]:
            return {"Stripe-Signature": stripe_header(key, body, t)}

        return stripe
    if sig.hmac is not None:
        h = sig.hmac
        hkey = (reveal(h.secret, f"{path}.hmac.secret") or "").encode()
        algo = getattr(hashlib, h.algorithm)

        def generic(body: bytes, t: int) -> dict[str, str]:
            signed = str(t).encode() + b"." + body if h.over == "timestamp.body" else body
            digest = hmac.new(hkey, signed, algo).digest()
            value = (h.format.replace("{hex}", digest.hex())
                     .replace("{base64}", base64.b64encode(digest).decode()).replace("{t}", str(t)))
            out = {h.header: value}
            if h.timestamp_header:
                out[h.timestamp_header] = str(t)
            return out

        return generic
    return lambda body, t: {}
