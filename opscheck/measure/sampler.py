"""Latency sampling: open loop (a fixed arrival rate) and closed loop (a fixed concurrency).

Open loop measures each latency from the time its request was *due*, not from when it was sent,
so a server stall or a saturated client shows up in every sample it delayed instead of silently
postponing the next send ("coordinated omission"). Closed loop measures from the actual send, as
wrk and hey do. Both run on asyncio under `asyncio.run`, so callers stay synchronous, and every
run is bounded in count and in time.

The client: http:// and https:// URLs go through opscheck.transport.raw, a minimal HTTP/1.1 keep-alive
client (httpx + httpcore + anyio cost ~2.6 ms of client work per round trip on a 2-core box, which
is most of the error of a 20 ms measurement), verifying TLS exactly as httpx would with the same
`verify`; anything rawhttp does not send exactly as httpx would (credentials in the URL, a proxy in
the environment, odd headers) goes through httpx.AsyncClient. `CLIENT` forces either path.

Figures: latency statistics come only from answers with an expected status. An instant 503 is
an error, not a fast answer: counting it would make a failing route look fast (issue 8 §1a).

A target that refuses its very first connections, or whose name does not resolve, ends the run at
once (`stop_when_unreachable`): every further request would only repeat that answer.

Busy polling (`busy_poll=True`, off by default): while a run lasts, the event loop polls instead of
sleeping, which costs one core for the run's length and keeps process wake-ups (0.3-1 ms on a
small idle VM) out of every sample. Off by default, from the figures of
`benchmarks/bench_sampler.py --load` on a shared 2-core runner: a polling sampler competes for the
CPU with everything else there, gets preempted mid-run and is late by more than it saves. Against
a 20 ms server at 200/s, two runs of 3 rounds: p50 27.4 / 23.0 ms polling vs 20.5 / 20.6 ms
sleeping with no hog, 52.9 / 44.2 vs 33.6 / 24.6 ms beside two CPU hogs; polling's p99 worse in 8
of 12 rounds; loop lag p99 11-44 ms vs 5-30 ms; 33-62 % of a core (it never got a whole one) vs
9-11 %. On a dedicated machine with a spare core, `busy_poll: true` still takes the wake-up cost out.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import math
import ssl
import statistics
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from opscheck.transport import errors as transport_errors
from opscheck.transport import raw as rawhttp
from opscheck.measure.stats import percentile  # re-exported: callers import it from here too

if TYPE_CHECKING:
    from opscheck.measure.runner import RunnerProbe


class Observer(Protocol):
    """Sees each sample as it completes (opscheck.measure.early.EarlyStop); True ends the run early."""

    def observe(self, status: int | None, latency_ms: float | None, ttfb_ms: float | None = None) -> bool: ...

try:  # anyio loads its asyncio backend on first use: ~200 ms inside the first sample otherwise
    importlib.import_module("anyio._backends._asyncio")
except ImportError:  # pragma: no cover - a future anyio layout; only the first sample pays
    pass

# What a sample without an answer records in `error`: the transport tree's reason values
# (opscheck.transport.errors), "connect", "dns", "tls", "timeout", "protocol"; Reason(error) gives its Reason.
ERRORS = tuple(reason.value for reason in transport_errors.REASONS)
# Transport errors that mean "nothing is there": the run's memo of unreachable origins keys on these.
UNREACHABLE = tuple(cls.reason.value for cls in transport_errors.UNREACHABLE)
# The scheduler wakes this early and then yields until the due time: asyncio's timers fire up to
# 1 ms late (epoll has millisecond granularity), and in open loop that lateness is latency.
_SPIN_S = 0.001
_HEADERS_DONE = "http11.receive_response_headers.complete"
_CONNECT_STARTED = "connection.connect_tcp.started"
_CONNECT_DONE = "connection.connect_tcp.complete"
_DNS_STARTED = "opscheck.dns.started"  # rawhttp's own; httpcore's trace has no separate lookup
_DNS_DONE = "opscheck.dns.complete"
_TLS_STARTED = "connection.start_tls.started"
_TLS_DONE = "connection.start_tls.complete"
# No run goes on longer than this, whatever it was asked (the profile's own cap on duration_s):
# a closed loop of many requests against a server that answers each one at its timeout would
# otherwise last requests * timeout_s / concurrency.
MAX_RUN_S = 600.0
# Which client the samplers use: "auto" (rawhttp for the http(s):// requests it supports, else httpx),
# "raw" (rawhttp or ValueError) or "httpx" (always). Module-level so tests can force either path.
CLIENT = "auto"


@dataclass(frozen=True)
class Sample:
    scheduled_s: float        # when this request was due, seconds since the run's start (closed loop: when sent)
    latency_ms: float | None  # open loop: scheduled send -> end of body; closed loop: actual send -> end of body
    status: int | None
    error: str | None         # one of ERRORS when there is no answer, else None
    connect_ms: float | None  # None on a reused connection
    tls_ms: float | None
    ttfb_ms: float | None     # actual send -> response headers
    total_ms: float | None    # actual send -> end of body
    sent_s: float | None = None  # when it actually went out, seconds since the start; None if it never did
    dns_ms: float | None = None  # name resolution of a new connection (rawhttp only: httpx folds it into connect)
    detail: str | None = None    # the transport error's one-line message, e.g. "cannot connect to h:1: refused"


@dataclass(frozen=True)
class Stats:
    requested: int
    n: int
    answered: int
    n_ok: int                 # answers with an expected status: the only samples the latency figures come from
    errors: int               # transport errors + statuses outside expect_status
    error_ratio: Decimal      # exact: Decimal(errors) / Decimal(n); 0 when n == 0
    # Every latency figure below is over the n_ok answers with an expected status, None when n_ok == 0.
    min_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    ttfb_p50_ms: float | None
    ttfb_p95_ms: float | None
    connects: int                # new connections opened (keep-alive reuse opens none)
    dns_p50_ms: float | None      # over the new connections' lookups (rawhttp)
    connect_p50_ms: float | None  # over the new connections
    tls_p50_ms: float | None      # over the new connections' handshakes (https)
    achieved_rate: float | None  # (sends - 1) / (last send - first send): the send rate actually achieved
    duration_s: float


def summarize(samples: Sequence[Sample], expect_status: Collection[int], requested: int, duration_s: float) -> Stats:
    """Figures of one run. Latency and TTFB come only from answers whose status is in `expect_status`.

    The connection phases (DNS, connect, TLS) come from every new connection, whatever it answered:
    a handshake takes as long before a 503 as before a 200.
    """
    n = len(samples)
    ok = [s for s in samples if s.status is not None and s.status in expect_status and s.latency_ms is not None]
    latencies = sorted(s.latency_ms for s in ok if s.latency_ms is not None)
    ttfbs = sorted(s.ttfb_ms for s in ok if s.ttfb_ms is not None)
    connects = sorted(s.connect_ms for s in samples if s.connect_ms is not None)
    lookups = sorted(s.dns_ms for s in samples if s.dns_ms is not None)
    handshakes = sorted(s.tls_ms for s in samples if s.tls_ms is not None)
    # Every sample without an expected status is an error, transport failures included.
    errors = sum(1 for s in samples if s.status is None or s.status not in expect_status)
    sends = sorted(s.sent_s for s in samples if s.sent_s is not None)
    span = sends[-1] - sends[0] if len(sends) >= 2 else 0.0

    def pct(q: float) -> float | None:
        return percentile(latencies, q) if latencies else None

    return Stats(
        requested=requested,
        n=n,
        answered=sum(1 for s in samples if s.status is not None),
        n_ok=len(ok),
        errors=errors,
        error_ratio=Decimal(errors) / Decimal(n) if n else Decimal(0),
        min_ms=latencies[0] if latencies else None,
        mean_ms=statistics.fmean(latencies) if latencies else None,
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p95_ms=pct(0.95),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] if latencies else None,
        ttfb_p50_ms=percentile(ttfbs, 0.50) if ttfbs else None,
        ttfb_p95_ms=percentile(ttfbs, 0.95) if ttfbs else None,
        connects=len(connects),
        dns_p50_ms=percentile(lookups, 0.50) if lookups else None,
        connect_p50_ms=percentile(connects, 0.50) if connects else None,
        tls_p50_ms=percentile(handshakes, 0.50) if handshakes else None,
        achieved_rate=(len(sends) - 1) / span if span > 0 else None,
        duration_s=duration_s,
    )


def tally(samples: Sequence[Sample]) -> dict[str, int]:
    """How the samples ended, most frequent first: status codes as text, else the error kind.

    E.g. ``{"503": 48, "200": 2}`` or ``{"connect": 1}``."""
    counts: dict[str, int] = {}
    for s in samples:
        key = str(s.status) if s.status is not None else (s.error or "timeout")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def describe_tally(counts: Mapping[str, int], limit: int = 4) -> str:
    """``"48 x 503, 2 x 200"``; past `limit` kinds the rest is summed as "N other"."""
    parts = [f"{count} x {key}" for key, count in list(counts.items())[:limit]]
    rest = sum(list(counts.values())[limit:])
    return ", ".join(parts + ([f"{rest} other"] if rest else []))


def planned_requests(*, rate_per_s: float, requests: int | None, duration_s: float | None) -> int:
    """How many requests an open-loop run sends: `requests`, or rate * duration."""
    if (requests is None) == (duration_s is None):
        raise ValueError("give exactly one of requests and duration_s")
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate_per_s must be > 0, got {rate_per_s!r}")
    if requests is not None:
        if requests < 0:
            raise ValueError("requests must be >= 0")
        return requests
    assert duration_s is not None
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    return math.floor(rate_per_s * duration_s + 1e-9)  # 2.3 * 10 is 22.999999999999996


def run_open_loop(url: str, *, rate_per_s: float, requests: int | None = None, duration_s: float | None = None,
                  method: str = "GET", headers: Mapping[str, str] | None = None, timeout_s: float = 5.0,
                  max_inflight: int = 256, verify: bool | ssl.SSLContext = True,
                  busy_poll: bool | None = None, stop_when_unreachable: bool = True,
                  early: Observer | None = None, probe: RunnerProbe | None = None) -> tuple[list[Sample], float]:
    """Request i is due at start + i / rate_per_s whatever happened to the others; -> (samples, elapsed s).

    With `stop_when_unreachable`, a connect or DNS failure before any answer ends the run: what
    was not yet due is not sent and not in the samples (so fewer samples than requested).
    `early` sees every sample as it completes; when it answers True the run ends at once: nothing
    more is sent, requests in flight are cancelled and left out, and the samples are the completed
    ones only. `probe` (opscheck.measure.runner) measures the runner's own load during the run."""
    count = planned_requests(rate_per_s=rate_per_s, requests=requests, duration_s=duration_s)
    if (count - 1) / rate_per_s > MAX_RUN_S:
        raise ValueError(f"{count} requests at {rate_per_s:g}/s take {(count - 1) / rate_per_s:g} s, "
                         f"more than the {MAX_RUN_S:g} s a run may last")
    _check(url, timeout_s, max_inflight, "max_inflight")
    job = _Job(url, method, dict(headers or {}), timeout_s)
    use_raw(url, method, job.headers)  # a forced client that cannot send this fails here, not in the loop
    with _steady_runtime():
        return asyncio.run(_open_loop(job, rate_per_s, count, max_inflight, verify, resolve_busy_poll(busy_poll),
                                      stop_when_unreachable, early, probe))


