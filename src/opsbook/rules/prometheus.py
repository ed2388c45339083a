"""Read Prometheus over its HTTP API (``/api/v1/query``): instant vectors and scalars.

Errors are ``SourceError`` with a message a person can act on; the engine stores it as the
rule's last error and goes on with the other rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ..config.load import Config
from ..config.resources import PrometheusResource
from ..config.secrets import reveal
from ..errors import SourceError


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def resource(cfg: Config, name: str) -> PrometheusResource:
    res = cfg.resources.get(name)
    if not isinstance(res, PrometheusResource):
        raise SourceError(f"no prometheus resource named {name!r}")
    return res


def query(cfg: Config, resource_name: str, expr: str, at: datetime) -> list[Sample]:
    """An instant query at ``at``; a scalar comes back as one sample without labels."""
    res = resource(cfg, resource_name)
    headers = {k: str(reveal(v, f"resources.{resource_name}.headers.{k}")) for k, v in res.headers.items()}
    url = res.url.rstrip("/") + "/api/v1/query"
    try:
        resp = httpx.post(url, data={"query": expr, "time": f"{at.timestamp():.3f}"}, headers=headers,
                          timeout=res.timeout)
    except httpx.HTTPError as e:
        raise SourceError(f"prometheus {resource_name} ({res.url}) unreachable: {type(e).__name__}: {e}",
                          hint="is Prometheus running and resources.<name>.url right?") from None
    try:
        doc: Any = resp.json()
    except ValueError:
        raise SourceError(f"prometheus {resource_name} answered HTTP {resp.status_code} without JSON") from None
    if resp.status_code != 200 or doc.get("status") != "success":
        raise SourceError(f"prometheus {resource_name} refused the query: "
                          f"{doc.get('errorType', resp.status_code)}: {doc.get('error', '')}".rstrip(": "),
                          hint=f"query: {expr}", retryable=False)
    data = doc.get("data") or {}
    kind, result = data.get("resultType"), data.get("result") or []
    if kind == "vector":
        return [Sample({k: str(v) for k, v in s.get("metric", {}).items()}, float(s["value"][1])) for s in result]
    if kind == "scalar":
        return [Sample({}, float(result[1]))]
    raise SourceError(f"prometheus {resource_name}: the query returned a {kind}; give an instant vector or scalar",
                      hint=f"query: {expr}", retryable=False)
