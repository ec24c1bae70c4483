"""A minimal asyncio HTTP/1.1 client for http:// and https:// URLs, for the latency sampler.

httpx + httpcore + anyio cost ~2.6 ms of client work per round trip on a small machine, which is
most of what a 20 ms measurement gets wrong. This client does only what a sampler needs: one
request without a body on a keep-alive connection from a small pool, the status and headers
parsed with limits, the body read to its end (Content-Length, chunked, or until close) and
discarded, only counted. TLS through the caller's SSLContext (the connect and the handshake
timed apart); no proxies, no redirects, no decompression: the sampler keeps httpx for anything of
that kind (see `supports`).

Every await runs under the request's own deadline; a request that fails, times out or is
cancelled closes its connection (never returned to the pool), and `Pool.aclose` closes the idle
ones, so nothing outlives the pool.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from opscheck.transport.errors import (CertificateError, ConnectError, ConnectionBroken, DnsError, NotHttp, ProtocolError,
                                       TlsError, TransportError, TransportTimeout)

MAX_HEAD = 64 * 1024          # status line + headers (and a chunked body's trailers), bytes
MAX_BODY = 1024 * 1024        # read and discarded; beyond it the read stops and the connection is closed
_READ = 64 * 1024
_MAX_INTERIM = 10             # 1xx answers skipped before the real one
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})  # httpx sends Content-Length: 0 for these when there is no body
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_PROXY_ENV = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_DEFAULT_HEADERS = (("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"), ("User-Agent", "opscheck-sampler"))


# This client raises the transport tree's classes (opscheck.transport.errors); RawHTTPError is the
# name its callers and tests have always caught. `kind` is the class's reason value ("connect", ...).
RawHTTPError = TransportError


class _Stale(Exception):
    """A reused keep-alive connection was closed by the server before any byte of the answer."""


class Timings:
    """loop.time() readings of one request, filled in as it goes (None: did not happen)."""

    __slots__ = ("connect_done", "connect_started", "dns_done", "dns_started", "done", "headers", "sent", "tls_done",
                 "tls_started")

    def __init__(self) -> None:
        self.sent: float | None = None
        self.dns_started: float | None = None
        self.dns_done: float | None = None
        self.connect_started: float | None = None
        self.connect_done: float | None = None
        self.tls_started: float | None = None
        self.tls_done: float | None = None
        self.headers: float | None = None
        self.done: float | None = None


def span_ms(first: float | None, last: float | None) -> float | None:
    """Milliseconds between two clock readings; None when either did not happen."""
    return None if first is None or last is None else (last - first) * 1000


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]  # as received (names as sent by the server)
    body_bytes: int                 # bytes of body read (after chunked decoding), at most MAX_BODY + one read
    truncated: bool                 # the body went past MAX_BODY and was not read to its end
    reused: bool                    # sent on a kept-alive connection
    timings: Timings

    @property
    def dns_ms(self) -> float | None:
        return span_ms(self.timings.dns_started, self.timings.dns_done)

    @property
    def connect_ms(self) -> float | None:
        return span_ms(self.timings.connect_started, self.timings.connect_done)

    @property
    def tls_ms(self) -> float | None:
        return span_ms(self.timings.tls_started, self.timings.tls_done)

    @property
    def ttfb_ms(self) -> float | None:
        return span_ms(self.timings.sent, self.timings.headers)

    @property
    def total_ms(self) -> float | None:
        return span_ms(self.timings.sent, self.timings.done)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(frozen=True)
class Target:
    host: str       # for the socket and the TLS server name (no brackets)
    port: int
    authority: str  # the Host header
    path: str       # origin-form request target: path + query
    tls: bool = False


_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_url(url: str) -> Target:
    """An http:// or https:// URL -> where to connect and what to send; ValueError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http:// or https:// URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL are not supported")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    default = _DEFAULT_PORTS[scheme]
    port = parts.port or default  # ValueError for a bad port
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(c in path for c in " \r\n\t") or not path.isascii():
        raise ValueError("the path needs percent-encoding")
    shown = f"[{host}]" if ":" in host else host
    return Target(host, port, shown if port == default else f"{shown}:{port}", path, scheme == "https")