def run_closed_loop(url: str, *, concurrency: int, requests: int | None = None, duration_s: float | None = None,
                    method: str = "GET", headers: Mapping[str, str] | None = None, timeout_s: float = 5.0,
                    verify: bool | ssl.SSLContext = True, busy_poll: bool | None = None,
                    stop_when_unreachable: bool = True, early: Observer | None = None,
                    probe: RunnerProbe | None = None) -> tuple[list[Sample], float]:
    """`concurrency` workers, each sending its next request when the last one ends; -> (samples, elapsed s).

    A run for `requests` stops sending after MAX_RUN_S; what was not sent by then is missing. With
    `stop_when_unreachable`, so does a run whose first answers are connect or DNS failures.
    `early` and `probe` as in run_open_loop."""
    if (requests is None) == (duration_s is None):
        raise ValueError("give exactly one of requests and duration_s")
    if requests is not None and requests < 0:
        raise ValueError("requests must be >= 0")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    _check(url, timeout_s, concurrency, "concurrency")
    job = _Job(url, method, dict(headers or {}), timeout_s)
    use_raw(url, method, job.headers)
    with _steady_runtime():
        return asyncio.run(_closed_loop(job, concurrency, requests, duration_s, verify, resolve_busy_poll(busy_poll),
                                        stop_when_unreachable, early, probe))


