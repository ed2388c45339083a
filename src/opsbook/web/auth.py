"""Who is asking: API tokens with roles, the dashboard session cookie, CSRF tokens.

Tokens live in the config (``api: tokens:``) as secrets; a request presents one as
``Authorization: Bearer <token>`` or logs in once on the dashboard, which sets a signed,
HttpOnly, SameSite=Lax session cookie holding a session id, the token's *name* and a
fingerprint of the token (rotating a token ends its sessions) plus a random CSRF token for the
forms. The session id names a row in ``api_sessions``: logging out (or removing the token)
revokes the row, so a copied cookie stops working at once, on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from ..config.load import Config
from ..config.secrets import reveal
from ..errors import AuthError, CsrfError, Forbidden, OpsbookError
from ..store import sessions as session_rows
from ..store.store import Store

ROLES = ("viewer", "operator", "admin")
SESSION_COOKIE = "opsbook_session"
LOGIN_CSRF_COOKIE = "opsbook_login_csrf"


@dataclass(frozen=True)
class Principal:
    name: str  # token name, or "anonymous"
    role: str
    via: str  # bearer | session | anonymous
    csrf: str = ""
    session: str = ""  # the api_sessions id when via == "session"

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def token_table(cfg: Config) -> list[tuple[str, str, str]]:
    """(name, token, role) of every configured token; an unset env var drops that token."""
    out: list[tuple[str, str, str]] = []
    for name, t in cfg.model.api.tokens.items():
        try:
            value = reveal(t.token, f"api.tokens.{name}.token")
        except OpsbookError:
            continue
        if value:
            out.append((name, value, t.role))
    return out


def match_token(cfg: Config, presented: str) -> tuple[str, str, str] | None:
    """The (name, token, role) whose token equals ``presented``; constant time per candidate."""
    found = None
    for name, value, role in token_table(cfg):
        if hmac.compare_digest(value.encode(), presented.encode()):
            found = (name, value, role)
    return found


class Sessions:
    """Signed session cookies backed by ``api_sessions`` rows; the signing secret comes from
    ``api.session_secret`` or is per process."""

    def __init__(self, secret: str, ttl_s: float, store: Store) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="opsbook-session")
        self.ttl_s = ttl_s
        self.store = store

    def issue(self, name: str, token: str, now: datetime) -> tuple[str, str]:
        sid, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self.store.transaction() as tx:
            session_rows.create(tx, sid, name, now, self.ttl_s)
        return self.serializer.dumps({"s": sid, "n": name, "f": fingerprint(token), "c": csrf}), csrf

    def read(self, cookie: str, now: datetime) -> dict[str, Any] | None:
        """The cookie's data while its session row is live (not revoked, not expired)."""
        try:
            data = self.serializer.loads(cookie, max_age=int(self.ttl_s))
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str):
            return None  # a cookie from before server-side sessions: log in again
        with self.store.read() as tx:
            row = session_rows.get(tx, data["s"])
        if row is None or row[2] or row[1] <= now or row[0] != data.get("n"):
            return None
        return data

    def revoke(self, sid: str, now: datetime) -> bool:
        """End one session; True when this call ended it (compare-and-set: revoked once)."""
        with self.store.transaction() as tx:
            return session_rows.revoke(tx, sid, now)


def authenticate(request: Request, cfg: Config, sessions: Sessions, now: datetime) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("the Authorization header is not 'Bearer <token>'",
                            hint="send Authorization: Bearer <token> with a token from api: tokens:")
        m = match_token(cfg, value.strip())
        if m is None:
            raise AuthError("unknown or revoked token", hint="check the token against api: tokens: in the config")
        return Principal(m[0], m[2], "bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        data = sessions.read(cookie, now)
        if data:
            for name, value, role in token_table(cfg):
                if name == data.get("n") and hmac.compare_digest(fingerprint(value), str(data.get("f", ""))):
                    return Principal(name, role, "session", str(data.get("c", "")), str(data["s"]))
            # the token was removed or rotated (config reload): end the session for good, so
            # putting the same token back later does not revive a cookie someone may have kept
            sessions.revoke(str(data["s"]), now)
    anon = cfg.model.api.anonymous
    if anon:
        return Principal("anonymous", anon, "anonymous")
    return None


def require(principal: Principal | None, role: str) -> Principal:
    if principal is None:
        raise AuthError("authentication required",
                        hint="send Authorization: Bearer <token>, or log in on the dashboard at /login")
    if not principal.can(role):
        raise Forbidden(f"{principal.name} has role {principal.role}; this needs {role}",
                        hint="use a token with a higher role (api: tokens: ... role:)")
    return principal


def check_csrf(principal: Principal, presented: str | None) -> None:
    """Writes authenticated by cookie must carry the session's CSRF token; bearer writes need not."""
    if principal.via != "session":
        return
    if not presented or not principal.csrf or not hmac.compare_digest(presented, principal.csrf):
        raise CsrfError("missing or wrong CSRF token", hint="reload the page and submit the form again")
