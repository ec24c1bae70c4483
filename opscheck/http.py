"""The one HTTP client of a run: bounded requests that always leave redacted evidence.

Bounds, all three enforced here:
- per-request connect/read/write timeouts (`http.timeout_s`);
- a hard deadline per check (`http.deadline_s`): a watchdog shuts the sockets down when it passes,
  so a server that trickles a byte a second cannot hold a check;
- a cap on the response bytes kept (`http.max_body_bytes`); the rest is never read.
"""

from __future__ import annotations

import json as jsonlib
import socket
import ssl
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from opscheck import __version__
from opscheck.evidence import Evidence
from opscheck.outcome import CheckFailed, Reason
from opscheck.redact import Redactor

EXCERPT_CHARS = 2048
REQUEST_ID_HEADER = "X-Request-Id"
UNSET: Any = object()


@dataclass(frozen=True)
class HttpSettings:
    timeout_s: float = 5.0
    deadline_s: float = 15.0
    max_body_bytes: int = 1 << 20
    verify_tls: bool = True
    ca_file: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Response:
    """A complete (or capped) answer, with the evidence already recorded."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    elapsed_ms: float
    evidence: Evidence

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self, what: str) -> Any:
        """The parsed body, or a `body` failure naming `what` was being checked."""
        if self.truncated:
            raise CheckFailed(Reason.BODY, f"{what}: body larger than the {len(self.body)} bytes kept, not parsed", self.evidence)
        try:
            return jsonlib.loads(self.body)
        except ValueError as exc:
            excerpt = self.text[:80].replace("\n", " ")
            raise CheckFailed(Reason.BODY, f"{what}: body is not JSON ({exc.msg}): {excerpt!r}", self.evidence) from None


class _Deadline:
    """Shuts down every socket the client opened once a check's time is up.

    Shutting down (not closing) wakes a thread blocked in recv() at once; httpcore then drops the
    dead connections from its pool, so the next check simply reconnects. One watchdog thread per
    client, started on first use: a timer thread per request would cost more than the request.
    """

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._cond = threading.Condition()
        self._armed: list[_Armed] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def track(self, stream: Any) -> None:
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
            self._cond.notify()
        return armed

    def disarm(self, armed: _Armed) -> None:
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
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = [a for a in self._armed if a.deadline <= now]
                if not due:
                    self._cond.wait(min(a.deadline for a in self._armed) - now)
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


class HttpClient:
    """Shared by every check of a run: one connection pool, one redactor, unreachable memo."""

    def __init__(self, settings: HttpSettings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self._deadline = _Deadline()
        # An origin that refused a connection or did not resolve is not asked again this run.
        self.unreachable: dict[str, CheckFailed] = {}
        self.on_unreachable: Callable[[str, CheckFailed], None] | None = None
        verify: bool | ssl.SSLContext = settings.verify_tls
        if settings.verify_tls and settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        self.verify = verify  # samplers with their own clients verify the same way
        self._client = httpx.Client(
            timeout=settings.timeout_s,
            verify=verify,
            headers={"User-Agent": f"opscheck/{__version__}", **settings.headers},
            follow_redirects=False,
            max_redirects=5,
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
    ) -> Response:
        """Send one request; raise CheckFailed with a reason for anything but a complete answer."""
        request_id = uuid.uuid4().hex
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        label = f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''}"
        evidence = Evidence(method=method, url=self.redactor.text(url), request_id=request_id)

        known_down = self.unreachable.get(origin)
        if known_down is not None:
            evidence.error = "not sent: target unreachable earlier in this run"
            raise CheckFailed(known_down.reason, f"{label}: target unreachable, not retried ({known_down.message})", evidence)

        remaining = self.settings.deadline_s if deadline_at is None else deadline_at - time.monotonic()
        if remaining <= 0:
            evidence.error = "not sent: check deadline passed"
            raise CheckFailed(Reason.TIMEOUT, f"{label}: check deadline of {self.settings.deadline_s:g} s passed", evidence)

        merged = {REQUEST_ID_HEADER: request_id, **(headers or {})}
        start = time.perf_counter()

        def trace(event: str, info: dict[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                self._deadline.track(info.get("return_value"))

        timeout = min(self.settings.timeout_s, remaining)
        request = self._client.build_request(
            method, url, headers=merged,
            json=None if json is UNSET else json, content=content,
            timeout=httpx.Timeout(timeout), extensions={"trace": trace},
        )
        evidence.request_headers = self.redactor.headers(request.headers.multi_items())
        armed = self._deadline.arm(remaining)
        try:
            response = self._client.send(request, stream=True, follow_redirects=follow_redirects)
            try:
                ttfb = time.perf_counter()
                body, truncated = self._read_capped(response)
            finally:
                response.close()
        except (httpx.HTTPError, OSError) as exc:
            evidence.elapsed_ms = round((time.perf_counter() - start) * 1000, 3)
            reason, detail = classify(exc, deadline_fired=armed.fired, timeout_s=timeout, deadline_s=remaining, host=parts.netloc)
            evidence.error = detail
            failure = CheckFailed(reason, f"{label}: {detail}", evidence)
            if reason in (Reason.CONNECT, Reason.DNS) and origin not in self.unreachable:
                self.unreachable[origin] = failure
                if self.on_unreachable is not None:
                    self.on_unreachable(origin, failure)
            raise failure from None
        finally:
            armed.disarm()
        end = time.perf_counter()

        evidence.status = response.status_code
        evidence.elapsed_ms = round((end - start) * 1000, 3)
        evidence.ttfb_ms = round((ttfb - start) * 1000, 3)
        evidence.response_headers = self.redactor.headers(response.headers.multi_items())
        evidence.body_excerpt = self.redactor.text(body[:EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS])
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

    def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        cap = self.settings.max_body_bytes
        chunks: list[bytes] = []
        kept = 0
        for chunk in response.iter_bytes():
            room = cap - kept
            if len(chunk) > room:
                chunks.append(chunk[:room])
                return b"".join(chunks), True
            chunks.append(chunk)
            kept += len(chunk)
        return b"".join(chunks), False


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(
    exc: BaseException, *, deadline_fired: bool, timeout_s: float, deadline_s: float, host: str
) -> tuple[Reason, str]:
    """Map a transport exception to a Reason and a one-line detail."""
    if deadline_fired:
        return Reason.TIMEOUT, f"no complete answer within the check deadline ({deadline_s:.3g} s)"
    if isinstance(exc, httpx.ConnectTimeout):
        return Reason.CONNECT, f"connect to {host} timed out after {timeout_s:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return Reason.TIMEOUT, f"no data for {timeout_s:g} s (read timeout)"
    if isinstance(exc, httpx.TimeoutException):
        return Reason.TIMEOUT, f"{type(exc).__name__} after {timeout_s:g} s"
    if isinstance(exc, httpx.TooManyRedirects):
        return Reason.PROTOCOL, "redirect loop (more than 5 redirects)"
    chain = list(_causes(exc))
    if isinstance(exc, httpx.ConnectError) or any(isinstance(c, (ConnectionRefusedError, socket.gaierror)) for c in chain):
        for cause in chain:
            if isinstance(cause, socket.gaierror):
                return Reason.DNS, f"cannot resolve {host.rsplit(':', 1)[0]} ({cause.strerror or cause})"
            if isinstance(cause, ssl.SSLCertVerificationError):
                return Reason.TLS, f"certificate verification failed: {cause.verify_message or cause.reason}"
            if isinstance(cause, ssl.SSLError):
                return Reason.TLS, f"TLS handshake failed: {cause.reason or cause}"
            if isinstance(cause, ConnectionRefusedError):
                return Reason.CONNECT, f"connection refused by {host}"
        return Reason.CONNECT, f"cannot connect to {host}: {_text(exc)}"
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return Reason.TLS, f"TLS error: {cause.reason or cause}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Reason.PROTOCOL, f"unsupported URL: {_text(exc)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return Reason.PROTOCOL, f"bad HTTP from server: {_text(exc)}"
    if isinstance(exc, httpx.DecodingError):
        return Reason.PROTOCOL, f"body could not be decoded: {_text(exc)}"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, ConnectionResetError)):
        return Reason.PROTOCOL, f"connection reset or broken mid-exchange: {_text(exc)}"
    return Reason.PROTOCOL, f"{type(exc).__name__}: {_text(exc)}"


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