def resolve_busy_poll(asked: bool | None) -> bool:
    """An explicit choice stands; None means off (sleeping): see the module docstring for the figures."""
    return bool(asked)


@contextmanager
def _steady_runtime() -> Iterator[None]:
    """Two process-wide tunings for the length of a run, both undone afterwards.

    - httpcore 1.0 imports sniffio lazily on every lock and event it sets up, and anyio >= 4.11 no
      longer installs it; Python does not cache a failed import, so each request paid several
      sys.path scans (~1 ms a request on the reference box; encode/httpcore#1103). A None entry in
      sys.modules is Python's own "known missing" marker.
    - gc.freeze() parks the objects that exist before the run (modules, the caller's data) where
      the collector no longer walks them, so a full collection during the run does not stop the
      scheduler for tens of milliseconds (27-35 ms measured), which at 200/s made requests pile up.
    """
    missing = "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None
    if missing:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    freeze = gc.isenabled() and gc.get_freeze_count() == 0  # someone else's freeze is left alone
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        if freeze:
            gc.unfreeze()
        if missing and "sniffio" in sys.modules and sys.modules["sniffio"] is None:
            del sys.modules["sniffio"]


def _check(url: str, timeout_s: float, width: int, name: str) -> None:
    if httpx.URL(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    if width < 1:
        raise ValueError(f"{name} must be >= 1")


@dataclass(frozen=True)
class _Job:
    url: str
    method: str
    headers: dict[str, str]
    timeout_s: float


class _Attempt:
    """One request's clock readings (loop.time()), filled in as it goes."""

    __slots__ = ("detail", "done", "due", "error", "headers_at", "marks", "sample_", "sent", "status")

    def __init__(self, due: float | None) -> None:
        self.due = due  # None in closed loop: nothing is due, latency runs from the actual send
        self.sent: float | None = None
        self.headers_at: float | None = None
        self.done: float | None = None
        self.status: int | None = None
        self.error: str | None = None
        self.detail: str | None = None
        self.marks: dict[str, float] = {}
        self.sample_: Sample | None = None  # made once it completed, when an observer asked for it

    def sample(self, t0: float) -> Sample:
        if self.sample_ is not None:
            return self.sample_
        ms = rawhttp.span_ms
        answered = self.status is not None
        marks = self.marks
        due = self.due if self.due is not None else self.sent if self.sent is not None else t0
        return Sample(
            scheduled_s=due - t0,
            latency_ms=ms(due, self.done) if answered else None,
            status=self.status,
            # Neither an answer nor an error: cancelled when the run's time was up.
            error=None if answered else (self.error or "timeout"),
            connect_ms=ms(marks.get(_CONNECT_STARTED), marks.get(_CONNECT_DONE)),
            tls_ms=ms(marks.get(_TLS_STARTED), marks.get(_TLS_DONE)),
            ttfb_ms=ms(self.sent, marks.get(_HEADERS_DONE, self.headers_at)),
            total_ms=ms(self.sent, self.done) if answered else None,
            sent_s=None if self.sent is None else self.sent - t0,
            dns_ms=ms(marks.get(_DNS_STARTED), marks.get(_DNS_DONE)),
            detail=None if answered else self.detail,
        )


def use_raw(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> bool:
    """Whether a run with these arguments goes through rawhttp (per `CLIENT`) rather than httpx."""
    if CLIENT not in ("auto", "raw", "httpx"):
        raise ValueError(f"sampler.CLIENT must be 'auto', 'raw' or 'httpx', got {CLIENT!r}")
    if CLIENT == "httpx":
        return False
    supported = rawhttp.supports(url, method, headers or {})
    if CLIENT == "raw" and not supported:
        raise ValueError(f"sampler.CLIENT is 'raw' but rawhttp cannot send {method} {url!r} as httpx would")
    return supported


def _client(job: _Job, width: int, verify: bool | ssl.SSLContext) -> httpx.AsyncClient | rawhttp.Pool:
    # One keep-alive connection per possible in-flight request, so the pool never queues one.
    if use_raw(job.url, job.method, job.headers):
        tls = job.url[:6].lower() == "https:"
        return rawhttp.Pool(job.url, max_idle=width, ssl_context=_ssl_context(verify) if tls else None)
    return _httpx_client(width, job.timeout_s, verify)


def _ssl_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    # httpx's own recipe for a bool (certifi's roots, SSL_CERT_FILE/SSL_CERT_DIR honoured), so a
    # target verifies the same whichever client samples it.
    return verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)


def _httpx_client(width: int, timeout_s: float, verify: bool | ssl.SSLContext) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s), verify=verify, follow_redirects=False)


