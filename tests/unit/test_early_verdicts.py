"""opscheck.measure.early: a sample stops early exactly when no completion could bring it back within
budget, judged by brute force over every completion with the SLO family's own judge (pure, no sockets)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from opscheck.families.slo import _breaches
from opscheck.measure.early import QUANTILES, EarlyStop, EarlyVerdict
from opscheck.measure.sampler import Sample, summarize
from opscheck.measure.stats import rank

BUDGET = Decimal(100)
ERROR = None  # a sample that failed (here: answered 503)
# What the samples so far may have been, and what the rest may answer: 0 ms is the best answer
# there is, 1000 ms far over budget, 100 ms exactly on it (not over), ERROR an answer that does not count.
SEEN = (0.0, 10.0, 100.0, 150.0, 1000.0, ERROR)
TO_COME = (0.0, 100.0, 150.0, 1000.0, ERROR)


def _sample(value: float | None) -> Sample:
    if value is None:
        return Sample(0.0, 5.0, 503, None, None, None, 5.0, 5.0)
    return Sample(0.0, value, 200, None, None, None, value, value)


def _fails(budgets: dict[str, Decimal], values: tuple[float | None, ...]) -> bool:
    """The full sample's verdict by the SLO family's own rules: any fail budget broken (no_data included)."""
    stats = summarize([_sample(v) for v in values], {200}, len(values), 1.0)
    return bool(_breaches(budgets, stats))


def _decided(budgets: dict[str, Decimal], planned: int, seen: tuple[float | None, ...]) -> bool:
    stop = EarlyStop(budgets, planned, (200,))
    decided = False
    for value in seen:
        sample = _sample(value)
        decided = stop.observe(sample.status, sample.latency_ms, sample.ttfb_ms)
    return decided


def _brute_force(budgets: dict[str, Decimal], planned: int, seen: tuple[float | None, ...]) -> bool:
    """True when every completion of `seen` to `planned` samples fails (order never matters to a figure)."""
    rest = planned - len(seen)
    return all(_fails(budgets, seen + more) for more in itertools.combinations_with_replacement(TO_COME, rest))


BUDGETS = [{key: BUDGET} for key in (*QUANTILES, "mean_ms")] + [
    {"max_error_ratio": Decimal("0.25")}, {"max_error_ratio": Decimal(0)},
    {"p95_ms": BUDGET, "max_error_ratio": Decimal("0.5")},
]


@pytest.mark.parametrize("budgets", BUDGETS, ids=lambda b: "+".join(b))
@pytest.mark.parametrize("planned", [1, 2, 3, 4, 6])
def test_a_sample_stops_exactly_when_every_completion_fails(budgets: dict[str, Decimal], planned: int) -> None:
    for taken in range(1, planned):  # a complete sample is judged in full, never "early"
        for seen in itertools.combinations_with_replacement(SEEN, taken):
            for order in {seen, tuple(reversed(seen))}:  # the order samples complete in changes nothing
                expected = _brute_force(budgets, planned, order)
                assert _decided(budgets, planned, order) == expected, (budgets, planned, order)


def test_the_issue_example_six_slow_samples_of_a_hundred_decide_p95_and_five_do_not() -> None:
    stop = EarlyStop({"p95_ms": Decimal(400)}, 100, (200,))
    for _ in range(3):
        assert not stop.observe(200, 3.0, 2.0)
    for _ in range(5):
        assert not stop.observe(200, 1200.0, 1199.0)  # rank(100, 0.95) is (94, 95, 0.05): 5 over is not enough
    assert stop.observe(200, 1200.0, 1199.0)
    (verdict,) = stop.verdicts
    assert verdict.text() == ("p95 > 400 ms: 6 of 100 planned samples already over budget "
                              "(stopped after 9; p95 >= 1200.0 ms whatever the other 91 answer)")
    assert stop.observe(200, 1.0, 1.0) and stop.taken == 9  # decided: later samples change nothing


def test_errors_so_far_shrink_the_count_a_percentile_needs() -> None:
    # 100 planned, 10 failed: at most 90 answers, rank(90, 0.95) = (84, 85, 0.55), 6 over decide it;
    # but with the interpolation towards a sample 10 x over, 5 already do.
    stop = EarlyStop({"p95_ms": Decimal(400)}, 100, (200,))
    for _ in range(10):
        assert not stop.observe(503, 1.0, 1.0)
    for _ in range(4):
        assert not stop.observe(200, 4000.0, 1.0)
    assert stop.observe(200, 4000.0, 1.0)
    assert stop.verdicts[0].over == 5


def test_a_healthy_sample_is_never_decided_early() -> None:
    stop = EarlyStop({"p95_ms": Decimal(400), "p99_ms": Decimal(500), "mean_ms": Decimal(250),
                      "max_error_ratio": Decimal("0.01")}, 100, (200,))
    assert not any(stop.observe(200, 20.0, 10.0) for _ in range(100))
    assert not stop.verdicts


def test_the_error_ratio_is_decided_in_exact_decimals_over_the_planned_count() -> None:
    stop = EarlyStop({"max_error_ratio": Decimal("0.01")}, 100, (200,))
    assert not stop.observe(None, None)  # 1 of 100 is 1 %: not over 1 %
    assert stop.observe(503, 3.0)  # 2 of 100 whatever the rest answer
    assert stop.verdicts[0].bound == Decimal("0.02")
    assert stop.verdicts[0].text().startswith("error ratio > 1 %: 2 of 100 planned samples already failed (stopped after 2")


def test_the_mean_is_decided_on_the_sum_so_far_over_every_planned_answer() -> None:
    stop = EarlyStop({"mean_ms": Decimal(250)}, 30, (200,))
    for _ in range(6):
        assert not stop.observe(200, 1200.0)  # 7200 / 30 = 240
    assert stop.observe(200, 1200.0)  # 8400 / 30 = 280 > 250 whatever the other 23 answer
    assert stop.verdicts[0].text("rounds").startswith(
        "mean > 250 ms: the 7 rounds so far already put the mean of 30 planned over budget")


@pytest.mark.parametrize("q", sorted(set(QUANTILES.values())))
def test_the_count_a_percentile_needs_never_falls_as_the_sample_grows(q: float) -> None:
    # m - low(m) over budget decide the figure; more answers to come may only ask for more.
    needs = [m - rank(m, q)[0] for m in range(1, 20001)]
    assert all(a <= b for a, b in zip(needs, needs[1:]))


def test_planned_count_must_be_positive_and_unknown_budgets_are_ignored() -> None:
    with pytest.raises(ValueError, match="planned"):
        EarlyStop({"p95_ms": BUDGET}, 0, (200,))
    stop = EarlyStop({"ttfb_p50_ms": BUDGET, "p95_ms": BUDGET}, 10, (200,))
    assert [band.key for band in stop.bands] == ["p95_ms"]


def test_verdict_text_names_the_budget_the_counts_and_the_bound() -> None:
    verdict = EarlyVerdict("ttfb_p95_ms", Decimal(400), 3, 50, 7, 812.44)
    assert verdict.text() == ("ttfb p95 > 400 ms: 3 of 50 planned samples already over budget "
                              "(stopped after 7; ttfb p95 >= 812.4 ms whatever the other 43 answer)")
