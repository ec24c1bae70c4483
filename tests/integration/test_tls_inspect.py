"""`opscheck.transport.tls` against real TLS servers on loopback, plus the pure rules of `evaluate`."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psutil
import pytest

from opscheck.transport.errors import TransportError
from opscheck.transport.tls import (
    Finding,
    TlsReport,
    days_between,
    evaluate,
    hostname_matches,
    inspect_tls,
    minimum_protocol_ok,
)
from tests import hostile
from tests.tls_server import CertFactory, TlsServer


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("tls-certs"))


def _inspect(certs: CertFactory, name: str, *, ca: bool = True, server_hostname: str | None = None,
             **leaf: object) -> TlsReport:
    """Serve a fresh leaf called `name` and inspect it over 127.0.0.1."""
    with TlsServer(*certs.leaf(name, **leaf)) as server:
        return inspect_tls("127.0.0.1", server.port, server_hostname=server_hostname,
                           ca_file=str(certs.ca_file) if ca else None, timeout_s=2)


# --- the five variants, end to end ---------------------------------------------------------------


def test_valid_certificate_has_no_findings(certs):
    report = _inspect(certs, "valid")
    assert (report.chain_ok, report.chain_error, report.hostname_ok, report.hostname_error) == (True, None, True, None)
    assert report.host == "127.0.0.1"
    assert report.protocol in ("TLSv1.2", "TLSv1.3") and report.cipher
    assert report.subject == "CN=valid" and report.issuer == "CN=opscheck test CA"
    assert report.san == ("IP:127.0.0.1",)
    assert report.not_after is not None and report.not_after.utcoffset() == timedelta(0)
    assert Decimal("89.99") <= report.days_left <= Decimal("90.00")
    assert report.days_left.as_tuple().exponent == -2
    assert evaluate(report) == []


def test_expiring_soon_is_one_warning(certs):
    report = _inspect(certs, "soon", days=12)
    assert report.chain_ok and report.hostname_ok
    assert Decimal("11.99") <= report.days_left <= Decimal("12.00")
    assert evaluate(report) == [
        Finding("warn", "expiry", f"certificate expires in {report.days_left} days (warn at <= 30)")
    ]
    # The same certificate under a stricter band fails.
    assert evaluate(report, fail_days=Decimal(14))[0].level == "fail"


def test_expired_certificate_fails_chain_and_expiry_and_still_reports_its_dates(certs):
    report = _inspect(certs, "expired", days=-2, not_before_days_ago=30)
    assert not report.chain_ok and report.chain_error == "certificate has expired"
    assert report.hostname_ok  # checked against the SANs by hand, since OpenSSL stopped at the chain
    assert Decimal("-2.01") <= report.days_left <= Decimal("-2.00")
    assert report.not_after < datetime.now(UTC)
    assert [str(f) for f in evaluate(report)] == [
        "chain: certificate verification failed: certificate has expired",
        f"expiry: certificate expired {-report.days_left} days ago",
    ]


def test_wrong_host_fails_hostname_with_a_good_chain(certs):
    report = _inspect(certs, "wrong-host", hosts=("other.example",))
    assert report.chain_ok and report.chain_error is None
    assert not report.hostname_ok and "IP address mismatch" in report.hostname_error
    assert report.san == ("DNS:other.example",)
    assert Decimal("89.99") <= report.days_left  # read through the second, non-verifying handshake
    assert evaluate(report) == [Finding("fail", "hostname", "certificate is for DNS:other.example, not 127.0.0.1")]


def test_self_signed_certificate_fails_the_chain(certs):
    report = _inspect(certs, "self-signed", self_signed=True)
    assert not report.chain_ok and report.chain_error == "self-signed certificate"
    assert report.hostname_ok
    assert report.subject == report.issuer == "CN=self-signed"
    assert report.days_left >= Decimal("89.99")
    assert [str(f) for f in evaluate(report)] == ["chain: certificate verification failed: self-signed certificate"]


# --- combinations and names ----------------------------------------------------------------------


def test_expired_and_wrong_host_reports_both(certs):
    # OpenSSL checks the name before the dates, so the expiry comes from our own date check.
    report = _inspect(certs, "expired-wrong-host", hosts=("other.example",), days=-1, not_before_days_ago=30)
    assert (report.chain_ok, report.chain_error) == (False, "certificate has expired")
    assert not report.hostname_ok
    assert [f.what for f in evaluate(report)] == ["chain", "hostname", "expiry"]


def test_self_signed_for_another_name_fails_both(certs):
    report = _inspect(certs, "self-other", self_signed=True, hosts=("other.example",))
    assert report.chain_error == "self-signed certificate"
    assert not report.hostname_ok and report.hostname_error == "IP address mismatch, certificate is not valid for '127.0.0.1'."


def test_unknown_ca_without_ca_file(certs):
    report = _inspect(certs, "no-ca-file", ca=False)
    assert report.chain_error == "unable to get local issuer certificate"
    assert report.hostname_ok


def test_server_hostname_is_sent_and_verified(certs):
    report = _inspect(certs, "wildcard", hosts=("*.svc.example",), server_hostname="api.svc.example")
    assert report.host == "api.svc.example"
    assert report.chain_ok and report.hostname_ok and evaluate(report) == []

    # Two labels under a single-label wildcard: OpenSSL says no, and so does our own check.
    deep = _inspect(certs, "wildcard-deep", hosts=("*.svc.example",), server_hostname="a.api.svc.example")
    assert deep.chain_ok and not deep.hostname_ok and "Hostname mismatch" in deep.hostname_error
    broken = _inspect(certs, "wildcard-self", hosts=("*.svc.example",), server_hostname="a.api.svc.example",
                      self_signed=True)
    assert not broken.chain_ok and broken.hostname_error == "Hostname mismatch, certificate is not valid for 'a.api.svc.example'."


def test_ipv6_loopback(certs):
    try:
        server = TlsServer(*certs.leaf("ipv6", hosts=("::1",)), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        report = inspect_tls("::1", server.port, ca_file=str(certs.ca_file), timeout_s=2)
    assert report.san == ("IP:::1",) and report.chain_ok and report.hostname_ok


# --- protocol ------------------------------------------------------------------------------------


def test_protocol_rule_against_a_tls12_only_server(certs):
    with TlsServer(*certs.leaf("tls12"), maximum_version=ssl.TLSVersion.TLSv1_2) as server:
        report = inspect_tls("127.0.0.1", server.port, ca_file=str(certs.ca_file), timeout_s=2)
    assert report.protocol == "TLSv1.2"
    assert evaluate(report) == []
    assert evaluate(report, min_protocol="TLSv1.3") == [
        Finding("fail", "protocol", "negotiated TLSv1.2, minimum is TLSv1.3")
    ]


def test_a_tls11_only_server_is_a_tls_error(certs):
    # The inspector's default context refuses anything below TLS 1.2, so such a server never gets
    # as far as a report: the protocol rule for TLS 1.1 is covered on a constructed report below.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1_1 is deprecated
        server = TlsServer(*certs.leaf("tls11"), maximum_version=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
    with server, pytest.raises(TransportError) as info:
        inspect_tls("127.0.0.1", server.port, ca_file=str(certs.ca_file), timeout_s=2)
    assert info.value.reason == "tls"
    assert info.value.message == f"TLS handshake with 127.0.0.1:{server.port} failed: TLSV1_ALERT_PROTOCOL_VERSION"


@pytest.mark.parametrize(
    ("protocol", "minimum", "ok"),
    [("TLSv1.3", "TLSv1.2", True), ("TLSv1.2", "TLSv1.2", True), ("TLSv1.1", "TLSv1.2", False),
     ("TLSv1.2", "TLSv1.3", False), (None, "TLSv1.2", False), ("SSLv3", "TLSv1", False), ("QUIC?", "TLSv1", False)],
)
def test_minimum_protocol_ok(protocol, minimum, ok):
    assert minimum_protocol_ok(protocol, minimum) is ok


def test_minimum_protocol_rejects_an_unknown_minimum():
    with pytest.raises(ValueError, match="unknown minimum TLS protocol 'TLS1.2'"):
        minimum_protocol_ok("TLSv1.3", "TLS1.2")


# --- connection errors ---------------------------------------------------------------------------


def test_refused_connection_is_a_connect_error():
    port = hostile.closed_port()
    with pytest.raises(TransportError) as info:
        inspect_tls("127.0.0.1", port, timeout_s=2)
    assert (info.value.reason, info.value.message) == ("connect", f"connect to 127.0.0.1:{port} refused")


def test_unresolvable_host_is_a_dns_error():
    with pytest.raises(TransportError) as info:
        inspect_tls("opscheck-no-such-host.invalid", 443, timeout_s=2)
    assert info.value.reason == "dns"
    assert info.value.message.startswith("cannot resolve opscheck-no-such-host.invalid")


def _mute(conn: socket.socket, server: hostile.RawServer) -> None:
    """Accepts and never says a word: not TLS, not anything."""
    server.stopped.wait(60)


def _http_garbage(conn: socket.socket, server: hostile.RawServer) -> None:
    """Answers the ClientHello the way a plain HTTP server would."""
    conn.settimeout(5)
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.close()


def test_server_that_never_speaks_tls_times_out_within_the_bound():
    with hostile.RawServer(_mute) as server:
        start = time.monotonic()
        with pytest.raises(TransportError) as info:
            inspect_tls("127.0.0.1", server.port, timeout_s=1)
        assert time.monotonic() - start < 1 + 2
    assert info.value.reason == "timeout"
    assert info.value.message == f"no TLS handshake from 127.0.0.1:{server.port} within 1 s"


def test_plain_http_answer_to_the_client_hello_is_a_tls_error():
    with hostile.RawServer(_http_garbage) as server, pytest.raises(TransportError) as info:
        inspect_tls("127.0.0.1", server.port, timeout_s=2)
    assert info.value.reason == "tls"
    assert info.value.message == f"TLS handshake with 127.0.0.1:{server.port} failed: WRONG_VERSION_NUMBER"
    assert "\n" not in info.value.message


@pytest.fixture
def client_ports(monkeypatch) -> list[int]:
    """The local ports of every client socket inspect_tls opens."""
    ports: list[int] = []
    real = socket.create_connection

    def spy(*args, **kwargs):
        sock = real(*args, **kwargs)
        ports.append(sock.getsockname()[1])
        return sock

    monkeypatch.setattr(socket, "create_connection", spy)
    return ports


@pytest.mark.parametrize("path", ["ok", "two handshakes", "tls error", "timeout"])
def test_no_socket_is_left_open(certs, client_ports, path):
    if path in ("ok", "two handshakes"):
        with TlsServer(*certs.leaf(f"leak-{path}", self_signed=path != "ok")) as server:
            inspect_tls("127.0.0.1", server.port, ca_file=str(certs.ca_file), timeout_s=2)
        assert len(client_ports) == (1 if path == "ok" else 2)
    else:
        with hostile.RawServer(_http_garbage if path == "tls error" else _mute) as raw, pytest.raises(TransportError):
            inspect_tls("127.0.0.1", raw.port, timeout_s=0.5)
        assert len(client_ports) == 1
    # Sockets this process still holds a descriptor for, on a port one of our client sockets used.
    still_open = [c for c in psutil.Process().net_connections(kind="inet") if c.laddr and c.laddr.port in client_ports]
    assert still_open == []


# --- pure rules ----------------------------------------------------------------------------------

GOOD = TlsReport(
    host="example.com", port=443, protocol="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256",
    not_after=datetime(2030, 1, 1, tzinfo=UTC), days_left=Decimal("100.00"),
    subject="CN=example.com", issuer="CN=Some CA", san=("DNS:example.com",),
    chain_ok=True, chain_error=None, hostname_ok=True, hostname_error=None,
)


def _with(**changes: object) -> TlsReport:
    return dataclasses.replace(GOOD, **changes)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("30.01", []),
        ("30.00", [Finding("warn", "expiry", "certificate expires in 30.00 days (warn at <= 30)")]),
        ("12.00", [Finding("warn", "expiry", "certificate expires in 12.00 days (warn at <= 30)")]),
        ("7.01", [Finding("warn", "expiry", "certificate expires in 7.01 days (warn at <= 30)")]),
        ("7.00", [Finding("fail", "expiry", "certificate expires in 7.00 days (fail at <= 7)")]),
        ("3.50", [Finding("fail", "expiry", "certificate expires in 3.50 days (fail at <= 7)")]),
        ("0.00", [Finding("fail", "expiry", "certificate expires in 0.00 days (fail at <= 7)")]),
        ("-0.01", [Finding("fail", "expiry", "certificate expired 0.01 days ago")]),
        ("-2.00", [Finding("fail", "expiry", "certificate expired 2.00 days ago")]),
    ],
)
def test_expiry_bands(days, expected):
    assert evaluate(_with(days_left=Decimal(days))) == expected


def test_bands_are_shown_as_given():
    report = _with(days_left=Decimal("10.00"))
    assert evaluate(report, warn_days=Decimal("14.5"), fail_days=Decimal("10.25")) == [
        Finding("fail", "expiry", "certificate expires in 10.00 days (fail at <= 10.25)")
    ]
    with pytest.raises(ValueError, match="fail_days"):
        evaluate(report, warn_days=Decimal(7), fail_days=Decimal(30))


def test_every_rule_at_once_fails_first_then_warns():
    report = _with(protocol="TLSv1.1", chain_ok=False, chain_error="certificate has expired",
                   hostname_ok=False, san=(), days_left=Decimal("-1.00"))
    assert [str(f) for f in evaluate(report)] == [
        "chain: certificate verification failed: certificate has expired",
        "hostname: certificate has no subjectAltName, not example.com",
        "expiry: certificate expired 1.00 days ago",
        "protocol: negotiated TLSv1.1, minimum is TLSv1.2",
    ]


def test_no_certificate_dates_means_no_expiry_finding():
    assert evaluate(_with(not_after=None, days_left=None)) == []


def test_days_between_is_exact_and_rounded_down():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert str(days_between(now, now + timedelta(days=1, hours=12))) == "1.50"
    assert str(days_between(now, now + timedelta(days=1) - timedelta(microseconds=1))) == "0.99"
    assert str(days_between(now, now)) == "0.00"
    assert str(days_between(now, now - timedelta(microseconds=1))) == "-0.01"
    assert str(days_between(now, now - timedelta(days=2))) == "-2.00"


@pytest.mark.parametrize(
    ("name", "san", "ok"),
    [
        ("example.com", ("DNS:example.com",), True),
        ("EXAMPLE.com.", ("DNS:example.COM",), True),
        ("a.example.com", ("DNS:*.example.com",), True),
        ("example.com", ("DNS:*.example.com",), False),
        ("a.b.example.com", ("DNS:*.example.com",), False),
        ("a.com", ("DNS:*.com",), False),
        ("127.0.0.1", ("IP:127.0.0.1",), True),
        ("127.0.0.1", ("DNS:127.0.0.1",), False),
        ("::1", ("IP:0:0:0:0:0:0:0:1",), True),
        ("example.com", ("IP:93.184.216.34",), False),
        ("example.com", (), False),
    ],
)
def test_hostname_matches(name, san, ok):
    assert hostname_matches(name, san) is ok