async def _fetch(client: httpx.AsyncClient | rawhttp.Pool, job: _Job, attempt: _Attempt) -> None:
    if isinstance(client, rawhttp.Pool):
        await _fetch_raw(client, job, attempt)
    else:
        await _fetch_httpx(client, job, attempt)


async def _fetch_raw(pool: rawhttp.Pool, job: _Job, attempt: _Attempt) -> None:
    timings = rawhttp.Timings()
    attempt.sent = timings.sent = asyncio.get_running_loop().time()
    try:
        # rawhttp bounds the whole request by timeout_s itself (connect, send, head, body).
        response = await pool.request(job.method, None, job.headers, timeout_s=job.timeout_s, timings=timings)
        attempt.done = timings.done
        attempt.status = response.status
    except transport_errors.TransportError as exc:
        attempt.error = exc.reason.value
        attempt.detail = exc.message
    finally:  # also when cancelled at the end of the run: what was measured so far stays
        attempt.headers_at = timings.headers
        for name, value in ((_DNS_STARTED, timings.dns_started), (_DNS_DONE, timings.dns_done),
                            (_CONNECT_STARTED, timings.connect_started), (_CONNECT_DONE, timings.connect_done),
                            (_TLS_STARTED, timings.tls_started), (_TLS_DONE, timings.tls_done)):
            if value is not None:
                attempt.marks[name] = value


