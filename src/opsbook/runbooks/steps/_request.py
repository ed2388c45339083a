"""One HTTP request with a deadline and a bounded body (the ``http`` step and ``wait url=``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from ...config.secrets import redactor
from .output import Sink

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def request(method: str, url: str, *, headers: Mapping[str, str], body: str | None, json_body: Any,
            timeout: float, verify: bool = True) -> tuple[dict[str, Any], Sink, str | None]:
    """(observations, the body's sink, error). An unreachable server is an error, not an exception."""
    import httpx

    start = time.perf_counter()
    sink = Sink()
    try:
        with httpx.Client(timeout=timeout, verify=verify, follow_redirects=True) as client:
            kwargs: dict[str, Any] = {"headers": dict(headers)}
            if json_body is not None:
                kwargs["json"] = json_body
            elif body is not None:
                kwargs["content"] = body.encode()
            with client.stream(method, url, **kwargs) as resp:
                deadline = start + timeout
                for chunk in resp.iter_bytes():
                    sink.feed(chunk)  # the middle of a big body is dropped as it arrives
                    if time.perf_counter() > deadline:
                        raise httpx.ReadTimeout("the body did not finish within the timeout")
    except httpx.HTTPError as e:
        what = type(e).__name__
        detail = redactor.text(str(e).splitlines()[0]) if str(e) else what
        return {"duration": _ms(start)}, sink, f"{method} {redactor.text(url)} failed: {detail} ({what})"
    text = sink.text()
    obs: dict[str, Any] = {
        "status": resp.status_code,
        "headers": {k.lower(): redactor.text(v) for k, v in resp.headers.items()},
        "body": text,
        "body_bytes": sink.total,
        "json": None,
        "duration": _ms(start),
    }
    raw = sink.raw()
    if raw and ("json" in resp.headers.get("content-type", "") or raw.lstrip()[:1] in (b"{", b"[")):
        import json
        with contextlib.suppress(ValueError):
            obs["json"] = redactor.redact(json.loads(raw))
    return obs, sink, None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
