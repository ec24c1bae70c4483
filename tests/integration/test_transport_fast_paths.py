"""The cheap paths of the HTTP client keep every bound of the general ones.

A body with no Content-Encoding is read off the wire without a decoder, the deadline watchdog
is woken only when a nearer deadline is armed, and sockets are tracked by the network backend
(TCP and TLS alike) instead of a trace hook on every request. Against real loopback servers (tests/hostile.py):
whatever the framing, the cap, the truncation flag and the timeouts are those of the general path.
"""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest

from opscheck.evidence.redact import Redactor
from opscheck.outcome import CheckFailed, Reason
from opscheck.transport import http
from opscheck.transport.http import HttpClient, HttpSettings, _Deadline
from tests import hostile
from tests.hostile import RawServer, _read_request
from tests.tls_server import CertFactory

CAP = 4096
PATTERN = bytes(range(256))


def _body(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def _framed(framing: str, body: bytes) -> hostile.Handler:
    """An answer with no Content-Encoding, its body framed by Content-Length, chunked (in 1000-byte
    chunks, so the cap falls inside one) or by closing the connection."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    if framing == "content-length":
        return hostile.answer(head + b"Content-Length: %d\r\n\r\n" % len(body), body)
    if framing == "chunked":
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]) for i in range(0, len(body), 1000))
        return hostile.answer(head + b"Transfer-Encoding: chunked\r\n\r\n", chunks + b"0\r\n\r\n")
    return hostile.answer(head + b"Connection: close\r\n\r\n", body)


def _get(handler: hostile.Handler, **settings: object) -> tuple[object, float]:
    with RawServer(handler) as server, HttpClient(HttpSettings(**settings), Redactor()) as client:  # type: ignore[arg-type]
        start = time.monotonic()
        try:
            result: object = client.request("GET", server.base_url + "/")
        except CheckFailed as failure:
            result = failure
        return result, time.monotonic() - start


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close-delimited"])
@pytest.mark.parametrize(
    ("size", "truncated"),
    [(0, False), (CAP - 1, False), (CAP, False), (CAP + 1, True), (3 << 20, True)],
    ids=["empty", "under", "exact", "one-over", "3MiB"],
)
def test_a_body_without_content_encoding_is_kept_to_the_cap_whatever_its_framing(framing, size, truncated):
    body = _body(size)
    response, took = _get(_framed(framing, body), max_body_bytes=CAP, timeout_s=5)
    assert not isinstance(response, CheckFailed), response
    assert response.body == body[:CAP]
    assert response.truncated is truncated
    assert (response.evidence.body_bytes, response.evidence.truncated) == (min(size, CAP), truncated)
    assert took < 5 + 1


def test_an_identity_body_cut_short_of_its_content_length_fails_as_protocol():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
    failure, _ = _get(hostile.answer(head, b"only ten.."))
    assert isinstance(failure, CheckFailed) and failure.reason is Reason.PROTOCOL, failure
    assert "bad HTTP from server" in failure.message


def _body_trickle(conn: socket.socket, server: RawServer) -> None:
    # Headers at once, then the body one byte every 0.1 s: every read succeeds, the body never ends.
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100000):
        if not server.pause(0.1):
            return
        conn.sendall(b"x")


def test_an_identity_body_that_trickles_after_its_headers_ends_at_the_timeout():
    failure, took = _get(_body_trickle, timeout_s=1, deadline_s=30)
    assert isinstance(failure, CheckFailed) and failure.reason is Reason.TIMEOUT, failure
    assert "no complete answer within the 1 s timeout" in failure.message
    assert took < 1 + 1


def test_a_trickle_after_quick_requests_still_ends_at_its_own_timeout():
    # The quick requests leave the watchdog waiting for a deadline that no longer guards anything;
    # the trickle's later deadline is armed without waking it, and must still be kept.
    ok = hostile.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n", b"fine")
    with RawServer(ok) as good, RawServer(_body_trickle) as slow, \
            HttpClient(HttpSettings(timeout_s=1, deadline_s=30), Redactor()) as client:
        for _ in range(3):
            assert client.request("GET", good.base_url + "/").status == 200
        time.sleep(0.5)
        start = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            client.request("GET", slow.base_url + "/")
        took = time.monotonic() - start
    assert info.value.reason is Reason.TIMEOUT
    assert took < 1 + 1


def test_a_nearer_deadline_armed_while_the_watchdog_waits_for_a_farther_one_fires_on_time():
    deadline = _Deadline()
    ours, theirs = socket.socketpair()
    try:
        far = deadline.arm(60)

        class Stream:
            def get_extra_info(self, name: str) -> object:
                return ours if name == "socket" else None

        deadline.track(Stream())
        time.sleep(0.1)  # the watchdog is now waiting for the far deadline
        near = deadline.arm(0.3)
        ours.settimeout(5)
        start = time.monotonic()
        assert ours.recv(1) == b""  # shut down by the watchdog, not by the 5 s socket timeout
        assert time.monotonic() - start < 0.3 + 1
        assert near.fired and not far.fired
    finally:
        deadline.close()
        ours.close()
        theirs.close()


def test_a_deadline_armed_after_the_watchdog_went_idle_fires():
    deadline = _Deadline()
    ours, theirs = socket.socketpair()
    try:
        deadline.arm(0.05).disarm()
        time.sleep(0.2)  # past that deadline: the watchdog has nothing armed and waits without end

        class Stream:
            def get_extra_info(self, name: str) -> object:
                return ours if name == "socket" else None

        deadline.track(Stream())
        armed = deadline.arm(0.2)
        ours.settimeout(5)
        start = time.monotonic()
        assert ours.recv(1) == b""
        assert time.monotonic() - start < 0.2 + 1
        assert armed.fired
    finally:
        deadline.close()
        ours.close()
        theirs.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("certs"))


def _tls_body_trickle(certs: CertFactory) -> hostile.Handler:
    cert, key = certs.leaf("trickle")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def handler(conn: socket.socket, server: RawServer) -> None:
        _body_trickle(context.wrap_socket(conn, server_side=True), server)

    return handler


@pytest.mark.parametrize("hook", ["backend", "trace"])
def test_an_https_answer_that_trickles_ends_at_the_timeout(certs, monkeypatch, hook):
    # Wrapping a socket in TLS detaches the TCP socket: the watchdog must shut down the TLS one.
    # Before, only the TCP socket was tracked, and this request ran 10 s (until the server gave up).
    if hook == "trace":  # where httpcore's backend cannot be wrapped, the per-request hook does it
        monkeypatch.setattr(http, "recording_transport", lambda verify, on_stream=None: httpx.HTTPTransport(verify=verify))
    with RawServer(_tls_body_trickle(certs)) as server, \
            HttpClient(HttpSettings(timeout_s=1, deadline_s=30, ca_file=str(certs.ca_file)), Redactor()) as client:
        assert ("trace" in client._extensions) is (hook == "trace")
        start = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            client.request("GET", server.base_url.replace("http://", "https://") + "/")
        took = time.monotonic() - start
    assert info.value.reason is Reason.TIMEOUT, info.value
    assert "no complete answer within the 1 s timeout" in info.value.message
    assert took < 1 + 1