async def _fetch_httpx(client: httpx.AsyncClient, job: _Job, attempt: _Attempt) -> None:
    loop = asyncio.get_running_loop()
    marks = attempt.marks

    async def trace(event: str, info: Mapping[str, Any]) -> None:
        marks.setdefault(event, loop.time())

    attempt.sent = loop.time()
    try:
        async with asyncio.timeout(job.timeout_s):  # httpx's timeouts are per phase; this bounds the whole request
            async with client.stream(job.method, job.url, headers=job.headers, extensions={"trace": trace}) as response:
                attempt.headers_at = loop.time()
                async for _ in response.aiter_raw():
                    pass  # read to the end (latency ends there, and the connection is reusable), keep nothing
                done = loop.time()  # before the pool's release bookkeeping, which is not the server's time
        attempt.done = done
        attempt.status = response.status_code
    except TimeoutError:
        attempt.error = transport_errors.TransportTimeout.reason.value
        attempt.detail = f"no complete answer within {job.timeout_s:g} s"
    except httpx.HTTPError as exc:
        attempt.error, attempt.detail = _transport_failure(exc, job)


def _transport_failure(exc: httpx.HTTPError, job: _Job | None) -> tuple[str, str]:
    """(the tree's reason value, e.g. "connect"; its one-line message): as every other check classifies it."""
    from opscheck.transport.http import transport_error

    host = httpx.URL(job.url).netloc.decode("ascii", "replace") if job is not None else ""
    timeout_s = job.timeout_s if job is not None else 0
    error = transport_error(exc, deadline_fired=False, timeout_s=timeout_s, deadline_s=timeout_s, host=host)
    return error.reason.value, error.message


