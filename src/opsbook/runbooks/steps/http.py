"""``http``: one HTTP request; the body of the step is YAML {method, url, headers, body | json,
timeout, verify}. ``${name}`` is substituted in every string of it after the YAML is read (so a
value with a quote cannot change its structure); what is shown masks secrets, and a header whose
value holds a secret (or is a credential header) is shown as ***."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...config.secrets import REDACTED, redact_credentials_in, redactor
from ...durations import PositiveDuration
from ...errors import UsageError
from ..model import Step
from ..template import refs, substitute
from ._common import remember_secrets
from ._request import SAFE_METHODS, request
from .base import Rendered, StepContext, StepOutcome

if TYPE_CHECKING:
    from ...config.load import Config

CREDENTIAL_HEADERS = ("authorization", "cookie", "token", "secret", "key", "password")


class HttpRequest(BaseModel):
    """The YAML body of an http step."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    method: Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(default=None, alias="json")
    timeout: PositiveDuration | None = None
    verify: bool = True

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequest:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give body: or json:, not both")
        return self


def _parse(step: Step) -> HttpRequest:
    import yaml
    try:
        data = yaml.safe_load(step.body)
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data["method"] = data["method"].upper()
        return HttpRequest.model_validate(data)
    except yaml.YAMLError as e:
        raise UsageError(f"line {step.line}: step {step.name!r}: the body is not YAML: {e}",
                         hint="write method:, url:, headers:, body: or json: (docs/steps/http.md)") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise UsageError(f"line {step.line}: step {step.name!r}: {where}: {first['msg']}",
                         hint="docs/steps/http.md lists the keys") from None


def _each(data: Any, fn: Any) -> Any:
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {k: _each(v, fn) for k, v in data.items()}
    if isinstance(data, list):
        return [_each(v, fn) for v in data]
    return data


class HttpStep:
    name: ClassVar[str] = "http"
    Attrs: ClassVar[type[BaseModel] | None] = None
    pauses: ClassVar[bool] = False
    default_expect: ClassVar[tuple[str, ...]] = ("status < 400",)

    def render(self, step: Step, values: Mapping[str, str], secret_names: frozenset[str],
               cfg: Config) -> Rendered:
        req = _parse(step)

        def real(s: str) -> str:
            return substitute(s, values, secret_names)

        def masked(s: str) -> str:
            return redactor.text(substitute(s, values, secret_names, mask=True))

        url = real(req.url)
        headers = {k: real(v) for k, v in req.headers.items()}
        body = real(req.body) if req.body is not None else None
        json_body = _each(req.json_body, real)
        lines = [f"{req.method} {redact_credentials_in(masked(req.url))}"]
        for k, v in req.headers.items():
            hidden = any(n in secret_names for n in refs(v)) or any(c in k.lower() for c in CREDENTIAL_HEADERS)
            lines.append(f"{k}: {REDACTED if hidden else masked(v)}")
        if body is not None and req.body is not None:
            lines += ["", masked(req.body)]
        elif req.json_body is not None:
            lines += ["", json.dumps(_each(req.json_body, masked), indent=2)]
        parts = urlsplit(url)
        target = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
        spec = {"method": req.method, "url": url, "headers": headers, "body": body, "json": json_body,
                "timeout": req.timeout, "verify": req.verify}
        return Rendered(kind=self.name, display="\n".join(lines), target=target,
                        read_only=req.method in SAFE_METHODS, spec=spec)

    def run(self, rendered: Rendered, ctx: StepContext) -> StepOutcome:
        remember_secrets(ctx.values, ctx.secret_names)
        s = rendered.spec
        timeout = min(ctx.timeout, s["timeout"]) if s["timeout"] else ctx.timeout
        obs, sink, error = request(s["method"], s["url"], headers=s["headers"], body=s["body"],
                                   json_body=s["json"], timeout=timeout, verify=s["verify"])
        text = sink.text()
        if ctx.emit is not None and text:
            ctx.emit(text.encode())
        return StepOutcome(obs, output=text, output_bytes=sink.total, error=error,
                           timed_out=error is not None and "Timeout" in error)

    def lint(self, step: Step) -> list[str]:
        try:
            req = _parse(step)
        except UsageError as e:
            return [e.message]
        if req.method not in SAFE_METHODS and not step.mutates:
            return [f"step {step.name!r} sends {req.method}, which may change things, but is not marked "
                    "mutates=true"]
        return []


KIND = HttpStep()
