"""tls check against real TLS servers with certificates made by a test CA."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import free_port, load, run
from tests.support.tlsutil import TlsServer, make_ca, make_leaf


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("certs")
    ca, ca_key, ca_path = make_ca(tmp)
    out = {"ca": ca_path}
    for name, days in (("valid", 90), ("soon", 2.5), ("expired", -10)):
        out[name], out[f"{name}_key"] = make_leaf(tmp, ca, ca_key, name, days_left=days)
    return out


@pytest.fixture(scope="module")
def servers(certs: dict[str, Path]) -> Iterator[dict[str, int]]:
    running = {n: TlsServer(certs[n], certs[f"{n}_key"]).__enter__()
               for n in ("valid", "soon", "expired")}
    yield {n: s.port for n, s in running.items()}
    for s in running.values():
        s.__exit__()


def test_valid_certificate_passes_and_is_verified_with_ca_file(
    servers: dict[str, int], certs: dict[str, Path], tmp_path: Path
) -> None:
    cfg = load(f"""
        checks:
          cert: {{tls: {{host: 127.0.0.1, port: {servers['valid']}, server_name: localhost,
                        ca_file: "{certs['ca']}"}},
                 expect: ["days_left > 14", "hostname_ok == true", "verified == true"]}}
    """, tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "pass", r.summary
    obs = r.observations
    assert 89 < obs["days_left"] <= 90
    assert obs["san"] == ["localhost", "127.0.0.1"]
    assert obs["subject"] == "CN=valid.test"
    assert obs["issuer"] == "CN=opsbook test CA"
    assert obs["verify_error"] is None
    assert obs["protocol"].startswith("TLSv1.")
    assert obs["chain"][0]["subject"] == "CN=opsbook test CA"
    assert obs["chain_days_left"] > 3000


def test_untrusted_chain_is_still_described_and_reported_unverified(
    servers: dict[str, int], tmp_path: Path
) -> None:
    cfg = load(f"checks: {{cert: {{tls: {{host: 127.0.0.1, port: {servers['valid']}}}}}}}",
               tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "fail", r.summary  # the default expect requires trust
    assert [a.expr for a in r.assertions if not a.ok] == ["verified == true"]
    assert r.observations["verified"] is False
    assert "self" in r.observations["verify_error"] or "issuer" in r.observations["verify_error"]
    assert r.observations["hostname_ok"] is True  # matched against the IP SAN


def test_certificate_expiring_in_days_fails_days_left_over_14(
    servers: dict[str, int], tmp_path: Path
) -> None:
    cfg = load(f"""
        checks:
          cert: {{tls: {{host: localhost, port: {servers['soon']}}}, expect: ["days_left > 14"]}}
    """, tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "fail"
    assert 2 < r.assertions[0].actual < 2.6


def test_expired_certificate_reports_negative_days_left(
    servers: dict[str, int], certs: dict[str, Path], tmp_path: Path
) -> None:
    cfg = load(f"""
        checks:
          cert: {{tls: {{host: 127.0.0.1, port: {servers['expired']}, ca_file: "{certs['ca']}"}}}}
    """, tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "fail"
    assert -10.1 < r.observations["days_left"] < -9.9
    assert r.observations["verified"] is False
    assert "expired" in r.observations["verify_error"]


def test_wrong_server_name_gives_hostname_ok_false(
    servers: dict[str, int], tmp_path: Path
) -> None:
    cfg = load(f"""
        checks:
          cert: {{tls: {{host: 127.0.0.1, port: {servers['valid']}, server_name: api.example.com}}}}
    """, tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "fail"
    assert r.observations["hostname_ok"] is False


def test_https_resource_gives_host_and_port(servers: dict[str, int], tmp_path: Path) -> None:
    cfg = load(f"""
        resources:
          api: {{kind: http, url: "https://localhost:{servers['valid']}/api"}}
        checks:
          cert: {{tls: {{resource: api}}, expect: ["days_left > 14", "hostname_ok == true"]}}
    """, tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "pass", r.summary


def test_plain_port_is_a_handshake_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        cfg = load(f"checks: {{cert: {{tls: {{host: 127.0.0.1, port: {port}}}, timeout: 300ms}}}}",
                   tmp_path)
        r = run(cfg)["cert"]
    assert r.status == "error"


def test_connection_refused_is_an_error(tmp_path: Path) -> None:
    cfg = load(f"checks: {{cert: {{tls: {{host: 127.0.0.1, port: {free_port()}}}}}}}", tmp_path)
    r = run(cfg)["cert"]
    assert r.status == "error"
    assert "refused" in r.summary


def _answer_ssl_request(conn: socket.socket) -> None:
    assert conn.recv(8) == struct.pack("!ii", 8, 80877103)
    conn.sendall(b"S")


def test_postgres_starttls_reads_the_certificate(certs: dict[str, Path], tmp_path: Path) -> None:
    with TlsServer(certs["valid"], certs["valid_key"], before_tls=_answer_ssl_request) as srv:
        cfg = load(f"""
            resources:
              db: {{kind: postgres, dsn: "postgresql://u:pw12345@127.0.0.1:{srv.port}/app"}}
            checks:
              cert: {{tls: {{resource: db, ca_file: "{certs['ca']}"}},
                     expect: ["days_left > 14", "verified == true"]}}
        """, tmp_path)
        r = run(cfg)["cert"]
    assert r.status == "pass", r.summary


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _postgres_up(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_postgres_without_ssl_says_server_does_not_support_tls(tmp_path: Path) -> None:
    cfg = load("checks: {cert: {tls: {host: 127.0.0.1, port: 5432, starttls: postgres}}}",
               tmp_path)
    r = run(cfg)["cert"]
    if r.status != "error":
        pytest.skip("this PostgreSQL has TLS enabled")
    assert "server does not support TLS" in r.summary