async def _sleep_until(loop: asyncio.AbstractEventLoop, due: float) -> None:
    delta = due - loop.time()
    if delta > _SPIN_S:
        await asyncio.sleep(delta - _SPIN_S)
    while loop.time() < due:
        await asyncio.sleep(0)  # yields to the loop, so responses keep being read meanwhile


async def _keep_hot() -> None:
    # An idle event loop blocks in epoll, and waking a parked process (a halted vCPU, a deep
    # C-state) costs 0.2-1 ms on small VMs: that lands in every sample, on the scheduler's send and
    # on each answer's read. Always having a ready task makes the loop poll instead of block, at
    # the price of one busy core for the length of the run.
    while True:
        await asyncio.sleep(0)


async def _warm_up(loop: asyncio.AbstractEventLoop) -> None:
    # Every new connection resolves its host on the default executor; start that thread before
    # the clock does, so the first sample does not pay for it. No traffic is sent.
    await loop.run_in_executor(None, int)


async def _finish(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel what is still running, wait for it, and re-raise a bug rather than swallow it."""
    for task in tasks:
        task.cancel()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, Exception):
            raise result


class _Unreachable:
    """Set once a connect or DNS failure arrives while nothing has been answered yet in the run."""

    __slots__ = ("answered", "enabled", "hit")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.answered = False
        self.hit = False

    def note(self, attempt: _Attempt) -> None:
        if attempt.status is not None:
            self.answered = True
        elif self.enabled and not self.answered and attempt.error in UNREACHABLE:
            self.hit = True


class _Run:
    """What the loops share with the early observer and the runner probe: the stop switch."""

    __slots__ = ("early", "probe", "stop", "stopped", "t0")

    def __init__(self, early: Observer | None, probe: RunnerProbe | None) -> None:
        self.early = early
        self.probe = probe
        self.stopped = False
        self.stop: Callable[[], None] = lambda: None  # set by the loop: cancels what it must
        self.t0 = 0.0

    def completed(self, attempt: _Attempt) -> None:
        if self.early is None or self.stopped:
            return
        sample = attempt.sample_ = attempt.sample(self.t0)
        if self.early.observe(sample.status, sample.latency_ms, sample.ttfb_ms):
            self.stopped = True
            self.stop()

    def start(self) -> list[asyncio.Task[None]]:
        if self.probe is None:
            return []
        self.probe.start()
        self.probe.t0 = self.t0
        return [asyncio.create_task(self.probe.watch_loop())]

    def samples(self, attempts: Sequence[_Attempt]) -> list[Sample]:
        if self.probe is not None:
            self.probe.stop()
        if self.stopped:  # ended early: the samples the verdict saw; what was cancelled in flight is none
            attempts = [a for a in attempts if a.sample_ is not None]
        return [a.sample(self.t0) for a in attempts]


async def _open_loop(job: _Job, rate: float, count: int, max_inflight: int,
                     verify: bool | ssl.SSLContext, busy_poll: bool,
                     stop_when_unreachable: bool = True, early: Observer | None = None,
                     probe: RunnerProbe | None = None) -> tuple[list[Sample], float]:
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(max_inflight)
    unreachable = _Unreachable(stop_when_unreachable)
    run = _Run(early, probe)
    attempts: list[_Attempt] = []
    tasks: list[asyncio.Task[None]] = []
    # Only the requests still in flight: asyncio.wait() walks every task it is given before it
    # yields, and over all of a 2000-request run's tasks that stalled the last sends by ~7 ms.
    in_flight: set[asyncio.Task[None]] = set()

    async def one(attempt: _Attempt) -> None:
        async with slots:  # waiting here still counts: latency runs from `due`
            await _fetch(client, job, attempt)
        unreachable.note(attempt)
        run.completed(attempt)

    async def send_all(t0: float, hard_end: float) -> None:
        for i in range(count):
            due = t0 + i / rate  # from t0, never from the previous wake-up: no drift
            await _sleep_until(loop, due)
            if unreachable.hit:
                break  # nothing is listening: the rest would only repeat that
            attempt = _Attempt(due)
            attempts.append(attempt)
            if loop.time() >= hard_end:
                # An overloaded loop fell that far behind: recorded as a timeout, not sent.
                attempt.error = transport_errors.TransportTimeout.reason.value
                run.completed(attempt)
                continue
            task = asyncio.create_task(one(attempt))  # late ones go out at once (catch up)
            tasks.append(task)
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=max(hard_end - loop.time(), 0))

    async with _client(job, max_inflight, verify) as client:
        await _warm_up(loop)
        hot = [asyncio.create_task(_keep_hot())] if busy_poll else []
        t0 = run.t0 = loop.time()
        hot += run.start()
        hard_end = t0 + max(count - 1, 0) / rate + job.timeout_s
        sender = asyncio.create_task(send_all(t0, hard_end))
        run.stop = sender.cancel  # an early verdict: nothing more is sent, nothing more awaited
        try:
            await asyncio.wait({sender})  # returns on the sender's end or cancellation, never raises it
            if not sender.cancelled() and sender.exception() is not None:
                raise sender.exception()  # type: ignore[misc]
        finally:
            await _finish([sender, *hot, *tasks])
        elapsed = loop.time() - t0
    return run.samples(attempts), elapsed


async def _closed_loop(job: _Job, concurrency: int, requests: int | None, duration_s: float | None,
                       verify: bool | ssl.SSLContext, busy_poll: bool,
                       stop_when_unreachable: bool = True, early: Observer | None = None,
                       probe: RunnerProbe | None = None) -> tuple[list[Sample], float]:
    loop = asyncio.get_running_loop()
    attempts: list[_Attempt] = []
    remaining = requests
    unreachable = _Unreachable(stop_when_unreachable)
    run = _Run(early, probe)

    async def worker(stop_at: float) -> None:
        nonlocal remaining
        while True:
            if loop.time() >= stop_at or unreachable.hit or run.stopped:
                return
            if remaining is not None:
                if remaining <= 0:
                    return
                remaining -= 1
            attempt = _Attempt(None)
            attempts.append(attempt)
            await _fetch(client, job, attempt)
            unreachable.note(attempt)
            run.completed(attempt)

    async with _client(job, concurrency, verify) as client:
        await _warm_up(loop)
        hot = [asyncio.create_task(_keep_hot())] if busy_poll else []
        t0 = run.t0 = loop.time()
        hot += run.start()
        stop_at = t0 + min(duration_s if duration_s is not None else math.inf, MAX_RUN_S)
        tasks = [asyncio.create_task(worker(stop_at)) for _ in range(concurrency)]

        def stop() -> None:
            for task in tasks:
                if task is not asyncio.current_task():
                    task.cancel()  # its request in flight is cancelled and left out

        run.stop = stop
        try:
            await asyncio.wait(tasks, timeout=max(stop_at + job.timeout_s - loop.time(), 0))
        finally:
            await _finish(hot + tasks)
        elapsed = loop.time() - t0
    return run.samples(attempts), elapsed
