"""The one HTTP client of a run: bounded requests that always leave redacted evidence.

Bounds, all three enforced here:
- per request, `http.timeout_s` bounds the whole exchange (connect, TLS, send, answer, body, every
  redirect hop), like curl's --max-time: a watchdog shuts the sockets down when it passes, so a
  server that trickles a byte a second cannot hold a request past it;
- per check, `http.deadline_s` (default 3 x timeout_s) bounds all of its requests together;
- per answer, `http.max_body_bytes` of decoded body are kept: the body is read raw and inflated with
  bounded output, so neither reading nor decompression goes past the cap (a gzip bomb stays a MiB).
Bytes that are not HTTP are named in the failure ("not an HTTP response: N bytes starting ...").
"""

from __future__ import annotations

import codecs
import ipaddress
import socket
import ssl
import threading
import time
import uuid
import weakref
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from http.cookiejar import CookieJar
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import httpcore
import httpx

from opscheck import __version__
from opscheck.config.settings import HttpSettings
from opscheck.evidence.kinds import Evidence
from opscheck.outcome import CheckFailed, Reason
from opscheck.transport import errors
from opscheck.transport.errors import TransportError
from opscheck.evidence.redact import Redactor, basic_header, strip_userinfo

EXCERPT_CHARS = 2048
REQUEST_ID_HEADER = "X-Request-Id"
UNSET: Any = object()


