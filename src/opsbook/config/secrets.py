"""Secrets by reference, and redaction of everything we might print or store.

A secret in the config is ``{env: NAME}`` or ``{file: PATH}``. Every reference that resolves
is read once when the config loads (``register_secrets``) and registered with the process-wide
redactor, so that no table, JSON document, log line, stored row or child process's output can
show it, even before the first check uses it; one that does not resolve then is an error only
where it is used. Passwords embedded in URLs and DSNs (``postgresql://u:pw@h/db``) are redacted
even when written inline, and ``config show``/``config validate`` find every inline secret
(``inline_secrets``, ``show``).
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import os
import re
import threading
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, quote_plus

import markupsafe
from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from ..errors import ConfigError

REDACTED = "***"


class SecretRef(BaseModel):
    """``{env: NAME}`` or ``{file: PATH}``; exactly one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference is either {env: NAME} or {file: PATH}")
        return self

    def describe(self) -> str:
        return f"<secret from env {self.env}>" if self.env else f"<secret from file {self.file}>"

    def resolve(self, path: str = "") -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(
                    f"environment variable {self.env} is not set",
                    path=path,
                    hint=f"export {self.env}=... or change the reference",
                )
        else:
            assert self.file is not None
            p = Path(os.path.expanduser(self.file))
            try:
                value = p.read_text().strip()
            except OSError as e:
                raise ConfigError(
                    f"cannot read secret file {self.file}: {e.strerror}", path=path
                ) from None
        redactor.add(value)
        return value


# A config value that may be written inline (e.g. a URL without credentials) or by reference.
Secret = str | SecretRef


def secret_refs_in(value: Any) -> Any:
    """Free-form data (a smoke step's ``json:``) with each one-key ``{env: NAME}`` or
    ``{file: PATH}`` mapping made a ``SecretRef``, resolved only when the data is sent."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("env", "file") and isinstance(next(iter(value.values())), str):
            return SecretRef(**value)
        return {k: secret_refs_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [secret_refs_in(v) for v in value]
    return value


def reveal_in(value: Any, path: str = "") -> Any:
    """``value`` with every ``SecretRef`` inside it resolved (and registered with the redactor)."""
    if isinstance(value, SecretRef):
        return value.resolve(path)
    if isinstance(value, dict):
        return {k: reveal_in(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_in(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


# free-form data that may hold secret references anywhere: ``json: {token: {env: API_TOKEN}}``
DataWithSecrets = Annotated[Any, BeforeValidator(secret_refs_in)]


def reveal(value: Secret | None, path: str = "") -> str | None:
    """The plain value of a maybe-secret field; registers it with the redactor."""
    if value is None:
        return None
    if isinstance(value, SecretRef):
        return value.resolve(path)
    redact_url_password(value)  # registers any embedded password
    return value


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


def redact_url_password(text: str) -> str:
    """Replace the password in ``scheme://user:pw@host`` and ``password=pw`` forms."""

    def url(m: re.Match[str]) -> str:
        redactor.add(m.group("pw"))
        return f"{m.group('scheme')}{m.group('user')}:{REDACTED}@"

    def kv(m: re.Match[str]) -> str:
        redactor.add(m.group("pw").strip("'"))
        return f"{m.group('key')}{REDACTED}"

    return _KV_PASSWORD.sub(kv, _URL_PASSWORD.sub(url, text))


