"""``tls``: handshake and read the certificate chain; expiry, names and trust are observations.

The chain is read with verification off, so an expired or untrusted certificate is still
described (``days_left`` goes negative); trust is tried in a handshake of its own and
reported as ``verified`` / ``verify_error``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import struct
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported where used: the CLI starts fast and loads only what a run needs
    from cryptography import x509
from pydantic import Field

from ..config.models import CheckParams
from ..config.resources import HttpResource, PostgresResource
from ..errors import ProbeError
from .base import Probe, ProbeContext
from .tcp import close, connect, endpoint

_ENCODING_DER = 2  # _ssl.ENCODING_DER: the private Certificate.public_bytes format flag
# PostgreSQL's SSLRequest: length 8, then the magic code 80877103 (1234 << 16 | 5679)
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


class TlsParams(CheckParams):
    host: str | None = Field(default=None, description="host to connect to; or from the resource")
    port: int | None = Field(default=None, ge=1, le=65535, description="default 443")
    server_name: str | None = Field(default=None, description="SNI and the name checked; def. host")
    starttls: Literal["postgres"] | None = Field(
        default=None, description="upgrade a plain connection first (auto for postgres resources)")
    ca_file: str | None = Field(default=None, description="trust these CAs, not the system's")


def _context(ctx: ProbeContext, verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """Cached per run. Hostname checking is always off: hostname_ok is judged separately."""
    key = f"tls:{verify}:{ca_file}"
    c = ctx.shared.get(key)
    if c is None:
        if verify:
            try:
                c = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as e:
                raise ProbeError(f"cannot load ca_file {ca_file}: {e}", retryable=False) from None
        else:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
        ctx.shared[key] = c
    return c


class _Shake:
    """What one handshake saw, read before the connection closes."""

    def __init__(self, obj: ssl.SSLObject, elapsed: float) -> None:
        self.certs = _chain(obj)
        self.protocol = obj.version()
        self.cipher = (obj.cipher() or ("",))[0]
        self.elapsed = elapsed


async def _handshake(host: str, port: int, sni: str, starttls: str | None,
                     context: ssl.SSLContext, timeout: float) -> _Shake:
    """TLS up (after STARTTLS when asked), then the certificates and parameters."""
    reader, writer = await connect(host, port, timeout)
    try:
        if starttls == "postgres":
            writer.write(SSL_REQUEST)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(1), timeout)
            if answer != b"S":
                raise ProbeError(f"{host}:{port}: server does not support TLS "
                                 f"(answered {answer!r} to SSLRequest)",
                                 hint="enable ssl = on in postgresql.conf", retryable=False)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.wait_for(
            writer.start_tls(context, server_hostname=None if _is_ip(sni) else sni), timeout)
        obj = writer.get_extra_info("ssl_object")
        assert isinstance(obj, ssl.SSLObject)
        shake = _Shake(obj, (loop.time() - t0) * 1000)
    except BaseException:
        writer.transport.abort()  # a half-done handshake has nothing to close gracefully
        raise
    await close(writer)
    return shake


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _chain(obj: ssl.SSLObject) -> list[x509.Certificate]:
    """The chain the server sent, leaf first. ``get_unverified_chain`` is public from 3.13
    and exists (private, on ``_sslobj``) since 3.10; fall back to the leaf alone."""
    from cryptography import x509
    raw = getattr(obj, "get_unverified_chain", None) or getattr(
        getattr(obj, "_sslobj", None), "get_unverified_chain", None)
    if raw is not None:
        certs = raw() or []
        return [x509.load_der_x509_certificate(c.public_bytes(_ENCODING_DER)) for c in certs]
    der = obj.getpeercert(binary_form=True)
    return [x509.load_der_x509_certificate(der)] if der else []


def _names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns_names = ext.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return [*dns_names, *ips]


def hostname_matches(cert: x509.Certificate, name: str) -> bool:
    """RFC 6125 matching: SAN first (one left-most wildcard label), CN only without SANs."""
    from cryptography.x509.oid import NameOID
    san = _names(cert)
    if _is_ip(name):
        return ipaddress.ip_address(name) in {ipaddress.ip_address(s) for s in san if _is_ip(s)}
    candidates = [s for s in san if not _is_ip(s)]
    if not san:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        candidates = [str(a.value) for a in cns]
    want = name.lower().rstrip(".").split(".")
    for pattern in candidates:
        parts = pattern.lower().rstrip(".").split(".")
        if len(parts) != len(want):
            continue
        if parts[0] == "*" and len(parts) > 2 and parts[1:] == want[1:]:
            return True
        if parts == want:
            return True
    return False


def _days_left(cert: x509.Certificate, now: datetime) -> float:
    return round((cert.not_valid_after_utc - now).total_seconds() / 86400, 3)


def _target(p: TlsParams, ctx: ProbeContext) -> tuple[str, int, str | None]:
    res = ctx.resource
    if isinstance(res, HttpResource) and urlsplit(res.url).scheme.lower() != "https":
        raise ProbeError(f"resource URL {res.url} is not https", retryable=False)
    r_host, r_port = endpoint(res)
    starttls = p.starttls or ("postgres" if isinstance(res, PostgresResource) else None)
    host = p.host or r_host
    if not host:
        raise ProbeError("a tls check needs host: (or a resource)", retryable=False)
    return host, p.port or r_port or 443, starttls


class TlsCheck:
    name: ClassVar[str] = "tls"
    Params: ClassVar[type[CheckParams]] = TlsParams
    resource_kinds: ClassVar[tuple[str, ...]] = ("http", "postgres", "tcp")
    default_expect: ClassVar[tuple[str, ...]] = ("days_left > 0", "hostname_ok == true", "verified == true")
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("cryptography.x509",)
    observations: ClassVar[dict[str, str]] = {
        "days_left": "days until the leaf certificate expires; negative once expired",
        "not_after": "leaf expiry, ISO 8601 UTC",
        "not_before": "leaf start of validity, ISO 8601 UTC",
        "subject": "leaf subject (RFC 4514)",
        "issuer": "leaf issuer (RFC 4514)",
        "san": "leaf subject alternative names (DNS names and IPs)",
        "hostname_ok": "the leaf is valid for server_name (SAN, else CN)",
        "verified": "the chain is trusted (system store, or ca_file); hostname not included",
        "verify_error": "why the chain is not trusted (null when verified)",
        "chain": "certificates the server sent after the leaf: [{subject, not_after, days_left}]",
        "chain_days_left": "smallest days_left among those (null: the server sent only the leaf)",
        "protocol": "negotiated TLS version, e.g. TLSv1.3",
        "cipher": "negotiated cipher suite",
        "handshake": "TLS handshake time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        p: TlsParams = params
        host, port, starttls = _target(p, ctx)
        sni = p.server_name or host
        shake = await self._shake(host, port, sni, starttls, ctx, verify=False)
        certs = shake.certs
        if not certs:
            raise ProbeError(f"{host}:{port}: the server sent no certificate")
        verified, verify_error = True, None
        try:
            await self._shake(host, port, sni, starttls, ctx, verify=True, ca_file=p.ca_file)
        except ssl.SSLCertVerificationError as e:
            verified, verify_error = False, e.verify_message or str(e)
        now = datetime.now(UTC)
        leaf, rest = certs[0], certs[1:]
        chain: list[dict[str, Any]] = [{"subject": c.subject.rfc4514_string(),
                  "not_after": c.not_valid_after_utc.isoformat(),
                  "days_left": _days_left(c, now)} for c in rest]
        obs: dict[str, Any] = {
            "days_left": _days_left(leaf, now),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "not_before": leaf.not_valid_before_utc.isoformat(),
            "subject": leaf.subject.rfc4514_string(),
            "issuer": leaf.issuer.rfc4514_string(),
            "san": _names(leaf),
            "hostname_ok": hostname_matches(leaf, sni),
            "verified": verified,
            "verify_error": verify_error,
            "chain": chain,
            "chain_days_left": min((_days_left(c, now) for c in rest), default=None),
            "protocol": shake.protocol,
            "cipher": shake.cipher,
            "handshake": round(shake.elapsed, 3),
        }
        return Probe(obs, f"{sni}:{port} certificate expires in {obs['days_left']:.1f} days"
                          f"{'' if verified else ' (not trusted)'}")

    async def _shake(self, host: str, port: int, sni: str, starttls: str | None,
                     ctx: ProbeContext, *, verify: bool,
                     ca_file: str | None = None) -> _Shake:
        context = _context(ctx, verify, ca_file)
        try:
            return await _handshake(host, port, sni, starttls, context, ctx.timeout)
        except ssl.SSLCertVerificationError:
            raise  # the caller reports it as verified: false
        except TimeoutError:
            raise ProbeError(f"{host}:{port}: TLS handshake timed out after {ctx.timeout:g}s",
                             hint="is this port speaking TLS? (STARTTLS services need starttls:)"
                             ) from None
        except (ssl.SSLError, ConnectionError, EOFError) as e:
            raise ProbeError(f"{host}:{port}: TLS handshake failed: {e}",
                             hint="is this port speaking TLS? (STARTTLS services need starttls:)"
                             ) from None


KIND = TlsCheck()
