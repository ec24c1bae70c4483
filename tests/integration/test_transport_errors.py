"""One transport exception tree (issue 10 §3): each failure from a real hostile loopback server maps to
the same class and Reason through the httpx path (`transport.http.transport_error`), the sampler's raw client,
the sampler's samples and the TLS inspection."""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import time
from typing import Any

import httpx
import pytest

from opscheck.measure import sampler
from opscheck.outcome import Reason
from opscheck.transport import errors
from opscheck.transport.http import transport_error
from opscheck.transport.raw import Pool
from opscheck.transport.tls import inspect_tls
from tests.hostile import RawServer, closed_port, garbage, redirect_loop, reset, silent
from tests.tls_server import CertFactory, TlsServer

TIMEOUT_S = 0.5
NO_SUCH_HOST = "opscheck-no-such-host.invalid"


def _plain_http(conn: socket.socket, server: RawServer) -> None:
    """Answers a TLS ClientHello with plain HTTP."""
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("certs"))


def _via_httpx(url: str, follow_redirects: bool = False) -> errors.TransportError:
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=follow_redirects) as client:
        try:
            client.get(url)
        except httpx.HTTPError as exc:
            host = httpx.URL(url).netloc.decode("ascii")
            return transport_error(exc, deadline_fired=False, timeout_s=TIMEOUT_S, deadline_s=TIMEOUT_S, host=host)
    raise AssertionError(f"{url} answered")


def _via_raw(url: str) -> errors.TransportError:
    async def go() -> None:
        async with Pool(url, ssl_context=ssl.create_default_context() if url.startswith("https") else None) as pool:
            await pool.request("GET", timeout_s=TIMEOUT_S)

    try:
        asyncio.run(go())
    except errors.TransportError as exc:
        return exc
    raise AssertionError(f"{url} answered")


# (case, server handler or URL maker, class through httpx, class through the raw client)
CASES: list[tuple[str, Any, type[errors.TransportError], type[errors.TransportError] | None]] = [
    ("refused", lambda: f"http://127.0.0.1:{closed_port()}/", errors.ConnectError, errors.ConnectError),
    ("no such host", lambda: f"http://{NO_SUCH_HOST}/", errors.DnsError, errors.DnsError),
    ("silent", silent, errors.TransportTimeout, errors.TransportTimeout),
    ("not HTTP", garbage, errors.ProtocolError, errors.NotHttp),
    ("reset", reset, errors.ProtocolError, errors.ConnectionBroken),
    ("plain HTTP on https", _plain_http, errors.TlsError, errors.TlsError),
    ("redirect loop", redirect_loop, errors.RedirectLoop, None),  # the raw client follows no redirect
]


@pytest.mark.parametrize(("name", "target", "httpx_class", "raw_class"), CASES, ids=[c[0] for c in CASES])
def test_each_hostile_failure_is_one_class_with_one_reason_through_httpx_and_the_raw_client(
        name: str, target: Any, httpx_class: type[errors.TransportError], raw_class: type[errors.TransportError] | None
) -> None:
    def check(url: str) -> None:
        started = time.monotonic()
        through_httpx = _via_httpx(url, follow_redirects=name == "redirect loop")
        assert isinstance(through_httpx, httpx_class), (type(through_httpx), through_httpx.message)
        assert through_httpx.reason is httpx_class.reason and through_httpx.kind == httpx_class.reason.value
        if raw_class is not None:
            through_raw = _via_raw(url)
            assert isinstance(through_raw, raw_class), (type(through_raw), through_raw.message)
            assert through_raw.reason is through_httpx.reason
        assert time.monotonic() - started < 4 * TIMEOUT_S + 1  # bounded: no failure hangs

    if target.__code__.co_argcount == 0:  # a URL maker, not a server handler
        check(target())
        return
    with RawServer(target) as server:
        url = server.base_url + "/"
        check(url.replace("http://", "https://") if name == "plain HTTP on https" else url)


def test_an_untrusted_certificate_is_a_certificate_error_through_httpx_and_the_raw_client(certs: CertFactory) -> None:
    with TlsServer(*certs.leaf("untrusted-by-default")) as server:  # the test CA is not in the system store
        through_httpx = _via_httpx(server.base_url + "/")
        through_raw = _via_raw(server.base_url + "/")
    for error in (through_httpx, through_raw):
        assert isinstance(error, errors.CertificateError) and error.reason is Reason.TLS, error.message
        assert error.message.startswith("certificate verification failed")


@pytest.mark.parametrize(("name", "target", "expected"), [
    ("refused", lambda: ("127.0.0.1", closed_port()), errors.ConnectError),
    ("no such host", lambda: (NO_SUCH_HOST, 443), errors.DnsError),
    ("silent", silent, errors.TransportTimeout),
    ("not TLS", _plain_http, errors.TlsError),
], ids=["refused", "no such host", "silent", "not TLS"])
def test_the_tls_inspection_raises_the_same_tree(name: str, target: Any, expected: type[errors.TransportError]) -> None:
    def check(host: str, port: int) -> None:
        started = time.monotonic()
        with pytest.raises(errors.TransportError) as caught:
            inspect_tls(host, port, timeout_s=TIMEOUT_S)
        assert type(caught.value) is expected and caught.value.reason is expected.reason, caught.value.message
        assert "\n" not in caught.value.message
        assert time.monotonic() - started < 4 * TIMEOUT_S + 1

    if name in ("refused", "no such host"):
        check(*target())
        return
    with RawServer(target) as server:
        check("127.0.0.1", server.port)


@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_a_sample_records_its_transport_error_as_the_classes_reason_value(client: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampler, "CLIENT", client)
    samples, _ = sampler.run_closed_loop(f"http://127.0.0.1:{closed_port()}/", concurrency=1, requests=2,
                                         timeout_s=TIMEOUT_S, busy_poll=False)
    assert {s.error for s in samples} == {errors.ConnectError.reason.value}
    assert all(Reason(s.error) is Reason.CONNECT for s in samples)


def test_the_samplers_error_names_come_from_the_tree() -> None:
    assert sampler.ERRORS == ("connect", "dns", "tls", "timeout", "protocol")
    assert sampler.UNREACHABLE == ("connect", "dns")
    assert set(sampler.ERRORS) == {cls.reason.value for cls in _classes() if cls is not errors.TransportError}


def _classes() -> list[type[errors.TransportError]]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, errors.TransportError) and cls.__module__ == errors.__name__]


def test_every_class_of_the_tree_is_drawn_in_the_module_docstring_with_its_reason() -> None:
    drawing = errors.__doc__ or ""
    for cls in _classes():
        assert cls.__name__ in drawing, cls
        if cls is not errors.TransportError:
            assert isinstance(cls.reason, Reason) and cls.reason in errors.REASONS
    assert not hasattr(errors.TransportError, "reason")  # abstract: only its subclasses classify


def test_a_transport_error_survives_pickling_with_its_class_and_message() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(errors.NotHttp("not an HTTP response: 5 bytes starting `hello`")))
    assert type(error) is errors.NotHttp and error.message.endswith("`hello`") and error.reason is Reason.PROTOCOL