@dataclass
class Response:
    """A complete (or capped) answer, with the evidence already recorded."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    elapsed_ms: float
    evidence: Evidence

    @cached_property
    def text(self) -> str:
        """The body decoded with the charset its Content-Type declares (else UTF-8); never raises."""
        return decode_text(self.body, self.content_type)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self, what: str) -> Any:
        """The parsed body, numbers exact (see opscheck.jsonvalue), or a `body` failure naming `what`.

        Too deep (more than 256 levels) or an absurd number (1e999999999) is a `body` failure too.
        """
        from opscheck import jsonvalue

        if self.truncated:
            raise CheckFailed(Reason.BODY, f"{what}: body larger than the {len(self.body)} bytes kept, not parsed", self.evidence)
        try:
            return jsonvalue.loads(self.body, what=what)
        except jsonvalue.NotJson as exc:
            excerpt = self.text[:80].replace("\n", " ")
            raise CheckFailed(Reason.BODY, f"{what}: body is {exc.detail}: {excerpt!r}", self.evidence) from None
        except jsonvalue.JsonError as exc:
            raise CheckFailed(Reason.BODY, f"{what}: {exc.detail}", self.evidence) from None


class _Deadline:
    """Shuts down every socket the client opened once a check's time is up.

    Shutting down (not closing) wakes a thread blocked in recv() at once; httpcore then drops the
    dead connections from its pool, so the next check simply reconnects. One watchdog thread per
    client, started on first use: a timer thread per request would cost more than the request.
    The watchdog is woken only when a new deadline is nearer than the one it already waits for:
    checks arm deadlines in increasing order, so most requests wake no thread at all (a wake-up
    per request, and the GIL hand-over it forces, cost ~60 us of CPU a request on loopback).
    Every socket the client opens is tracked as it is made: the TCP socket, and the TLS socket that
    replaces it (wrapping detaches the first, so shutting that one down would not stop a TLS read).
    """

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._cond = threading.Condition()
        self._armed: list[_Armed] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wake_at = float("inf")  # when the watchdog wakes next by itself (monotonic s)

    def track(self, stream: Any) -> None:
        """Track the socket under an httpcore network stream (None, or a stream without one: ignored)."""
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with self._cond:
                self._sockets.add(sock)

    def arm(self, seconds: float) -> _Armed:
        armed = _Armed(self, time.monotonic() + max(seconds, 0.0))
        with self._cond:
            self._armed.append(armed)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="opscheck-deadline", daemon=True)
                self._thread.start()
            if armed.deadline < self._wake_at:
                self._wake_at = armed.deadline  # set here, so a second arm before the thread runs needs no notify
                self._cond.notify()
        return armed

    def disarm(self, armed: _Armed) -> None:
        # The watchdog is not woken: at its time it finds nothing due and waits for what is left.
        with self._cond:
            if armed in self._armed:
                self._armed.remove(armed)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._armed:
                    self._wake_at = float("inf")
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = [a for a in self._armed if a.deadline <= now]
                if not due:
                    self._wake_at = min(a.deadline for a in self._armed)
                    self._cond.wait(self._wake_at - now)
                    continue
                for armed in due:
                    armed.fired = True
                    self._armed.remove(armed)
                for sock in list(self._sockets):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


@dataclass(eq=False)
class _Armed:
    owner: _Deadline
    deadline: float
    fired: bool = False

    def disarm(self) -> None:
        self.owner.disarm(self)


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class _NoCookies(CookieJar):
    """A jar that never keeps a cookie: checks are independent, so a session one check was given
    never goes out with another (the auth family's no-key probe above all)."""

    def set_cookie(self, cookie: Any) -> None:
        return None

    def set_cookie_if_ok(self, cookie: Any, request: Any) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


Origin = tuple[str, str, int]  # (scheme, lower-case host, port)


@lru_cache(maxsize=1024)  # asked several times per request, of the same few URLs all run long
def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class HttpClient:
    """Shared by every check of a run: one connection pool, one redactor, unreachable memo.

    No cookie jar: a cookie the service sets is registered as a secret and forgotten.
    """

    def __init__(self, settings: HttpSettings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self._deadline = _Deadline()
        # An origin that refused a connection or did not resolve is not asked again this run;
        # keyed by the origin that failed (a redirect's target, not the check's).
        self.unreachable: dict[str, CheckFailed] = {}
        self.on_unreachable: Callable[[str, CheckFailed], None] | None = None
        self._allowed_origins = {origin_of(o) for o in settings.allow_redirect_origins}
        for name, value in settings.headers.items():
            redactor.register_header(name, value)
        verify: bool | ssl.SSLContext = settings.verify_tls
        if settings.verify_tls and settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        self.verify = verify  # samplers with their own clients verify the same way
        transport = recording_transport(verify, on_stream=self._deadline.track)
        # Sockets are tracked by the network backend as they are made. Only where httpcore's backend
        # could not be wrapped does every request carry a trace hook instead (~20 us a request).
        self._extensions: dict[str, Any] = {} if is_recording(transport) else {"trace": self._trace}
        # Profile headers are merged per request, not kept on the client: a redirect to another
        # origin must be able to drop them.
        self._client = httpx.Client(
            timeout=settings.timeout_s,
            verify=verify,
            headers={"User-Agent": f"opscheck/{__version__}", "Accept-Encoding": ACCEPT_ENCODING},
            cookies=_NoCookies(),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._deadline.close()
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = UNSET,
        content: bytes | Iterable[bytes] | None = None,
        follow_redirects: bool = False,
        deadline_at: float | None = None,
        credentials: bool = True,
    ) -> Response:
        """Send one request; raise CheckFailed with a reason for anything but a complete answer.

        Headers: the profile's `http.headers` (without the sensitive ones when `credentials` is
        False: a keyless probe carries no credential at all), then `headers` (which win,
        case-insensitively). A `user:password@` in `url` is sent as `Authorization: Basic`, unless
        an Authorization header was given explicitly (explicit wins); it never appears in the URL
        sent or shown. Every value sent in a sensitive header is registered with the redactor first.
        No cookie is kept between requests.

        Redirects (`follow_redirects`): followed here, hop by hop, at most MAX_REDIRECTS, all under
        the same deadline, each recorded in `evidence.redirects` as {status, location}. On a change
        of scheme, host or port, every sensitive header and every header carrying a known secret is
        dropped for the rest of the chain. A hop to another host, or to a link-local, unspecified,
        loopback-from-remote or private-from-public address, is refused with reason `protocol`,
        unless its origin is in `http.allow_redirect_origins`.
        """
        request_id = uuid.uuid4().hex
        url, user, password = strip_userinfo(url)
        send = httpx.Headers({n: v for n, v in self.settings.headers.items() if credentials or not self.redactor.is_sensitive(n)})
        send.update(headers or {})
        if (user or password) and "authorization" not in send:  # the URL's own, so even without `credentials`
            send["Authorization"] = basic_header(user, password)
        if REQUEST_ID_HEADER not in send:
            send[REQUEST_ID_HEADER] = request_id
        for name, value in send.multi_items():
            self.redactor.register_header(name, value)
        self.redactor.register_url(url)

        parts = urlsplit(url)
        label = f"{method} {self.redactor.url((parts.path or '/') + ('?' + parts.query if parts.query else ''))}"
        evidence = Evidence(method=method, url=self.redactor.url(url), request_id=request_id)
        if deadline_at is None:
            deadline_at = time.monotonic() + self.settings.deadline_s
        start = time.perf_counter()

        first = origin_of(url)
        current, current_method, hops = url, method, 0
        while True:
            response, body, truncated, ttfb = self._exchange(
                current_method, current, send, json, content, evidence, label, deadline_at, start, hops > 0)
            location = response.headers.get("location")
            if not follow_redirects or response.status_code not in REDIRECT_STATUSES or not location:
                break
            try:
                target = str(httpx.URL(current).join(location))
            except (httpx.InvalidURL, ValueError):
                target = location
            evidence.redirects.append({"status": response.status_code, "location": self.redactor.url(target)})
            if hops >= MAX_REDIRECTS:
                evidence.error = f"more than {MAX_REDIRECTS} redirects"
                raise CheckFailed(errors.RedirectLoop.reason, f"{label}: redirect loop (more than {MAX_REDIRECTS} redirects)", evidence)
            refusal = self._redirect_refusal(first, target, deadline_at)
            if refusal is not None:
                evidence.error = f"redirect not followed: {refusal}"
                raise CheckFailed(errors.RedirectRefused.reason, f"{label}: {refusal}", evidence)
            if origin_of(target) != origin_of(current):
                for name in {n for n, v in send.multi_items() if self.redactor.is_sensitive(n) or self.redactor.contains_secret(v)}:
                    del send[name]
            status = response.status_code
            if (status == 303 and current_method != "HEAD") or (status in (301, 302) and current_method == "POST"):
                current_method, json, content = "GET", UNSET, None
                for name in ("content-length", "content-type", "transfer-encoding"):
                    send.pop(name, None)
            elif content is not None and not isinstance(content, (bytes, str)):
                evidence.error = "redirect not followed: a streamed body cannot be sent twice"
                raise CheckFailed(errors.RedirectRefused.reason, f"{label}: {status} redirect to {self.redactor.url(target)} "
                                  "would resend a streamed body; not followed", evidence)
            current, hops = target, hops + 1

        end = time.perf_counter()
        evidence.status = response.status_code
        evidence.elapsed_ms = round((end - start) * 1000, 3)
        evidence.ttfb_ms = round((ttfb - start) * 1000, 3)
        received = response.headers.multi_items()
        for name, value in received:
            self.redactor.register_header(name, value, received=True)  # a session cookie set here is a secret from now on
        evidence.response_headers = self.redactor.headers(received)
        evidence.body_excerpt = self.redactor.text(_excerpt(body, response.headers))
        evidence.body_bytes = len(body)
        evidence.truncated = truncated
        return Response(
            status=response.status_code,
            headers=response.headers,
            body=body,
            truncated=truncated,
            elapsed_ms=evidence.elapsed_ms,
            evidence=evidence,
        )

    def _exchange(
        self, method: str, url: str, headers: httpx.Headers, json: Any, content: Any, evidence: Evidence,
        label: str, deadline_at: float, start: float, redirected: bool,
    ) -> tuple[httpx.Response, bytes, bool, float]:
        """One hop: memo, deadline, send, read capped. Transport failures mark `url`'s origin."""
        origin = origin_text(origin_of(url))
        where = f"{label}: redirected to {origin}" if redirected else label
        known_down = self.unreachable.get(origin)
        if known_down is not None:
            evidence.error = "not sent: target unreachable earlier in this run"
            raise CheckFailed(known_down.reason, f"{where}: target unreachable, not retried: {origin} "
                              f"({known_down.message})", evidence)
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            evidence.error = "not sent: check deadline passed"
            raise CheckFailed(errors.TransportTimeout.reason, f"{where}: check deadline of {self.settings.deadline_s:g} s passed", evidence)

        # http.timeout_s bounds the whole exchange, redirects included (as curl's --max-time and Go's
        # Client.Timeout do); the check's deadline bounds all of a check's requests together.
        exchange_left = self.settings.timeout_s - (time.perf_counter() - start)
        if exchange_left <= 0:
            evidence.error = "not sent: the request's timeout passed"
            raise CheckFailed(errors.TransportTimeout.reason, f"{where}: no complete answer within the "
                              f"{self.settings.timeout_s:g} s timeout", evidence)
        timeout = min(exchange_left, remaining)
        exchange_s = self.settings.timeout_s if exchange_left <= remaining else None
        netloc = urlsplit(url).netloc
        request = self._client.build_request(
            method, url, headers=headers,
            json=None if json is UNSET else json, content=content,
            timeout=httpx.Timeout(timeout), extensions=self._extensions,
        )
        evidence.request_headers = self.redactor.headers(request.headers.multi_items())
        _received.stream = None
        armed = self._deadline.arm(timeout)
        try:
            response = self._client.send(request, stream=True, follow_redirects=False)
            try:
                ttfb = time.perf_counter()
                body, truncated = self._read_capped(response)
            finally:
                response.close()
        except (httpx.HTTPError, OSError) as exc:
            evidence.elapsed_ms = round((time.perf_counter() - start) * 1000, 3)
            stream = _received.stream
            error = transport_error(exc, deadline_fired=armed.fired, timeout_s=timeout, deadline_s=remaining, host=netloc,
                             exchange_s=exchange_s, received=(stream.head, stream.total) if stream else None)
            reason, detail = error.reason, self.redactor.text(error.message)
            evidence.error = detail
            failure = CheckFailed(reason, f"{where}: {detail}", evidence)
            if isinstance(error, errors.UNREACHABLE) and origin not in self.unreachable:
                self.unreachable[origin] = failure
                if self.on_unreachable is not None:
                    self.on_unreachable(origin, failure)
            raise failure from None
        finally:
            armed.disarm()
        return response, body, truncated, ttfb

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._deadline.track(info.get("return_value"))

    def _redirect_refusal(self, first: Origin, url: str, deadline_at: float) -> str | None:
        """Why a redirect to `url` is not followed, or None. `first` is the origin the check asked."""
        target = origin_of(url)
        scheme, host, port = target
        shown = origin_text(target) if scheme in ("http", "https") else self.redactor.url(url)
        if scheme not in ("http", "https"):
            return f"redirect to {shown} refused: only http and https are followed"
        if target in self._allowed_origins:
            return None
        if host != first[1]:
            return (f"redirect to {shown} refused: not the host the check was pointed at ({first[1]}); "
                    "allow that origin with http.allow_redirect_origins")
        wanted = _resolve(host, port, deadline_at)
        origin_addresses = wanted if host == first[1] else _resolve(first[1], first[2], deadline_at)
        for address in wanted:
            why = _address_refusal(address, origin_addresses)
            if why is not None:
                return f"redirect to {shown} refused: {address} is {why}; allow that origin with http.allow_redirect_origins"
        return None

    def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        """(up to max_body_bytes of the decoded body, whether it went on). Read from the raw stream
        and decoded here with bounded output: decoding stops when the kept bytes reach the cap."""
        if "content-encoding" not in response.headers:
            return read_raw_capped(response.iter_raw(), self.settings.max_body_bytes)
        return read_capped(body_reader(response.headers, response.iter_raw()), self.settings.max_body_bytes)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _resolve(host: str, port: int, deadline_at: float) -> list[Address]:
    """The addresses `host` resolves to, within the deadline; [] when it does not resolve in time
    (the request itself then fails with its own `dns` or `timeout` reason)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found: list[Address] = []

    def work() -> None:
        try:
            for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except (OSError, ValueError, UnicodeError):
            pass

    # getaddrinfo has no timeout of its own: a thread bounded by the check's deadline.
    worker = threading.Thread(target=work, name="opscheck-resolve", daemon=True)
    worker.start()
    worker.join(max(deadline_at - time.monotonic(), 0.0))
    return list(found) if not worker.is_alive() else []


def _address_refusal(address: Address, target: list[Address]) -> str | None:
    """Why a redirect may not reach `address` when the check's own host resolves to `target`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        return "link-local (where cloud metadata services answer)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback and not any(a.is_loopback for a in target):
        return "loopback, and the target is not"
    if address.is_private and not any(a.is_private or a.is_loopback for a in target):
        return "private, and the target is public"
    return None


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transport_error(
    exc: BaseException, *, deadline_fired: bool, timeout_s: float, deadline_s: float, host: str,
    exchange_s: float | None = None, received: tuple[bytes, int] | None = None,
) -> TransportError:
    """The transport tree's error (opscheck.transport.errors) for an httpx/OS exception: its class
    is the classification (named so apart from measure.bands.classify, which bands a value), its
    `reason` the Reason, its `message` the one-line detail. Returned, not raised, so the caller
    can prefix the request's label.

    `exchange_s`: the whole-exchange bound (`http.timeout_s`, seconds) when it, not the check's
    deadline, was the nearer bound of the request. `received`: (first bytes, byte count) of what
    arrived for the request; bytes that cannot begin an HTTP response are named (NotHttp).
    """
    if isinstance(exc, httpx.ConnectTimeout) and exchange_s is not None:
        # The watchdog shares the connect timeout's moment; the connect is what did not happen.
        return errors.ConnectError(f"connect to {host} timed out after {exchange_s:g} s")
    head, total = received or (b"", 0)
    garbage = not_http(head, total) if total else None
    if garbage is not None and not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return errors.NotHttp(garbage)
    if exchange_s is not None and (deadline_fired or isinstance(exc, httpx.TimeoutException)):
        got = f"{total} byte{'s' if total != 1 else ''} received" if total else "nothing received"
        return errors.TransportTimeout(f"no complete answer within the {exchange_s:g} s timeout ({got})")
    if deadline_fired:
        return errors.TransportTimeout(f"no complete answer within the check deadline ({deadline_s:.3g} s)")
    if isinstance(exc, httpx.ConnectTimeout):
        return errors.ConnectError(f"connect to {host} timed out after {timeout_s:g} s")
    if isinstance(exc, httpx.ReadTimeout):
        return errors.TransportTimeout(f"no data for {timeout_s:g} s (read timeout)")
    if isinstance(exc, httpx.TimeoutException):
        return errors.TransportTimeout(f"{type(exc).__name__} after {timeout_s:g} s")
    if isinstance(exc, httpx.TooManyRedirects):
        return errors.RedirectLoop("redirect loop (more than 5 redirects)")
    chain = list(_causes(exc))
    if isinstance(exc, httpx.ConnectError) or any(isinstance(c, (ConnectionRefusedError, socket.gaierror)) for c in chain):
        for cause in chain:
            if isinstance(cause, socket.gaierror):
                return errors.DnsError(f"cannot resolve {host.rsplit(':', 1)[0]} ({cause.strerror or cause})")
            if isinstance(cause, ssl.SSLCertVerificationError):
                return errors.CertificateError(f"certificate verification failed: {cause.verify_message or cause.reason}")
            if isinstance(cause, ssl.SSLError):
                return errors.TlsError(f"TLS handshake failed: {cause.reason or cause}")
            if isinstance(cause, ConnectionRefusedError):
                return errors.ConnectError(f"connection refused by {host}")
        return errors.ConnectError(f"cannot connect to {host}: {_text(exc)}")
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return errors.TlsError(f"TLS error: {cause.reason or cause}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return errors.UnsupportedUrl(f"unsupported URL: {_text(exc)}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return errors.ProtocolError(f"bad HTTP from server: {_text(exc)}")
    if isinstance(exc, httpx.DecodingError):
        return errors.BadEncoding(f"body could not be decoded: {_text(exc)}")
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, ConnectionResetError)):
        return errors.ConnectionBroken(f"connection reset or broken mid-exchange: {_text(exc)}")
    return errors.ProtocolError(f"{type(exc).__name__}: {_text(exc)}")


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --- Bodies: content codings decoded with bounded output, text decoded with its charset -----------

# Codings decoded here. httpx's own decoders inflate a whole network read in one C call, so a gzip
# bomb (or "gzip, gzip": 2.7 KB on the wire) becomes gigabytes before any cap applies and no
# watchdog can interrupt it. Here every zlib call may produce at most what the cap still has room
# for. br and zstd are not advertised: their Python bindings cannot bound one call's output.
ACCEPT_ENCODING = "gzip, deflate"
_ZLIB_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
MAX_CODINGS = 4  # a longer stack is refused (`protocol`): each layer holds a 32 KiB inflate window
_STEP = 64 * 1024  # bytes asked of one layer at a time


class _Source:
    """The body as it came off the wire (chunked framing already removed), served in slices."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def read(self, n: int) -> bytes:
        """At most `n` bytes; b"" once the body has ended."""
        while self._pos >= len(self._buf):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buf, self._pos = chunk, 0
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        return out


class _Inflate:
    """One zlib coding (gzip or deflate) over a source, pulled on demand: read(n) never makes more
    than n bytes, and asks its source for input only when zlib has nothing left to give."""

    def __init__(self, source: _Source | _Inflate, coding: str) -> None:
        self._source = source
        self._coding = coding
        self._zlib = zlib.decompressobj(_ZLIB_WBITS[coding])
        self._pending = b""
        self._full = False  # the last call filled its output: zlib may still hold some
        self._started = False

    def read(self, n: int) -> bytes:
        """At most `n` decoded bytes; b"" at the end. A corrupt stream raises httpx.DecodingError."""
        while not self._zlib.eof:
            if not self._pending and not self._full:
                self._pending = self._source.read(_STEP)
                if not self._pending:
                    return b""  # a cut stream ends the body where it was cut, as with httpx
            try:
                out = self._zlib.decompress(self._pending, n)
            except zlib.error as exc:
                if self._coding == "deflate" and not self._started:
                    # Many servers send raw deflate without the zlib wrapper; httpx accepts it too.
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise httpx.DecodingError(f"{self._coding} body is corrupt ({exc})") from None
            self._started = True
            self._pending = self._zlib.unconsumed_tail
            self._full = len(out) == n
            if out:
                return out
        return b""  # bytes after the end of the compressed stream are ignored, as httpx does


def split_codings(headers: httpx.Headers) -> tuple[list[str], str | None]:
    """(codings decoded here, last applied first; the codings left as they are, or None).

    Codings are undone from the last applied inward. At the first one not decoded here (say "br"),
    decoding stops and the bytes are kept as they are: a check on the status still holds, and the
    evidence says the body was not decoded. More than MAX_CODINGS raises httpx.DecodingError.
    """
    codings = [c.strip().lower() for value in headers.get_list("content-encoding") for c in value.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > MAX_CODINGS:
        raise httpx.DecodingError(f"Content-Encoding stacks {len(codings)} codings; at most {MAX_CODINGS} are decoded")
    decoded: list[str] = []
    while codings and codings[-1] in _ZLIB_WBITS:
        decoded.append(codings.pop())
    return decoded, (", ".join(codings) or None)


def body_reader(headers: httpx.Headers, raw: Iterator[bytes]) -> _Source | _Inflate:
    """A bounded reader of the body with every coding split_codings decodes undone."""
    reader: _Source | _Inflate = _Source(raw)
    for coding in split_codings(headers)[0]:
        reader = _Inflate(reader, coding)
    return reader


def read_capped(reader: _Source | _Inflate, cap: int) -> tuple[bytes, bool]:
    """Up to `cap` decoded bytes, and whether the body went on past them (one more byte is asked
    for, never more: the rest is neither read nor inflated)."""
    chunks: list[bytes] = []
    kept = 0
    while kept < cap:
        data = reader.read(min(cap - kept, _STEP))
        if not data:
            return b"".join(chunks), False
        chunks.append(data)
        kept += len(data)
    return b"".join(chunks), bool(reader.read(1))


def read_raw_capped(raw: Iterable[bytes], cap: int) -> tuple[bytes, bool]:
    """read_capped for a body with no Content-Encoding, where the bytes on the wire are the body:
    the same (bytes, went on) without a decoder between. At most one network chunk past the cap is
    pulled to learn that the body went on, as read_capped does; Content-Length is not trusted."""
    chunks: list[bytes] = []
    kept, cap = 0, max(cap, 0)
    for chunk in raw:
        room = cap - kept
        if len(chunk) > room:
            chunks.append(chunk[:room])
            return b"".join(chunks), True
        chunks.append(chunk)
        kept += len(chunk)
    return b"".join(chunks), False


_MAX_CHARSET = 40


def charset_of(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type value, or None."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip("\"'").strip()
            return value if 0 < len(value) <= _MAX_CHARSET else None
    return None


def decode_text(body: bytes, content_type: str) -> str:
    """`body` as text: in its declared charset; else (none declared, or a name Python does not know
    as a text encoding) UTF-8, a byte-order mark honoured. Undecodable bytes become U+FFFD."""
    charset = charset_of(content_type)
    if charset:
        try:
            return body.decode(charset, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass  # "charset=nonsense", "charset=base64" (not a text encoding), a codec that refuses "replace"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", errors="replace")
    return body.decode("utf-8-sig", errors="replace")


# --- What arrived when it was not HTTP ----------------------------------------------------------

_HEAD_KEPT = 24  # bytes of a non-HTTP answer shown in the message
_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\", 0x60: "\\x60"}


def not_http(head: bytes, total: int) -> str | None:
    """"not an HTTP response: N bytes starting `...`" when what arrived cannot begin an HTTP/1.x
    status line (leading blank lines allowed), else None. The excerpt is escaped and bounded."""
    start = head.lstrip(b"\r\n")[:5]
    if not start or start == b"HTTP/"[:len(start)]:
        return None
    shown = "".join(_ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in head[:_HEAD_KEPT])
    more = "..." if total > _HEAD_KEPT else ""
    return f"not an HTTP response: {total} byte{'s' if total != 1 else ''} starting `{shown}{more}`"


class _Received(threading.local):
    # httpx's sync client reads in the calling thread, so "the stream this thread last used" is
    # the stream of the request this thread is sending.
    stream: _RecordingStream | None = None


_received = _Received()


class _RecordingStream(httpcore.NetworkStream):
    """A network stream that remembers what arrived since the last request was written.

    h11 reports bytes that are not HTTP as "Server disconnected without sending a response" and
    drops them; these let the failure say what arrived instead, without asking again.
    """

    def __init__(self, inner: httpcore.NetworkStream, on_stream: Callable[[Any], None] | None = None) -> None:
        self._inner = inner
        self._on_stream = on_stream
        self.head = b""
        self.total = 0
        if on_stream is not None:
            on_stream(inner)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        _received.stream = self
        data = self._inner.read(max_bytes, timeout)
        if len(self.head) < _HEAD_KEPT:
            self.head += data[:_HEAD_KEPT - len(self.head)]
        self.total += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _received.stream = self
        self.head, self.total = b"", 0
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _RecordingStream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._on_stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _RecordingBackend(httpcore.NetworkBackend):
    """Makes every connection a _RecordingStream; `on_stream` is given each network stream as it is
    made (TCP, then TLS over it)."""

    def __init__(self, inner: httpcore.NetworkBackend, on_stream: Callable[[Any], None] | None = None) -> None:
        self._inner = inner
        self._on_stream = on_stream

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _RecordingStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options), self._on_stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _RecordingStream(self._inner.connect_unix_socket(path, timeout, socket_options), self._on_stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def recording_transport(verify: bool | ssl.SSLContext, on_stream: Callable[[Any], None] | None = None) -> httpx.HTTPTransport:
    """httpx's own transport, its connections made through _RecordingBackend (which gives
    `on_stream` each network stream it makes).

    httpx has no public hook for httpcore's network backend; if a later httpcore renames the pool's
    attribute, failures fall back to h11's own wording (tests/integration/test_hostile_answers.py notices).
    """
    transport = httpx.HTTPTransport(verify=verify)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is not None:
        pool._network_backend = _RecordingBackend(backend, on_stream)  # type: ignore[union-attr]
    return transport


def is_recording(transport: httpx.HTTPTransport) -> bool:
    """Whether recording_transport could put its backend under `transport`'s connection pool."""
    return isinstance(getattr(getattr(transport, "_pool", None), "_network_backend", None), _RecordingBackend)


def _excerpt(body: bytes, headers: httpx.Headers) -> str:
    """The evidence's view of a body: its first EXCERPT_CHARS characters in its charset, and a note
    when a coding was left undecoded (the bytes shown are then the encoded ones)."""
    text = decode_text(body[:EXCERPT_CHARS * 4], headers.get("content-type", ""))[:EXCERPT_CHARS]
    if "content-encoding" not in headers:
        return text
    try:
        kept = split_codings(headers)[1]
    except httpx.DecodingError:
        kept = None
    return f"[body kept as received: Content-Encoding {kept} is not decoded by opscheck]\n{text}" if kept else text
