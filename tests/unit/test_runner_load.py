"""opscheck.measure.runner and the SLO judge on a busy runner: what the runner may have added to each
sample, when it counts as overloaded, and a breach it could explain reported as `runner`, never as
`latency` (pure, no sockets: samples and stalls made by hand)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from opscheck.families.slo import SloCase, _Service, judge
from opscheck.measure.early import EarlyStop
from opscheck.measure.runner import LAG_TICK_S, LATE_MS, STARVED_RATIO, RunnerProbe
from opscheck.measure.sampler import Sample, summarize
from opscheck.outcome import CheckDegraded, CheckFailed, Reason


def _sample(due_s: float, late_ms: float, total_ms: float, status: int = 200) -> Sample:
    sent = due_s + late_ms / 1000
    return Sample(scheduled_s=due_s, latency_ms=late_ms + total_ms, status=status, error=None, connect_ms=None,
                  tls_ms=None, ttfb_ms=total_ms, total_ms=total_ms, sent_s=sent)


def _probe(stalls: list[tuple[float, float]], wall_s: float = 1.0, delay_s: float | None = 0.0) -> RunnerProbe:
    probe = RunnerProbe()
    probe.stalls = stalls
    probe.lags_ms = [(b - a) * 1000 for a, b in stalls] or [0.0]
    probe.wall_s, probe.cpu_s, probe.delay_s = wall_s, wall_s / 2, delay_s
    return probe


def test_a_sample_carries_its_send_lateness_and_every_stall_while_it_was_in_flight_plus_one_tick() -> None:
    probe = _probe([(0.100, 0.140)])  # a tick due at 100 ms woke at 140 ms
    before = _sample(0.0, 0.5, 50.0)  # in flight from 0.5 ms to 50.5 ms: the loop was on time then
    through = _sample(0.0, 2.0, 139.0)  # in flight from 2 ms to 141 ms, through the whole stall
    assert probe.runner_delay_ms(before) == (0.5, 0.0)
    latency_share, ttfb_share = probe.runner_delay_ms(through)
    assert latency_share == pytest.approx(2.0 + 40.0 + LAG_TICK_S * 1000)
    assert ttfb_share == pytest.approx(40.0 + LAG_TICK_S * 1000)
    partly = _sample(0.120, 0.0, 30.0)  # from 120 ms to 150 ms: 20 ms of the stall
    assert probe.runner_delay_ms(partly)[0] == pytest.approx(20.0 + LAG_TICK_S * 1000)
    corrected = probe.corrected([before, through])
    assert corrected[0].latency_ms == pytest.approx(50.5 - 0.5)
    assert corrected[1].latency_ms == pytest.approx(141.0 - latency_share)
    assert corrected[1].ttfb_ms == pytest.approx(139.0 - ttfb_share)
    assert probe.corrected([_sample(0.135, 0.0, 10.0)])[0].ttfb_ms == 0.0  # never below 0


def test_a_stall_outside_the_flight_adds_nothing() -> None:
    probe = _probe([(0.400, 0.450), (0.010, 0.011)])
    probe.stalls.sort()
    assert probe.runner_delay_ms(_sample(0.1, 0.0, 200.0)) == (0.0, 0.0)


def test_an_idle_runner_is_not_overloaded() -> None:
    probe = _probe([], delay_s=0.01)
    load = probe.load([_sample(i / 100, 0.2, 20.0) for i in range(100)], busy_poll=False, open_loop=True)
    assert not load.overloaded and load.why is None
    assert load.send_late_p99_ms == pytest.approx(0.2) and load.cpu_starved_ratio == pytest.approx(0.01)
    figures = load.to_dict()
    assert figures["late_bound_ms"] == LATE_MS and figures["starved_bound_ratio"] == STARVED_RATIO
    assert figures["process_cpu_ratio"] == 0.5 and figures["busy_poll"] is False


def test_late_sends_or_a_starved_cpu_make_the_runner_overloaded() -> None:
    late = _probe([]).load([_sample(i / 100, 30.0, 20.0) for i in range(100)], busy_poll=True, open_loop=True)
    assert late.overloaded and "sends p99 30.0 ms late (bound 10 ms)" in (late.why or "")
    starved = _probe([], delay_s=0.45).load([_sample(0.0, 0.1, 20.0)], busy_poll=False, open_loop=True)
    assert starved.overloaded and "CPU starved 45 % of the run (bound 20 %)" in (starved.why or "")
    lagging = _probe([(i / 50, i / 50 + 0.02) for i in range(50)]).load([], busy_poll=False, open_loop=False)
    assert lagging.overloaded and "event loop p99 20.0 ms late" in (lagging.why or "")
    assert lagging.send_late_p99_ms is None  # a closed loop has no schedule to be late for


def _case(**warn: str) -> SloCase:
    return SloCase(family="slo", name="s", field="slo[0]", line=None, severity="major", section=None, path="/x",
                   fail={"p95_ms": Decimal(40), "max_error_ratio": Decimal("0.1")},
                   warn={k: Decimal(v) for k, v in warn.items()})


def _judge(samples: list[Sample], probe: RunnerProbe, case: SloCase | None = None, early: bool = False) -> None:
    case = case or _case()
    stopper = None
    if early:
        stopper = EarlyStop(case.fail, 100, (200,))
        for s in samples:
            if stopper.observe(s.status, s.latency_ms, s.ttfb_ms):
                break
        samples = samples[:stopper.taken]
    stats = summarize(samples, {200}, 100 if early else len(samples), 1.0)
    load = probe.load(samples, busy_poll=False, open_loop=True)
    service = None
    if load.overloaded:
        corrected = probe.corrected(samples)
        again = EarlyStop(case.fail, 100, (200,)) if early else None
        for s in corrected if again else []:
            again.observe(s.status, s.latency_ms, s.ttfb_ms)
        service = _Service(summarize(corrected, {200}, stats.requested, 1.0), again.verdicts if again else [])
    judge(case, stats, None, Counter(s.error for s in samples if s.error), None,
          early=stopper.verdicts if stopper else None, runner=load, service=service)


def test_a_breach_the_runners_lateness_explains_is_runner_not_latency() -> None:
    samples = [_sample(i / 100, 35.0, 15.0) for i in range(100)]  # 50 ms measured, 15 ms of it the service's
    with pytest.raises(CheckFailed) as caught:
        _judge(samples, _probe([]))
    assert caught.value.reason is Reason.RUNNER
    message = caught.value.message
    assert message.startswith("GET /x: p95 50.0 ms > 40 ms, but the runner was overloaded (sends p99 35.0 ms late")
    assert "up to 35.0 ms" in message and "(n=100, errors 0 %)" in message
    assert (caught.value.observed, caught.value.limit, caught.value.unit) == (Decimal("35.0"), Decimal("10.0"), "ms")


def test_a_breach_still_over_budget_without_the_runners_share_is_the_services() -> None:
    samples = [_sample(i / 100, 35.0, 60.0) for i in range(100)]  # 60 ms of the service's own
    with pytest.raises(CheckFailed) as caught:
        _judge(samples, _probe([]))
    assert caught.value.reason is Reason.LATENCY


def test_without_overload_a_breach_is_latency_as_ever() -> None:
    with pytest.raises(CheckFailed) as caught:
        _judge([_sample(i / 100, 0.2, 50.0) for i in range(100)], _probe([]))
    assert caught.value.reason is Reason.LATENCY


def test_a_pass_on_a_busy_runner_stands() -> None:
    _judge([_sample(i / 100, 25.0, 5.0) for i in range(100)], _probe([], delay_s=0.5))  # 30 ms: within 40


def test_a_warning_band_the_runner_explains_is_degraded_with_reason_runner() -> None:
    samples = [_sample(i / 100, 20.0, 15.0) for i in range(100)]  # 35 ms: over the 30 ms warning only
    with pytest.raises(CheckDegraded) as caught:
        _judge(samples, _probe([]), _case(p95_ms="30"))
    assert caught.value.reason is Reason.RUNNER and "(warning band)" in caught.value.message


def test_failed_answers_on_a_busy_runner_are_still_the_services_errors() -> None:
    samples = [_sample(i / 100, 35.0, 1.0, status=503 if i % 5 == 0 else 200) for i in range(100)]
    with pytest.raises(CheckFailed) as caught:
        _judge(samples, _probe([]))
    assert caught.value.reason is Reason.ERRORS


def test_an_early_latency_verdict_the_runner_explains_is_runner() -> None:
    samples = [_sample(i / 100, 35.0, 15.0) for i in range(100)]
    with pytest.raises(CheckFailed) as caught:
        _judge(samples, _probe([]), early=True)
    assert caught.value.reason is Reason.RUNNER and "stopped after 6" in caught.value.message


def test_an_early_latency_verdict_beyond_the_runners_share_stands() -> None:
    samples = [_sample(i / 100, 35.0, 900.0) for i in range(100)]
    with pytest.raises(CheckFailed) as caught:
        _judge(samples, _probe([]), early=True)
    assert caught.value.reason is Reason.LATENCY
    # 5 samples 935 ms each: even 95 answers in 0 ms leave p95 at 0 + 935 x 0.05 = 46.75 ms > 40 ms.
    assert caught.value.message.startswith("GET /x: p95 > 40 ms: 5 of 100 planned samples already over budget (stopped after 5")


def test_a_busy_polling_loop_is_not_overloaded_by_starvation_alone() -> None:
    # Always ready to run, it waits for a CPU whenever anything else runs: the lateness and the lag decide.
    load = _probe([], delay_s=0.7).load([_sample(0.0, 0.1, 20.0)], busy_poll=True, open_loop=True)
    assert not load.overloaded and load.cpu_starved_ratio == pytest.approx(0.7)
