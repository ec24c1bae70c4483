"""opscheck.transport.raw against real loopback servers (benchmarks/delay_server.py, tests/hostile.py and
small raw servers defined here); no mocks."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from benchmarks.delay_server import start_delay_server
from opscheck.transport import raw as rawhttp
from opscheck.measure import sampler
from opscheck.transport.raw import Pool, RawHTTPError, Timings
from tests.hostile import RawServer, _read_request, big_body, garbage, reset, silent


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine in a fresh loop and check it left no task behind."""

    async def checked() -> Any:
        result = await coro
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"leaked tasks: {others}"
        return result

    return asyncio.run(checked())


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fds_back_to(before: int) -> bool:
    """Whether the open fds return to `before` within 2 s: a loopback server in this process closes
    its end of a connection only after it has read the client's close, on its own thread."""
    deadline = time.monotonic() + 2
    while _fds() > before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def delay_url() -> Iterator[str]:
    host, port, stop = start_delay_server(5)
    yield f"http://{host}:{port}/"
    stop()


def _keep_alive(answer: bytes) -> Callable[[socket.socket, RawServer], None]:
    """A handler that gives `answer` to every request on the connection until the client closes it."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        while not server.stopped.is_set():
            if not _read_request(conn):
                return
            conn.sendall(answer)

    return handler


CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n"
           b"1a;ext=1\r\n" + b"z" * 26 + b"\r\n"
           b"10\r\n" + b"\r\n" * 8 + b"\r\n"   # chunk data that looks like line ends
           b"0\r\nX-Trailer: yes\r\n\r\n")
CHUNKED_LEN = 5 + 26 + 16


# -- answers ------------------------------------------------------------------------------------

def test_status_headers_and_body_length(delay_url: str) -> None:
    async def main() -> rawhttp.Response:
        async with Pool(delay_url) as pool:
            return await pool.request("GET", headers={"X-Test": "1"}, timeout_s=2)

    response = run(main())
    assert response.status == 200 and response.reason == "OK" and response.version == "HTTP/1.1"
    assert response.header("content-type") == "application/json"
    assert response.header("Content-Length") == "11" and response.body_bytes == len(b'{"ok":true}')
    assert not response.truncated and not response.reused
    assert response.connect_ms is not None and response.ttfb_ms is not None and response.total_ms is not None
    assert 5 <= response.ttfb_ms <= response.total_ms


def test_server_error_status_is_an_answer() -> None:
    host, port, stop = start_delay_server(0, error_every=1)
    try:
        async def main() -> rawhttp.Response:
            async with Pool(f"http://{host}:{port}/x?y=1") as pool:
                return await pool.request("POST", timeout_s=2)

        response = run(main())
        assert response.status == 500 and response.body_bytes == len(b'{"ok":false}')
    finally:
        stop()


def test_chunked_body_is_decoded_and_the_connection_kept() -> None:
    with RawServer(_keep_alive(CHUNKED)) as server:
        async def main() -> tuple[list[rawhttp.Response], int]:
            async with Pool(server.base_url + "/") as pool:
                answers = [await pool.request("GET", timeout_s=2) for _ in range(3)]
                return answers, pool.opened

        answers, opened = run(main())
    assert [r.body_bytes for r in answers] == [CHUNKED_LEN] * 3
    assert [r.reused for r in answers] == [False, True, True] and opened == 1


def test_bad_chunk_size_is_a_protocol_error() -> None:
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    with RawServer(_keep_alive(bad)) as server:
        async def main() -> None:
            async with Pool(server.base_url) as pool:
                await pool.request("GET", timeout_s=2)

        with pytest.raises(RawHTTPError) as caught:
            run(main())
    assert caught.value.kind == "protocol"


def test_body_until_close_without_a_length() -> None:
    def handler(conn: socket.socket, server: RawServer) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + b"a" * 1000)
        conn.close()

    with RawServer(handler) as server:
        async def main() -> rawhttp.Response:
            async with Pool(server.base_url) as pool:
                return await pool.request("GET", timeout_s=2)

        assert run(main()).body_bytes == 1000


def test_head_has_no_body() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n"
    with RawServer(_keep_alive(answer)) as server:
        async def main() -> tuple[list[rawhttp.Response], int]:
            async with Pool(server.base_url) as pool:
                answers = [await pool.request("HEAD", timeout_s=2) for _ in range(2)]
                return answers, pool.opened

        answers, opened = run(main())
    assert [r.body_bytes for r in answers] == [0, 0] and opened == 1


def test_request_head_on_the_wire() -> None:
    seen: list[bytes] = []

    def handler(conn: socket.socket, server: RawServer) -> None:
        seen.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    with RawServer(handler) as server:
        async def main() -> None:
            async with Pool(server.base_url + "/a/b?c=d&e") as pool:
                await pool.request("PUT", headers={"X-API-Key": "k", "Accept": "application/json"}, timeout_s=2)

        run(main())
    lines = seen[0].decode().split("\r\n")
    assert lines[0] == "PUT /a/b?c=d&e HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines and "X-API-Key: k" in lines
    assert "Content-Length: 0" in lines  # no body: said explicitly, as httpx does
    assert "Accept: application/json" in lines and "Accept: */*" not in lines  # the caller's header wins


# -- connections --------------------------------------------------------------------------------

def test_keep_alive_reuses_one_connection(delay_url: str) -> None:
    async def main() -> tuple[list[rawhttp.Response], int]:
        async with Pool(delay_url) as pool:
            answers = [await pool.request("GET", timeout_s=2) for _ in range(5)]
            return answers, pool.opened

    before = _fds()
    answers, opened = run(main())
    assert opened == 1 and [r.reused for r in answers] == [False] + [True] * 4
    assert answers[0].connect_ms is not None and all(r.connect_ms is None for r in answers[1:])
    assert _fds_back_to(before)  # the connection is closed with the pool


def test_connection_close_is_honoured(delay_url: str) -> None:
    async def main() -> tuple[list[rawhttp.Response], int]:
        async with Pool(delay_url) as pool:
            first = await pool.request("GET", headers={"Connection": "close"}, timeout_s=2)  # the server closes
            second = await pool.request("GET", timeout_s=2)
            third = await pool.request("GET", timeout_s=2)
            return [first, second, third], pool.opened

    answers, opened = run(main())
    assert answers[0].header("connection") == "close"
    assert [r.status for r in answers] == [200] * 3 and opened == 2
    assert [r.reused for r in answers] == [False, False, True]


def test_server_closing_an_idle_connection_is_retried_on_a_new_one() -> None:
    def handler(conn: socket.socket, server: RawServer) -> None:  # keep-alive promised, then closed
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()

    with RawServer(handler) as server:
        async def main() -> tuple[list[int], int]:
            async with Pool(server.base_url) as pool:
                statuses = []
                for _ in range(3):
                    statuses.append((await pool.request("GET", timeout_s=2)).status)
                    await asyncio.sleep(0.05)  # the close arrives meanwhile
                return statuses, pool.opened

        statuses, opened = run(main())
    assert statuses == [200] * 3 and opened == 3


def test_big_body_is_capped_and_the_connection_dropped() -> None:
    before = _fds()
    with RawServer(big_body(8 * 1024 * 1024)) as server:
        async def main() -> tuple[rawhttp.Response, int]:
            async with Pool(server.base_url) as pool:
                response = await pool.request("GET", timeout_s=5)
                return response, len(pool._idle)

        response, idle = run(main())
    assert response.status == 200 and response.truncated
    assert rawhttp.MAX_BODY < response.body_bytes <= rawhttp.MAX_BODY + 64 * 1024
    assert idle == 0 and _fds_back_to(before)


def test_body_under_the_cap_is_read_to_the_end() -> None:
    with RawServer(big_body(300_000)) as server:
        async def main() -> rawhttp.Response:
            async with Pool(server.base_url) as pool:
                return await pool.request("GET", timeout_s=5)

        response = run(main())
    assert response.body_bytes == 300_000 and not response.truncated


# -- failures -----------------------------------------------------------------------------------

def _fail(url: str, timeout_s: float = 2.0) -> tuple[str, float]:
    async def main() -> None:
        async with Pool(url) as pool:
            await pool.request("GET", timeout_s=timeout_s)

    started = time.monotonic()
    with pytest.raises(RawHTTPError) as caught:
        run(main())
    return caught.value.kind, time.monotonic() - started


def test_silent_server_times_out_in_time() -> None:
    with RawServer(silent) as server:
        kind, took = _fail(server.base_url, timeout_s=0.5)
    assert kind == "timeout" and 0.5 <= took <= 0.5 + 1


def test_garbage_is_a_protocol_error() -> None:
    with RawServer(garbage) as server:
        assert _fail(server.base_url)[0] == "protocol"


def test_reset_is_a_protocol_error() -> None:
    with RawServer(reset) as server:
        assert _fail(server.base_url)[0] == "protocol"


def test_oversized_head_is_a_protocol_error() -> None:
    answer = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\nContent-Length: 0\r\n\r\n"
    with RawServer(_keep_alive(answer)) as server:
        assert _fail(server.base_url)[0] == "protocol"


def test_short_body_is_a_protocol_error() -> None:
    def handler(conn: socket.socket, server: RawServer) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        conn.close()

    with RawServer(handler) as server:
        assert _fail(server.base_url)[0] == "protocol"


def test_refused_is_a_connect_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, not listening: every SYN is answered with a reset
    try:
        kind, took = _fail(f"http://127.0.0.1:{sock.getsockname()[1]}/")
    finally:
        sock.close()
    assert kind == "connect" and took < 2


def test_unresolvable_host_is_a_dns_error() -> None:
    assert _fail("http://no-such-host.invalid/")[0] == "dns"


def test_a_name_is_resolved_as_its_own_phase_and_every_address_tried(delay_url: str) -> None:
    """localhost may resolve to ::1 first, where nothing listens: the next address is tried."""
    url = delay_url.replace("127.0.0.1", "localhost")

    async def main() -> rawhttp.Response:
        async with Pool(url) as pool:
            return await pool.request("GET", timeout_s=5)

    response = run(main())
    assert response.status == 200
    assert response.dns_ms is not None and response.connect_ms is not None


def test_cancelled_request_closes_its_connection() -> None:
    before = _fds()
    with RawServer(silent) as server:
        async def main() -> None:
            pool = Pool(server.base_url)
            task = asyncio.create_task(pool.request("GET", timeout_s=30))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not pool._busy and not pool._idle
            await pool.aclose()

        run(main())
    assert _fds_back_to(before)  # the server's end is in this process too: counted once it stopped


def test_timings_are_filled_in(delay_url: str) -> None:
    async def main() -> Timings:
        timings = Timings()
        async with Pool(delay_url) as pool:
            await pool.request("GET", timeout_s=2, timings=timings)
        return timings

    t = run(main())
    assert t.dns_started is not None and t.dns_done is not None and t.dns_started <= t.dns_done <= t.connect_started  # type: ignore[operator]
    assert t.sent is not None and t.connect_started is not None and t.connect_done is not None
    assert t.headers is not None and t.done is not None
    assert t.sent <= t.connect_started <= t.connect_done <= t.headers <= t.done


# -- TLS ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.tls_server import CertFactory

    return CertFactory(tmp_path_factory.mktemp("certs"))


def _https(url: str, context: ssl.SSLContext | None, requests: int = 1) -> tuple[list[rawhttp.Response], int]:
    async def main() -> tuple[list[rawhttp.Response], int]:
        async with Pool(url, ssl_context=context) as pool:
            answers = [await pool.request("GET", timeout_s=5) for _ in range(requests)]
            return answers, pool.opened

    return run(main())


def test_https_handshake_is_timed_apart_and_the_connection_kept(certs: Any) -> None:
    from tests.tls_server import TlsServer

    trusted = ssl.create_default_context(cafile=str(certs.ca_file))
    with TlsServer(*certs.leaf("raw-ka"), keep_alive=True) as server:
        answers, opened = _https(server.base_url + "/", trusted, requests=3)
    assert [a.status for a in answers] == [200] * 3 and opened == 1
    first, second = answers[0], answers[1]
    assert first.connect_ms is not None and first.tls_ms is not None and not first.reused
    t = first.timings
    assert t.connect_started <= t.connect_done <= t.tls_started <= t.tls_done <= t.headers  # type: ignore[operator]
    assert second.reused and second.tls_ms is None and second.connect_ms is None
    assert first.body_bytes == len(b'{"status": "ok"}')


@pytest.mark.parametrize(("hosts", "context", "cause"), [
    (("127.0.0.1",), None, "certificate verification failed"),          # the test CA is not in the system store
    (("localhost",), "trusted", "certificate verification failed: IP address mismatch"),
])
def test_https_certificate_problems_are_tls_errors(certs: Any, hosts: tuple[str, ...], context: str | None,
                                                   cause: str) -> None:
    from tests.tls_server import TlsServer

    trusted = ssl.create_default_context(cafile=str(certs.ca_file)) if context else None
    before = _fds()
    with TlsServer(*certs.leaf("raw-" + hosts[0], hosts=hosts)) as server:
        with pytest.raises(RawHTTPError) as caught:
            _https(server.base_url + "/", trusted)
    assert caught.value.kind == "tls" and str(caught.value).startswith(cause)
    assert _fds_back_to(before)


def test_https_to_a_plain_http_server_is_a_tls_error() -> None:
    def plain(conn: socket.socket, server: RawServer) -> None:  # answers the ClientHello as HTTP
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()

    with RawServer(plain) as server:
        with pytest.raises(RawHTTPError) as caught:
            _https(server.base_url.replace("http://", "https://"), None)
    assert caught.value.kind == "tls" and "handshake" in str(caught.value)


def test_https_silent_server_times_out_in_the_handshake() -> None:
    with RawServer(silent) as server:
        kind, took = _fail(server.base_url.replace("http://", "https://"), timeout_s=0.5)
    assert kind == "timeout" and 0.5 <= took <= 0.5 + 1


# -- which client the sampler uses ----------------------------------------------------------------

def test_sampler_client_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sampler.use_raw("http://127.0.0.1:8080/x?y=1")
    assert sampler.use_raw("https://127.0.0.1/")
    assert not sampler.use_raw("http://user:pw@127.0.0.1/")
    assert not sampler.use_raw("http://127.0.0.1/", headers={"X-Bad": "a\r\nb"})
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert not sampler.use_raw("http://127.0.0.1/")  # httpx would use the proxy
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setattr(sampler, "CLIENT", "httpx")
    assert not sampler.use_raw("http://127.0.0.1/")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setattr(sampler, "CLIENT", "auto")
    assert not sampler.use_raw("https://127.0.0.1/")
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setattr(sampler, "CLIENT", "raw")
    with pytest.raises(ValueError):
        sampler.run_open_loop("http://user:pw@127.0.0.1:9/", rate_per_s=10, requests=1)


def test_sampler_through_rawhttp(delay_url: str) -> None:
    samples, _ = sampler.run_open_loop(delay_url, rate_per_s=100, requests=10)
    assert [s.status for s in samples] == [200] * 10
    assert sum(1 for s in samples if s.connect_ms is not None) >= 1
    assert all(s.ttfb_ms is not None and s.ttfb_ms <= s.total_ms for s in samples)  # type: ignore[operator]
