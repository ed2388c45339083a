"""dns check against a tiny real UDP nameserver on 127.0.0.1 built with dnspython."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest

from tests.support.helpers import load, run

ZONE = {
    ("api.test.", "A"): ["10.0.0.1", "10.0.0.2"],
    ("api.test.", "MX"): ["10 mail.test."],
    ("api.test.", "TXT"): ['"v=spf1 -all"'],
    ("www.test.", "CNAME"): ["api.test."],
}


def _answer(wire: bytes) -> bytes:
    query = dns.message.from_wire(wire)
    reply = dns.message.make_response(query)
    q = query.question[0]
    name, rtype = q.name.to_text(), dns.rdatatype.to_text(q.rdtype)
    if name == "broken.test.":
        reply.set_rcode(dns.rcode.REFUSED)
    elif not any(n == name for n, _ in ZONE):
        reply.set_rcode(dns.rcode.NXDOMAIN)
    elif (name, rtype) in ZONE:
        reply.answer.append(dns.rrset.from_text_list(name, 300, "IN", rtype, ZONE[name, rtype]))
    return bytes(reply.to_wire())


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            sock.sendto(_answer(wire), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(5)
    sock.close()


def test_a_records_pass_and_can_be_asserted_by_value(server: str, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          api: {{dns: {{name: api.test, server: "{server}"}},
                expect: ["answers contains '10.0.0.1'", "ttl == 300", "rcode == 'NOERROR'"]}}
    """, tmp_path)
    r = run(cfg)["api"]
    assert r.status == "pass", r.summary
    assert sorted(r.observations["answers"]) == ["10.0.0.1", "10.0.0.2"]
    assert r.observations["server"] == "127.0.0.1"


def test_mx_txt_and_cname_answers_read_as_users_write_them(server: str, tmp_path: Path) -> None:
    cfg = load(f"""
        checks:
          mx: {{dns: {{name: api.test, type: MX, server: "{server}"}}}}
          txt: {{dns: {{name: api.test, type: txt, server: "{server}"}}}}
          cname: {{dns: {{name: www.test, type: CNAME, server: "{server}"}}}}
    """, tmp_path)
    r = run(cfg)
    assert r["mx"].observations["answers"] == ["10 mail.test"]
    assert r["txt"].observations["answers"] == ["v=spf1 -all"]
    assert r["cname"].observations["answers"] == ["api.test"]
    assert all(x.status == "pass" for x in r.values())


def test_nxdomain_fails_the_default_expectations(server: str, tmp_path: Path) -> None:
    cfg = load(f"checks: {{gone: {{dns: {{name: nope.test, server: '{server}'}}}}}}", tmp_path)
    r = run(cfg)["gone"]
    assert r.status == "fail"
    assert r.observations["rcode"] == "NXDOMAIN"
    assert r.observations["answers"] == []
    assert r.assertions[0].expr == "rcode == 'NOERROR'" and not r.assertions[0].ok


def test_refused_is_an_observed_rcode(server: str, tmp_path: Path) -> None:
    cfg = load(f"checks: {{b: {{dns: {{name: broken.test, server: '{server}'}}}}}}", tmp_path)
    r = run(cfg)["b"]
    assert r.status == "fail"
    assert r.observations["rcode"] == "REFUSED"


def test_no_such_record_type_is_noerror_with_no_answers(server: str, tmp_path: Path) -> None:
    cfg = load(f"checks: {{v6: {{dns: {{name: api.test, type: AAAA, server: '{server}'}}}}}}",
               tmp_path)
    r = run(cfg)["v6"]
    assert r.observations["rcode"] == "NOERROR"
    assert r.observations["ttl"] is None
    assert not r.ok


def test_silent_server_times_out_as_an_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
        quiet.bind(("127.0.0.1", 0))
        port = quiet.getsockname()[1]
        cfg = load(f"""
            checks: {{q: {{dns: {{name: api.test, server: "127.0.0.1:{port}"}}, timeout: 300ms}}}}
        """, tmp_path)
        r = run(cfg)["q"]
    assert r.status == "error"
    assert "timed out" in r.summary


def test_bad_type_and_server_are_config_errors(tmp_path: Path) -> None:
    from opsbook.errors import UsageError

    with pytest.raises(UsageError, match="record type"):
        load("checks: {x: {dns: {name: a.test, type: BOGUS}}}", tmp_path)
    with pytest.raises(UsageError, match="IP address"):
        load("checks: {x: {dns: {name: a.test, server: dns.google}}}", tmp_path)
