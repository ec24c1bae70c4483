"""The latency sampler against real loopback servers (benchmarks/delay_server.py); no mocks.

Timing assertions are behaviour bounds (a scheduler that keeps its schedule, a run that ends in
time), never speed claims about the machine.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks.delay_server import start_delay_server
from opscheck.measure import sampler
from opscheck.measure.sampler import (
    Sample,
    describe_tally,
    percentile,
    planned_requests,
    run_closed_loop,
    run_open_loop,
    summarize,
    tally,
)

Start = Callable[..., str]


@pytest.fixture(params=["raw", "httpx"])
def client_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test against a loopback server runs through both clients: rawhttp and httpx."""
    monkeypatch.setattr(sampler, "CLIENT", request.param)
    return request.param


@pytest.fixture
def serve(client_path: str) -> Iterator[Start]:
    """serve(delay_ms, **options) -> base URL of a fresh delay server, stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(delay_ms: float, **options: object) -> str:
        host, port, stop = start_delay_server(delay_ms, **options)  # type: ignore[arg-type]
        stops.append(stop)
        return f"http://{host}:{port}/"

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def refused_url(client_path: str) -> Iterator[str]:
    # Bound but not listening: the kernel answers every SYN with a reset, and no other test can
    # take the port meanwhile (unlike a closed ephemeral port).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


def _sample(status: int | None, latency_ms: float | None = 10.0, error: str | None = None) -> Sample:
    answered = status is not None
    return Sample(scheduled_s=0.0, latency_ms=latency_ms if answered else None, status=status,
                  error=None if answered else error, connect_ms=None, tls_ms=None,
                  ttfb_ms=latency_ms if answered else None, total_ms=latency_ms if answered else None)


# -- percentile ---------------------------------------------------------------------------------

def test_percentile_single_value_is_every_percentile() -> None:
    for q in (0, 0.5, 0.95, 1):
        assert percentile([7.0], q) == 7.0


def test_percentile_two_values_interpolates_linearly() -> None:
    assert percentile([10.0, 20.0], 0) == 10.0
    assert percentile([10.0, 20.0], 0.5) == 15.0
    assert percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)
    assert percentile([10.0, 20.0], 1) == 20.0


def test_percentile_matches_numpy_linear_and_k6() -> None:
    # numpy.percentile docs: a = [[10, 7, 4], [3, 2, 1]] -> percentile(a, 50) == 3.5
    assert percentile(sorted([10, 7, 4, 3, 2, 1]), 0.5) == 3.5
    one_to_ten = [float(i) for i in range(1, 11)]
    assert percentile(one_to_ten, 0.90) == pytest.approx(9.1)   # rank 8.1
    assert percentile(one_to_ten, 0.95) == pytest.approx(9.55)  # rank 8.55
    assert percentile(one_to_ten, 0.25) == pytest.approx(3.25)  # rank 2.25
    one_to_hundred = [float(i) for i in range(1, 101)]
    assert percentile(one_to_hundred, 0.99) == pytest.approx(99.01)
    assert percentile(one_to_ten, 0) == 1.0 and percentile(one_to_ten, 1) == 10.0


def test_percentile_rejects_empty_unsorted_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([2.0, 1.0], 0.5)
    for q in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError):
            percentile([1.0, 2.0], q)


# -- summarize ----------------------------------------------------------------------------------

def test_summarize_error_ratio_is_exact() -> None:
    stats = summarize([_sample(200), _sample(500), _sample(200)], {200}, requested=3, duration_s=1.0)
    assert stats.errors == 1 and stats.answered == 3
    assert stats.error_ratio == Decimal(1) / Decimal(3)
    assert isinstance(stats.error_ratio, Decimal)


def test_summarize_counts_transport_errors_and_percentiles_over_answered_only() -> None:
    samples = [_sample(200, 10.0), _sample(200, 30.0), _sample(None, error="timeout"), _sample(201, 20.0)]
    stats = summarize(samples, {200, 201}, requested=5, duration_s=2.0)
    assert (stats.requested, stats.n, stats.answered, stats.errors) == (5, 4, 3, 1)
    assert stats.error_ratio == Decimal("0.25")
    assert (stats.min_ms, stats.p50_ms, stats.max_ms) == (10.0, 20.0, 30.0)
    assert stats.mean_ms == pytest.approx(20.0)


def test_summarize_takes_latency_only_from_answers_with_an_expected_status() -> None:
    # 48 instant 503s and two 200s after 400 ms: the 503s are errors, not fast answers.
    samples = [_sample(503, 1.0) for _ in range(48)] + [_sample(200, 400.0), _sample(200, 400.0)]
    stats = summarize(samples, {200}, requested=50, duration_s=1.0)
    assert (stats.n, stats.answered, stats.n_ok, stats.errors) == (50, 50, 2, 48)
    assert stats.error_ratio == Decimal("0.96")
    for figure in (stats.min_ms, stats.p50_ms, stats.p90_ms, stats.p95_ms, stats.p99_ms, stats.max_ms,
                   stats.mean_ms, stats.ttfb_p50_ms, stats.ttfb_p95_ms):
        assert figure == pytest.approx(400.0)


def test_summarize_without_an_expected_answer_has_no_latency_at_all() -> None:
    stats = summarize([_sample(503, 1.0) for _ in range(50)], {200}, requested=50, duration_s=1.0)
    assert stats.n_ok == 0 and stats.answered == 50 and stats.error_ratio == 1
    assert stats.p50_ms is None and stats.p95_ms is None and stats.max_ms is None and stats.mean_ms is None
    assert stats.ttfb_p95_ms is None and stats.min_ms is None


def test_tally_counts_statuses_and_errors_most_frequent_first() -> None:
    samples = [_sample(503)] * 3 + [_sample(200)] + [_sample(None, error="connect")] * 2
    assert tally(samples) == {"503": 3, "connect": 2, "200": 1}
    assert list(tally(samples)) == ["503", "connect", "200"]
    assert describe_tally(tally(samples)) == "3 x 503, 2 x connect, 1 x 200"
    assert describe_tally({str(code): 1 for code in range(500, 506)}, limit=4) == \
        "1 x 500, 1 x 501, 1 x 502, 1 x 503, 2 other"


def test_summarize_of_nothing() -> None:
    stats = summarize([], {200}, requested=0, duration_s=0.0)
    assert stats.n == 0 and stats.error_ratio == Decimal(0)
    assert stats.p50_ms is None and stats.p99_ms is None and stats.achieved_rate is None


# -- open loop ----------------------------------------------------------------------------------

@pytest.mark.parametrize("busy_poll", [True, False], ids=["busy-poll", "sleeping-loop"])
def test_open_loop_keeps_its_rate_and_sees_the_delay(serve: Start, busy_poll: bool) -> None:
    samples, elapsed = run_open_loop(serve(20), rate_per_s=50, requests=40, busy_poll=busy_poll)
    stats = summarize(samples, {200}, requested=40, duration_s=elapsed)
    assert stats.n == 40 and stats.answered == 40
    assert stats.error_ratio == 0
    assert all(s.latency_ms is not None and s.latency_ms >= 20 for s in samples)
    assert [round(s.scheduled_s, 6) for s in samples] == [round(i / 50, 6) for i in range(40)]
    assert stats.achieved_rate is not None and abs(stats.achieved_rate - 50) <= 5


def test_open_loop_counts_server_errors(serve: Start) -> None:
    samples, elapsed = run_open_loop(serve(0, error_every=5), rate_per_s=100, requests=40)
    stats = summarize(samples, {200}, requested=40, duration_s=elapsed)
    assert stats.n == 40 and stats.answered == 40
    assert sorted(s.status for s in samples) == [200] * 32 + [500] * 8
    assert stats.error_ratio == Decimal("0.2")


def test_open_loop_measures_from_the_schedule_no_coordinated_omission(serve: Start) -> None:
    # The server stops answering for 1 s after 10 requests; the client can have 2 requests in
    # flight, so the others wait for a slot. From the schedule, everything due during the stall
    # is late; from the actual send ("naive"), only the 2 requests stuck at the server are.
    url = serve(10, stall_after=10, stall_s=1.0)
    samples, elapsed = run_open_loop(url, rate_per_s=50, duration_s=1.5, max_inflight=2, timeout_s=3.0)
    assert len(samples) == planned_requests(rate_per_s=50, requests=None, duration_s=1.5) == 75
    assert all(s.status == 200 for s in samples)
    latency = [s.latency_ms for s in samples if s.latency_ms is not None]
    naive = [s.total_ms for s in samples if s.total_ms is not None]
    assert max(latency) >= 800
    assert sum(1 for ms in latency if ms >= 500) >= 10
    assert sum(1 for ms in naive if ms >= 500) <= 2
    assert summarize(samples, {200}, 75, elapsed).p95_ms >= 500 > percentile(sorted(naive), 0.95)


def test_open_loop_without_a_slot_limit_also_sees_the_stall(serve: Start) -> None:
    samples, _ = run_open_loop(serve(10, stall_after=10, stall_s=1.0), rate_per_s=50, duration_s=1.5, timeout_s=3.0)
    slow = [s for s in samples if s.latency_ms is not None and s.latency_ms >= 500]
    assert len(samples) == 75 and len(slow) >= 10
    assert max(s.latency_ms for s in slow) >= 800  # type: ignore[type-var]
    # Slow because of the stall: none of them was answered before it ended (>= 1 s into the run).
    assert min(s.scheduled_s + s.latency_ms / 1000 for s in slow) >= 1.0  # type: ignore[operator]


def test_open_loop_connection_refused_counts_every_request_when_asked_not_to_stop(refused_url: str) -> None:
    samples, elapsed = run_open_loop(refused_url, rate_per_s=100, requests=10, timeout_s=1.0,
                                     stop_when_unreachable=False)
    stats = summarize(samples, {200}, requested=10, duration_s=elapsed)
    assert stats.n == 10 and stats.errors == 10 and stats.error_ratio == 1
    assert {s.error for s in samples} == {"connect"}
    assert stats.answered == 0 and stats.p50_ms is None
    assert all(s.detail and "127.0.0.1" in s.detail for s in samples)  # the message names the address


def test_open_loop_stops_at_once_when_nothing_listens(refused_url: str) -> None:
    # 50 requests at 5/s would take 10 s; a refused first connection ends the run instead.
    started = time.monotonic()
    samples, elapsed = run_open_loop(refused_url, rate_per_s=5, requests=50, timeout_s=1.0)
    assert 1 <= len(samples) < 50
    assert {s.error for s in samples} == {"connect"} and all(s.status is None for s in samples)
    assert time.monotonic() - started <= 1.0 + 1  # a bound on a hang, not a speed claim


def test_closed_loop_stops_at_once_when_nothing_listens(refused_url: str) -> None:
    started = time.monotonic()
    samples, _ = run_closed_loop(refused_url, concurrency=2, duration_s=10, timeout_s=1.0)
    assert 1 <= len(samples) <= 2 and {s.error for s in samples} == {"connect"}
    assert time.monotonic() - started <= 1.0 + 1


def test_open_loop_that_was_answered_does_not_stop_on_a_later_refusal(client_path: str) -> None:
    # The server goes away mid-run (a restart): its refusals are errors of the run, not a reason
    # to stop it, because the target was reachable.
    host, port, stop = start_delay_server(0)
    timer = threading.Timer(0.3, stop)
    timer.start()
    try:
        samples, _ = run_open_loop(f"http://{host}:{port}/", rate_per_s=50, requests=40, timeout_s=0.5)
    finally:
        timer.cancel()
        stop()
    assert len(samples) == 40
    assert any(s.status == 200 for s in samples) and any(s.status is None for s in samples)


def test_open_loop_silent_server_times_out_and_ends_in_time(serve: Start) -> None:
    url = serve(0, stall_after=0, stall_s=3600)  # accepts, reads, never answers
    started = time.monotonic()
    samples, elapsed = run_open_loop(url, rate_per_s=20, duration_s=0.5, timeout_s=0.5)
    wall = time.monotonic() - started
    assert len(samples) == 10
    assert {s.error for s in samples} == {"timeout"} and all(s.latency_ms is None for s in samples)
    assert elapsed <= 0.5 + 0.5 + 2 and wall <= 0.5 + 0.5 + 2


def test_open_loop_cancels_what_is_still_waiting_at_the_end(serve: Start) -> None:
    # One slot, a silent server: request 0 holds the slot until its timeout, the rest queue; the
    # run still ends at (last due + timeout) and every request is accounted for as a timeout.
    url = serve(0, stall_after=0, stall_s=3600)
    samples, elapsed = run_open_loop(url, rate_per_s=20, requests=10, max_inflight=1, timeout_s=0.4)
    assert len(samples) == 10 and {s.error for s in samples} == {"timeout"}
    assert any(s.sent_s is None for s in samples)  # never got a slot
    assert elapsed <= 9 / 20 + 0.4 + 2


def test_phases(serve: Start) -> None:
    samples, _ = run_open_loop(serve(5), rate_per_s=100, requests=20)
    assert any(s.connect_ms is not None for s in samples)
    assert any(s.connect_ms is None for s in samples)  # keep-alive reuse
    for s in samples:
        assert s.ttfb_ms is not None and s.total_ms is not None and s.latency_ms is not None
        assert s.ttfb_ms <= s.total_ms <= s.latency_ms + 1e-6
        assert s.tls_ms is None


def test_tls_phase_and_tls_error(tmp_path: Path, client_path: str) -> None:
    from tests.tls_server import CertFactory, TlsServer

    certs = CertFactory(tmp_path)
    with TlsServer(*certs.leaf("sampler")) as server:
        trusted = ssl.create_default_context(cafile=str(certs.ca_file))
        samples, _ = run_open_loop(server.base_url + "/", rate_per_s=50, requests=3, verify=trusted)
        assert all(s.status == 200 for s in samples)
        assert any(s.tls_ms is not None and s.connect_ms is not None for s in samples)
        samples, _ = run_open_loop(server.base_url + "/", rate_per_s=50, requests=2, timeout_s=2.0)
        assert {s.error for s in samples} == {"tls"}  # the test CA is not trusted by default


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        run_open_loop("http://127.0.0.1:9/", rate_per_s=10)
    with pytest.raises(ValueError):
        run_open_loop("http://127.0.0.1:9/", rate_per_s=10, requests=1, duration_s=1)
    with pytest.raises(ValueError):
        run_open_loop("http://127.0.0.1:9/", rate_per_s=0, requests=1)
    with pytest.raises(ValueError):
        run_closed_loop("http://127.0.0.1:9/", concurrency=0, requests=1)
    with pytest.raises(ValueError):
        run_closed_loop("ftp://127.0.0.1:9/", concurrency=1, requests=1)
    assert planned_requests(rate_per_s=2.3, requests=None, duration_s=10) == 23


# -- closed loop --------------------------------------------------------------------------------

@pytest.mark.parametrize("busy_poll", [True, False], ids=["busy-poll", "sleeping-loop"])
def test_closed_loop_concurrency(serve: Start, busy_poll: bool) -> None:
    samples, elapsed = run_closed_loop(serve(20), concurrency=4, requests=40, busy_poll=busy_poll)
    stats = summarize(samples, {200}, requested=40, duration_s=elapsed)
    assert stats.n == 40 and stats.answered == 40 and stats.error_ratio == 0
    assert all(s.latency_ms is not None and s.latency_ms >= 20 for s in samples)
    assert all(s.latency_ms == s.total_ms for s in samples)  # measured from the actual send
    # Never more than 4 in flight: at each send, count the requests still open.
    spans = [(s.sent_s, s.sent_s + s.total_ms / 1000) for s in samples]  # type: ignore[operator]
    assert max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans) <= 4
    assert elapsed >= 10 * 0.020  # 40 requests, 4 at a time, 20 ms each


def test_closed_loop_duration_is_bounded(serve: Start, refused_url: str) -> None:
    samples, elapsed = run_closed_loop(serve(20), concurrency=2, duration_s=0.3, timeout_s=1.0)
    assert samples and all(s.scheduled_s < 0.3 for s in samples) and elapsed <= 0.3 + 1.0
    samples, _ = run_closed_loop(refused_url, concurrency=2, requests=6, timeout_s=1.0, stop_when_unreachable=False)
    assert len(samples) == 6 and {s.error for s in samples} == {"connect"}


def test_a_run_never_outlasts_the_cap(serve: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed loop for many requests against a slow server stops sending at the cap; the rest is
    missing (which the SLO check fails). An open loop that plans past the cap is refused up front."""
    monkeypatch.setattr(sampler, "MAX_RUN_S", 0.5)
    started = time.monotonic()
    samples, elapsed = run_closed_loop(serve(200), concurrency=2, requests=1000, timeout_s=1.0)
    assert time.monotonic() - started <= 0.5 + 1.0 + 1.0
    assert 2 <= len(samples) < 1000 and all(s.scheduled_s < 0.5 for s in samples)
    with pytest.raises(ValueError, match="more than the 0.5 s a run may last"):
        run_open_loop(serve(0), rate_per_s=10, requests=10)


def test_busy_poll_is_off_unless_asked_for_whatever_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    assert sampler.resolve_busy_poll(True) is True and sampler.resolve_busy_poll(False) is False
    for cpus in ({0}, {0, 1}, set(range(8))):  # benchmarks/bench_sampler.py --load: sleeping has the better tail
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, cpus=cpus: cpus, raising=False)
        assert sampler.resolve_busy_poll(None) is False
