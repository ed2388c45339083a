"""``dns``: resolve a name; answers, rcode and TTL are observations."""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # imported where used: the CLI starts fast and loads only what a run needs
    import dns.asyncresolver
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
from pydantic import Field, field_validator

from ..config.models import CheckParams
from ..errors import ProbeError
from .base import Probe, ProbeContext


def split_server(server: str) -> tuple[str, int]:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``::1`` or ``[::1]:5353`` -> (ip, port)."""
    host, port = server, 53
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif server.count(":") == 1:
        host, p = server.split(":")
        port = int(p)
    ipaddress.ip_address(host)  # dnspython wants an IP; a name here would be circular anyway
    return host, port


class DnsParams(CheckParams):
    name: str = Field(description="the name to resolve, e.g. api.example.com")
    type: str = Field(default="A", description="record type: A, AAAA, CNAME, MX, TXT, NS, SRV...")
    server: str | None = Field(default=None, description="nameserver ip[:port]; default: system's")
    tcp: bool = Field(default=False, description="query over TCP instead of UDP")

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        import dns.asyncresolver
        import dns.exception
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.resolver
        try:
            dns.rdatatype.from_text(v.upper())
        except dns.exception.DNSException:
            raise ValueError(f"unknown DNS record type {v!r}") from None
        return v.upper()

    @field_validator("server")
    @classmethod
    def _server_is_ip(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                split_server(v)
            except ValueError:
                raise ValueError(f"server must be an IP address with an optional :port, "
                                 f"not {v!r}") from None
        return v


def _text(rdata: Any) -> str:
    """An answer as users write it: TXT unquoted, names without the trailing dot."""
    if hasattr(rdata, "strings"):
        return "".join(s.decode("utf-8", "replace") for s in rdata.strings)
    words = rdata.to_text().split()
    return " ".join(w[:-1] if len(w) > 1 and w.endswith(".") else w for w in words)


def _resolver(p: DnsParams, ctx: ProbeContext) -> dns.asyncresolver.Resolver:
    import dns.asyncresolver
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
    if p.server is None:
        # reading resolv.conf once per run, not once per check
        shared = ctx.shared.get("dns:system")
        if shared is None:
            try:
                shared = dns.asyncresolver.Resolver()
            except dns.exception.DNSException as e:
                raise ProbeError(f"no system resolver: {e}", retryable=False) from None
            ctx.shared["dns:system"] = shared
        return shared
    ip, port = split_server(p.server)
    r = dns.asyncresolver.Resolver(configure=False)
    r.nameservers = [ip]
    r.port = port
    return r


def _failed_rcode(e: dns.resolver.NoNameservers) -> str | None:
    """The rcode a server answered with (SERVFAIL, REFUSED...) when all of them refused."""
    import dns.asyncresolver
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
    for entry in reversed(e.kwargs.get("errors") or []):
        response = entry[-1] if isinstance(entry, tuple) else None
        if isinstance(response, dns.message.Message):
            return dns.rcode.to_text(response.rcode())
    return None


class DnsCheck:
    name: ClassVar[str] = "dns"
    Params: ClassVar[type[CheckParams]] = DnsParams
    resource_kinds: ClassVar[tuple[str, ...]] = ()
    default_expect: ClassVar[tuple[str, ...]] = ("rcode == 'NOERROR'", "len(answers) >= 1")
    # imported by the runner before the clock starts, so a probe's time is not import time
    imports: ClassVar[tuple[str, ...]] = ("dns.asyncresolver", "dns.message", "dns.rdatatype")
    observations: ClassVar[dict[str, str]] = {
        "answers": "answer records as text: '1.2.3.4', '10 mail.example.com', TXT unquoted",
        "rcode": "the response code: NOERROR, NXDOMAIN, SERVFAIL, REFUSED...",
        "ttl": "TTL of the answer in seconds (null without answers)",
        "canonical_name": "the name after following CNAMEs",
        "server": "the nameserver that answered",
        "duration": "resolution time in milliseconds",
    }

    async def probe(self, params: Any, ctx: ProbeContext) -> Probe:
        import dns.asyncresolver
        import dns.exception
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.resolver
        p: DnsParams = params
        resolver = _resolver(p, ctx)
        t0 = time.perf_counter()
        obs: dict[str, Any] = {"answers": [], "ttl": None, "canonical_name": p.name.rstrip(".")}
        try:
            answer = await resolver.resolve(p.name, p.type, tcp=p.tcp, lifetime=ctx.timeout,
                                            raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            obs["rcode"] = "NXDOMAIN"
        except dns.resolver.NoNameservers as e:
            rcode = _failed_rcode(e)
            if rcode is None:
                raise ProbeError(f"no nameserver answered for {p.name}: {e}") from None
            obs["rcode"] = rcode
        except dns.exception.Timeout:
            raise ProbeError(f"DNS query for {p.name} timed out after {ctx.timeout:g}s",
                             hint="is the nameserver reachable (UDP/TCP 53)?") from None
        except (dns.exception.DNSException, OSError, ValueError) as e:
            raise ProbeError(f"DNS query for {p.name} failed: {e}") from None
        else:
            obs["rcode"] = dns.rcode.to_text(answer.response.rcode())
            obs["canonical_name"] = answer.canonical_name.to_text().rstrip(".")
            obs["server"] = answer.nameserver
            if answer.rrset is not None:
                obs["answers"] = [_text(r) for r in answer.rrset]
                obs["ttl"] = answer.rrset.ttl
        elapsed = (time.perf_counter() - t0) * 1000
        obs["duration"] = round(elapsed, 3)
        shown = ", ".join(obs["answers"][:3]) or "no answers"
        return Probe(obs, f"{p.name} {p.type}: {obs['rcode']}, {shown}")


KIND = DnsCheck()