def supports(url: str, method: str, headers: Mapping[str, str]) -> bool:
    """True when this client can send the request exactly as httpx would (else: use httpx)."""
    try:
        parse_url(url)
        _encode_head(Target("h", 80, "h", "/"), method, headers)
    except (ValueError, UnicodeError):
        return False
    return not any(os.environ.get(name) for name in _PROXY_ENV)  # httpx would go through the proxy


def _encode_head(target: Target, method: str, headers: Mapping[str, str]) -> bytes:
    if not method or not set(method.encode("ascii")) <= _TOKEN:
        raise ValueError(f"bad method {method!r}")
    lines = [f"{method} {target.path} HTTP/1.1"]
    given = {k.lower() for k in headers}
    if "host" not in given:
        lines.append(f"Host: {target.authority}")
    for name, value in _DEFAULT_HEADERS:
        if name.lower() not in given:
            lines.append(f"{name}: {value}")
    for name, value in headers.items():
        if not name or not set(name.encode("ascii")) <= _TOKEN:
            raise ValueError(f"bad header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"bad header value for {name!r}")
        lines.append(f"{name}: {value.strip()}")
    if method.upper() in _WITH_BODY and "content-length" not in given and "transfer-encoding" not in given:
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        # Bytes nobody asked for on an idle connection (a 408 before close, say) make it unusable;
        # asyncio exposes no public peek, hence the getattr.
        return (not self.writer.transport.is_closing() and not self.reader.at_eof()
                and not getattr(self.reader, "_buffer", b""))

    def abort(self) -> None:
        self.writer.transport.abort()  # at once, no lingering half-closed socket


class Pool:
    """Keep-alive connections to one origin. Not a limiter: the caller bounds what is in flight;
    at most `max_idle` connections are kept between requests.

    For https:// the handshake uses `ssl_context` (default: the system's verifying context), with
    ALPN offering http/1.1 only, as httpx does without HTTP/2."""

    def __init__(self, url: str, *, max_idle: int = 8, max_body: int = MAX_BODY,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.target = parse_url(url)
        self.ssl_context: ssl.SSLContext | None = None
        if self.target.tls:
            self.ssl_context = ssl_context if ssl_context is not None else ssl.create_default_context()
            self.ssl_context.set_alpn_protocols(["http/1.1"])
        self.max_idle = max_idle
        self.max_body = max_body
        self._idle: list[_Conn] = []
        self._busy: set[_Conn] = set()
        self._closed = False
        self._heads: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}  # the sampler sends one head over and over
        self.opened = 0  # connections opened so far (tests: keep-alive reuse)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        conns = self._idle + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for conn in conns:
            conn.abort()
        await asyncio.sleep(0)  # let the transports' connection_lost run while the loop is alive

    async def request(self, method: str, url: str | None = None, headers: Mapping[str, str] | None = None, *,
                      timeout_s: float, timings: Timings | None = None) -> Response:
        """Send one bodiless request and read the whole answer, all within timeout_s.

        Raises the transport tree's errors (opscheck.transport.errors: DnsError, ConnectError,
        TlsError/CertificateError, TransportTimeout, ProtocolError and its subclasses); ValueError
        for a request this client cannot send."""
        if self._closed:
            raise RuntimeError("pool is closed")
        target = self.target if url is None else parse_url(url)
        if (target.host, target.port, target.tls) != (self.target.host, self.target.port, self.target.tls):
            raise ValueError("a pool serves one origin")
        if target is self.target:
            key = (method, tuple((headers or {}).items()))
            head = self._heads.get(key)
            if head is None:
                head = _encode_head(target, method, headers or {})
                if len(self._heads) < 16:
                    self._heads[key] = head
        else:
            head = _encode_head(target, method, headers or {})
        timings = timings if timings is not None else Timings()
        loop = asyncio.get_running_loop()
        if timings.sent is None:
            timings.sent = loop.time()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    conn, reused = await self._acquire(timings)
                    try:
                        response = await self._exchange(conn, reused, head, method.upper(), timings)
                    except _Stale:
                        conn.abort()
                        self._busy.discard(conn)
                        if method.upper() in _IDEMPOTENT:
                            continue  # the server closed it while idle: the request never reached it
                        raise ConnectionBroken("server closed the kept-alive connection") from None
                    except BaseException:
                        conn.abort()
                        self._busy.discard(conn)
                        raise
                    return response
        except TimeoutError:
            raise TransportTimeout(f"no complete answer within {timeout_s:g} s") from None

    async def _acquire(self, timings: Timings) -> tuple[_Conn, bool]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                self._busy.add(conn)
                return conn, True
            conn.abort()
        loop = asyncio.get_running_loop()
        timings.connect_done = timings.tls_started = timings.tls_done = None
        timings.dns_started = loop.time()
        addresses = await self._resolve(loop)
        timings.dns_done = timings.connect_started = loop.time()
        failure: OSError | None = None
        for family, address in addresses:  # in the resolver's order, as asyncio's own connect does
            try:
                reader, writer = await asyncio.open_connection(address, self.target.port, family=family, limit=MAX_HEAD)
                break
            except OSError as exc:
                failure = exc
        else:
            cause = (failure.strerror or failure) if failure is not None else "no address"
            raise ConnectError(f"cannot connect to {self.target.authority}: {cause}")
        timings.connect_done = loop.time()
        self.opened += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # asyncio sets it too (3.11+); be sure
            except OSError:
                pass
        if self.ssl_context is not None:
            timings.tls_started = loop.time()
            try:
                await writer.start_tls(self.ssl_context, server_hostname=self.target.host)
            except ssl.SSLCertVerificationError as exc:
                writer.transport.abort()
                raise CertificateError(f"certificate verification failed: {exc.verify_message or exc.reason}") from None
            except (ssl.SSLError, OSError) as exc:
                writer.transport.abort()
                raise TlsError(f"TLS handshake with {self.target.authority} failed: "
                                          f"{getattr(exc, 'reason', None) or exc.strerror or exc}") from None
            except BaseException:  # cancelled or timed out mid-handshake: the socket goes with it
                writer.transport.abort()
                raise
            timings.tls_done = loop.time()
        conn = _Conn(reader, writer)
        self._busy.add(conn)
        return conn, False

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, str]]:
        """-> [(family, address)]: resolved apart from the connect, so the DNS time is its own phase."""
        host, port = self.target.host, self.target.port
        try:  # an IP literal needs no resolver (and no executor hop)
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError):
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise DnsError(f"cannot resolve {host}: {exc.strerror or exc}") from None
            except UnicodeError:
                raise DnsError(f"cannot resolve {host}: not a valid host name") from None
        addresses = list(dict.fromkeys((int(family), str(sockaddr[0])) for family, _, _, _, sockaddr in infos))
        if not addresses:
            raise DnsError(f"cannot resolve {host}: no addresses")
        return addresses

    def _release(self, conn: _Conn) -> None:
        self._busy.discard(conn)
        if self._closed or len(self._idle) >= self.max_idle or not conn.usable():
            conn.abort()
        else:
            self._idle.append(conn)

    async def _exchange(self, conn: _Conn, reused: bool, head: bytes, method: str, timings: Timings) -> Response:
        loop = asyncio.get_running_loop()
        reader = conn.reader
        try:
            conn.writer.write(head)  # a few hundred bytes: goes out at once; drain only waits under pressure
            if conn.writer.transport.get_write_buffer_size():
                await conn.writer.drain()
            for _ in range(_MAX_INTERIM + 1):
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if reused and not exc.partial:
                        raise _Stale from None
                    raise _garbled(exc.partial, len(exc.partial), ConnectionBroken,
                                   "server closed the connection without a complete answer") from None
                except asyncio.LimitOverrunError as exc:
                    head = await reader.read(64)  # still buffered: returns at once
                    raise _garbled(head, max(exc.consumed, len(head)), ProtocolError,
                                   f"response head larger than {MAX_HEAD} bytes") from None
                version, status, reason, headers = _parse_head(raw)
                if status >= 200 or status == 101:
                    break
            else:
                raise ProtocolError("too many interim (1xx) answers")
            if status == 101:
                raise ProtocolError("server switched protocols")
            timings.headers = loop.time()
            keep_alive, framing, length = _framing(version, status, method, headers)
            if framing == "length":
                count, truncated = await self._read_length(reader, length)
            elif framing == "chunked":
                count, truncated = await self._read_chunked(reader)
            else:  # until close
                count, truncated = await self._read_to_eof(reader)
                keep_alive = False
            timings.done = loop.time()
        except ConnectionError as exc:
            if reused and timings.headers is None and isinstance(exc, (ConnectionResetError, BrokenPipeError)):
                raise _Stale from None  # reset instead of closed: same story, the request did not land
            raise ConnectionBroken(f"connection lost: {exc.strerror or exc}") from None
        except OSError as exc:
            raise ConnectionBroken(f"connection lost: {exc}") from None
        if keep_alive and not truncated:
            self._release(conn)
        else:
            self._busy.discard(conn)
            conn.abort()
        return Response(status, reason, version, headers, count, truncated, reused, timings)

    async def _read_length(self, reader: asyncio.StreamReader, length: int) -> tuple[int, bool]:
        count = 0
        while count < length:
            if count > self.max_body:
                return count, True
            data = await reader.read(min(length - count, _READ))
            if not data:
                raise ConnectionBroken(f"body ended after {count} of {length} bytes")
            count += len(data)
        return count, False

    async def _read_to_eof(self, reader: asyncio.StreamReader) -> tuple[int, bool]:
        count = 0
        while True:
            if count > self.max_body:
                return count, True
            data = await reader.read(_READ)
            if not data:
                return count, False
            count += len(data)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> tuple[int, bool]:
        count = 0
        while True:
            line = await _line(reader)
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                raise ProtocolError(f"bad chunk size line {line[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                trailers = 0
                while True:  # trailers, then the empty line
                    trailer = await _line(reader)
                    if not trailer:
                        return count, False
                    trailers += len(trailer) + 2
                    if trailers > MAX_HEAD:
                        raise ProtocolError("chunked trailers too large")
            left = size
            while left:
                if count > self.max_body:
                    return count, True
                data = await reader.read(min(left, _READ))
                if not data:
                    raise ConnectionBroken("connection closed inside a chunk")
                left -= len(data)
                count += len(data)
            if await _line(reader):
                raise ProtocolError("chunk not followed by CRLF")


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return (await reader.readuntil(b"\r\n"))[:-2]
    except asyncio.IncompleteReadError:
        raise ConnectionBroken("connection closed inside a chunked body") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError("chunk line too long") from None


def _parse_head(raw: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = raw[:-4].split(b"\r\n")
    status_line = lines[0]
    parts = status_line.split(b" ", 2)
    if (len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or len(parts[1]) != 3
            or not parts[1].isdigit()):
        raise _garbled(raw, len(raw), NotHttp, f"not an HTTP/1.x status line: {status_line[:60]!r}")
    version = parts[0].decode("ascii")
    status = int(parts[1])
    if status < 100:
        raise ProtocolError(f"bad status {status}")
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not set(name) <= _TOKEN:  # also rejects obsolete line folding
            raise ProtocolError(f"bad header line {line[:60]!r}")
        headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
    return version, status, reason, headers


def _framing(version: str, status: int, method: str, headers: list[tuple[str, str]]) -> tuple[bool, str, int]:
    """-> (keep-alive possible, "length" | "chunked" | "eof", length) per RFC 9112 section 6."""
    connection: set[str] = set()
    lengths: set[str] = set()
    codings: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "connection":
            connection.update(t.strip().lower() for t in value.split(","))
        elif key == "content-length":
            lengths.update(v.strip() for v in value.split(","))
        elif key == "transfer-encoding":
            codings.extend(t.strip().lower() for t in value.split(",") if t.strip())
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return keep_alive, "length", 0
    if codings:
        if codings[-1] == "chunked":
            return keep_alive, "chunked", 0
        return False, "eof", 0
    if lengths:
        if len(lengths) != 1:
            raise ProtocolError("conflicting Content-Length values")
        text = lengths.pop()
        if not text.isdigit() or len(text) > 18:
            raise ProtocolError(f"bad Content-Length {text[:20]!r}")
        return keep_alive, "length", int(text)
    return False, "eof", 0


def _garbled(head: bytes, total: int, otherwise: type[TransportError], message: str) -> TransportError:
    """NotHttp naming the bytes when they cannot begin an HTTP response, else `otherwise(message)`."""
    text = _not_http(head, total)
    return NotHttp(text) if text is not None else otherwise(message)


def _not_http(head: bytes, total: int) -> str | None:
    """"not an HTTP response: N bytes starting `...`" for bytes that cannot begin one, else None
    (the same wording as the main client's; imported late, so importing this module needs no httpx)."""
    from opscheck.transport.http import not_http

    return not_http(head, total)