class Redactor:
    """Process-wide set of secret values; ``redact`` scrubs them out of any structure."""

    MIN_LEN = 4  # shorter values would shred ordinary text; they are still never logged by us
    LONG = 4096  # texts at least this long are searched for each value first

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if not value or len(value) < self.MIN_LEN or value in self._values:
            return
        with self._lock:
            # the value as other encoders print it: a secret with a quote, a backslash or a
            # non-ASCII letter is written differently inside JSON, HTML or a URL
            self._values.update(encoded_forms(value))
            self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._values:
            self._pattern = re.compile(_trie_regex(self._values))
        return self._pattern

    def text(self, s: str) -> str:
        s = redact_url_password(s) if "://" in s or "assword" in s else s
        if len(s) >= self.LONG and self._values:
            # long output (a step's, a log's) rarely holds a secret: C substring searches find
            # which values occur (150 values: ~3 ms per 64 KiB); only those go into the regex
            present = frozenset(v for v in tuple(self._values) if v in s)
            if not present:
                return s
            return re.sub(_trie_regex(set(present)), REDACTED, s)
        pat = self._compiled()
        return pat.sub(REDACTED, s) if pat else s

    def redact(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self.redact(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact(v) for v in obj]
        return obj


redactor = Redactor()


def _trie_regex(values: set[str]) -> str:
    """One regex matching any of ``values``, longest first, written as a prefix tree. A flat
    alternation of N literals makes the regex engine try all N at every position of the text (150
    secrets: 34 ms per 64 KiB of output); the tree tries one branch per character."""
    trie: dict[str, Any] = {}
    for v in values:
        node = trie
        for ch in v:
            node = node.setdefault(ch, {})
        node[""] = {}  # a value ends here

    def walk(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + walk(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # greedy: a longer value wins over one that is its prefix; "?" when a value may end here
        return f"(?:{body})?" if ends else body

    return walk(trie)


def encoded_forms(value: str) -> set[str]:
    """``value`` and how JSON (ASCII or not), HTML (html.escape, markupsafe) and URLs write it."""
    forms = {value}
    for j in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        forms.add(j)
        forms.add(html.escape(j))  # JSON inside an HTML page
        forms.add(str(markupsafe.escape(j)))
    forms.add(html.escape(value))
    forms.add(html.escape(value, quote=False))
    forms.add(str(markupsafe.escape(value)))
    forms.add(quote(value, safe=""))
    forms.add(quote_plus(value, safe=""))
    return forms


# -- every secret of a loaded config -------------------------------------------------------------

# names of environment variables that some secret reference reads; `command` checks start
# without them (secret_env_names)
_secret_env: set[str] = set()
_CREDENTIAL_NAME = re.compile(
    r"token|secret|passw(or)?d|^pw$|^pass$|api[_-]?key|apikey|routing[_-]?key|private[_-]?key|"
    r"credential|bearer|authorization|cookie|^identity$|^auth$",
    re.IGNORECASE,
)
_CREDENTIAL_QUERY = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|token|access_token|auth_token|api_key|apikey|key|secret|"
    r"client_secret|signature|sig|x-amz-signature|auth)=)(?P<value>[^&;#\s]+)",
    re.IGNORECASE,
)
# string fields whose values are not secrets whatever their key is called (save: {token: json.x})
_NOT_SECRET_MAPS = {"save", "labels", "match", "match_re", "description", "expect", "warn"}


INLINE_MIN_LEN = 8


def secret_env_names() -> set[str]:
    """Environment variables read by secret references of the configs loaded in this process."""
    return set(_secret_env)


_PLAIN = (str, int, float, bool, bytes, type(None))


def _may_hold_ref(annotation: Any, seen: set[type]) -> bool:
    """Whether a field so annotated can hold a ``SecretRef`` (or a drill target); unknown
    types count as yes, so skipping by this never misses a reference."""
    from .backups import DrillTarget

    if annotation is SecretRef or annotation is Any or annotation is DrillTarget:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return False
    if origin is typing.Annotated:
        return _may_hold_ref(typing.get_args(annotation)[0], seen)
    if isinstance(annotation, type) and origin is None:
        if issubclass(annotation, BaseModel):
            if annotation in seen:
                return False  # being decided further up this annotation
            seen.add(annotation)
            return any(_may_hold_ref(f.annotation, seen) for f in annotation.model_fields.values())
        return not issubclass(annotation, _PLAIN)
    args = typing.get_args(annotation)
    return any(_may_hold_ref(a, seen) for a in args) if args else True


@functools.cache
def _ref_fields(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(attribute, key) of the fields of ``cls`` that may hold a secret reference: a config of
    500 contract variables is walked in a blink instead of field by field."""
    return tuple((name, field.alias or name) for name, field in cls.model_fields.items()
                 if _may_hold_ref(field.annotation, set()))


def _refs(model: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], SecretRef]]:
    """Every ``SecretRef`` in a loaded config (a drill's ``target: {env: X}`` is one too)."""
    from .backups import DrillTarget

    if isinstance(model, SecretRef):
        yield path, model
    elif isinstance(model, DrillTarget) and (model.env or model.file):
        yield path, SecretRef(env=model.env, file=model.file)
    elif isinstance(model, BaseModel):
        for name, key in _ref_fields(type(model)):
            yield from _refs(getattr(model, name), (*path, key))
    elif isinstance(model, dict):
        for k, v in model.items():
            yield from _refs(v, (*path, k))
    elif isinstance(model, list | tuple):
        for i, v in enumerate(model):
            yield from _refs(v, (*path, i))


def register_secrets(model: Any) -> None:
    """Resolve every secret reference of a just-loaded config and register its value, so it is
    redacted before anything uses it. One that does not resolve now (a variable set only where
    it is used) is skipped: it raises its own error where it is needed."""
    for _, ref in _refs(model):
        if ref.env is not None:
            _secret_env.add(ref.env)
        with contextlib.suppress(ConfigError):
            ref.resolve()
    for _, value, why in _inline(model):
        if why == "credential":
            # an inline token is still a token: never print it back. Short inline values are
            # test data (a smoke step's `password: wrong`); redacting them everywhere would
            # shred ordinary words. `config show` hides them all the same.
            if len(value) >= INLINE_MIN_LEN:
                redactor.add(value)
        else:
            redact_url_password(value)  # registers the embedded password


def _mentions_secret_ref(annotation: Any) -> bool:
    if annotation is SecretRef:
        return True
    return any(_mentions_secret_ref(a) for a in typing.get_args(annotation))


@functools.cache
def _inline_fields(cls: type[BaseModel]) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, key, typed Secret) of the fields of ``cls`` ``_inline`` looks into."""
    return tuple((name, field.alias or name, _mentions_secret_ref(field.annotation))
                 for name, field in cls.model_fields.items() if name not in _NOT_SECRET_MAPS)


def _inline(model: Any, path: tuple[str | int, ...] = (), secret_typed: bool = False,
            key: str = "") -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """(path, value, why) for every string that carries a credential inline: ``credential`` for a
    field named like one (token, password, routing_key, ...; only fields typed ``Secret`` or free
    data such as vars, env and request bodies), ``url`` for a password or token inside a URL."""
    if isinstance(model, SecretRef):
        return
    if isinstance(model, BaseModel):
        for name, alias, typed in _inline_fields(type(model)):
            value = getattr(model, name)
            if value is not None:
                yield from _inline(value, (*path, alias), typed, alias)
    elif isinstance(model, dict):
        for k, v in model.items():
            yield from _inline(v, (*path, k), secret_typed, str(k))
    elif isinstance(model, list | tuple):
        for i, v in enumerate(model):
            yield from _inline(v, (*path, i), secret_typed, key)
    elif isinstance(model, str) and model and "${" not in model:  # ${x}: a value saved at run time
        if _CREDENTIAL_NAME.search(key):
            yield path, model, "credential"
        elif _URL_PASSWORD.search(model) or _KV_PASSWORD.search(model) or _CREDENTIAL_QUERY.search(model):
            yield path, model, "url"
        elif secret_typed and key == "urls":  # Apprise URLs carry their service's tokens in the path
            yield path, model, "credential"


def inline_secrets(model: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(config path, what is wrong) for every credential written inline instead of by reference."""
    out = []
    for path, _, why in _inline(model):
        what = "a credential" if why == "credential" else "a password or token inside a URL"
        out.append((path, f"{what} is written inline; write it as {{env: NAME}} or {{file: PATH}}"))
    return out


def inline_secret_problems(config: Any) -> list[ConfigError]:
    """``inline_secrets`` of a loaded ``Config`` as errors naming the path and file:line:column."""
    from .yamlsource import dotted

    out = []
    for path, message in inline_secrets(config.model):
        where = config.source.where(path)
        out.append(ConfigError(message, path=dotted(path), line=where[0] if where else None,
                               column=where[1] if where else None, file=config.source.file))
    return out


def redact_credentials_in(text: str) -> str:
    """``text`` with URL passwords, ``password=`` and credential query parameters replaced."""
    text = redact_url_password(text)
    return _CREDENTIAL_QUERY.sub(lambda m: m.group("key") + REDACTED, text)


def show(model: Any) -> Any:
    """The config as data for ``config show``: a reference shown as its description, an inline
    credential as ``***`` and a URL without its password or token, never a secret value."""
    from pydantic import BaseModel

    inline = {path: why for path, _, why in _inline(model)}

    def walk(v: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(v, SecretRef):
            return v.describe()
        if isinstance(v, BaseModel):
            out = {}
            for name, field in type(v).model_fields.items():
                val = getattr(v, name)
                if val is None or (val == field.default and name not in v.model_fields_set):
                    continue
                alias = field.alias or name
                out[alias] = walk(val, (*path, alias))
            return out
        if isinstance(v, dict):
            return {k: walk(x, (*path, k)) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x, (*path, i)) for i, x in enumerate(v)]
        if isinstance(v, str):
            if inline.get(path) == "credential":
                scheme = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", v)
                return (scheme.group(0) if scheme else "") + REDACTED
            return redactor.text(redact_credentials_in(v))
        if hasattr(v, "expr"):  # an Assertion
            return v.expr
        return v

    return walk(model, ())
