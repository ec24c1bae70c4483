"""Early verdicts for sampled checks: stop sampling once a fail budget is broken whatever the rest answer.

A sampled check (an SLO, a benchmark) plans N samples. After each one completes, `EarlyStop`
asks, for every fail budget: is there any way the samples still to come could bring the final
figure back within budget? If for one budget there is none, the verdict is failed, and sending
more requests only costs time. The decision is exact, never a statistical guess: it reasons about
the very figure the full sample would be judged on, computed by opscheck.measure.stats.

The adversary: the samples still to come are best for the figure when every one of them is an
answer with an expected status in 0 ms (a percentile or a mean only drops when a value at or below
every other is added; an error leaves the latency figures alone and only raises the error ratio).
So, with k answers with an expected status so far and r samples still to come:

- a percentile q with budget B (p50, p90, p95, p99, max = q 1, ttfb p95 over the answers' TTFB):
  the best completion is the known values plus r zeros, m = k + r values in all. With
  `stats.rank(m, q) = (low, high, f)`, the final figure is at least
  `values[low] + (values[high] - values[low]) * f` of that completion. When c known values are
  over B and c >= m - low, values[low] itself is over B: with `requests: 100` and `p95_ms: 400`,
  rank(100, 0.95) is (94, 95, 0.05), so 6 samples over 400 ms decide it. When c = m - high, only
  the interpolation towards values[high] can break the budget; that is decided on the figure
  itself, with a margin of one part in 10^9 so that float rounding can never make the full sample's
  figure land on the other side (`FLOAT_MARGIN`).
- the mean (`mean_ms`): at least fsum(known) / (k + r), the mean with r zeros added (statistics.fmean
  is fsum / n; a correctly rounded sum and quotient keep this order exactly).
- the error ratio (`max_error_ratio`): errors / N over the N planned samples, in exact Decimals as
  sampler.summarize computes it; e errors so far can only grow.

A healthy service is sampled in full: nothing is ever decided early in its favour (a later sample
could always be slow or fail), so a pass always has its complete figures. Warning bands never stop
a sample either: a degraded verdict could still become a failure until the last sample is in.
A run with no planned count (a closed loop for a duration) is never stopped early.

`ENABLED` is the run's switch (`--no-early-stop` sets it False, opscheck/plugin/sampling.py).
Pure: no I/O, no clock; stdlib and opscheck.measure.stats only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from opscheck.measure.stats import interpolate, rank

__all__ = ["ENABLED", "FLOAT_MARGIN", "QUANTILES", "EarlyStop", "EarlyVerdict"]

ENABLED = True
# A budget decided on an interpolated figure must be beaten by this relative margin: percentile()
# is float arithmetic, and another completion's figure may differ from the bound by an ulp or two.
FLOAT_MARGIN = 1e-9
# The latency budgets an early verdict can decide, and their quantile; "ttfb_" ones read the TTFB.
QUANTILES: dict[str, float] = {"p50_ms": 0.50, "p90_ms": 0.90, "p95_ms": 0.95, "p99_ms": 0.99, "max_ms": 1.0,
                               "ttfb_p95_ms": 0.95}


@dataclass(frozen=True)
class EarlyVerdict:
    """One fail budget found broken before the sample was complete.

    `key`: the budget ("p95_ms", "mean_ms", "max_error_ratio"); `limit`: its value (ms, or a ratio);
    `over`: samples over budget so far (for the error ratio: samples that failed); `planned`: the
    samples planned; `taken`: completed when it was decided; `bound`: what the full sample's figure
    would be at least (ms as a float, or the error ratio as a Decimal)."""

    key: str
    limit: Decimal
    over: int
    planned: int
    taken: int
    bound: float | Decimal

    def text(self, unit: str = "samples") -> str:
        """E.g. "p95 > 400 ms: 6 of 100 planned samples already over budget (stopped after 9; p95 >= 1201.3 ms
        whatever the other 91 answer)"."""
        rest = self.planned - self.taken
        if self.key == "max_error_ratio":
            return (f"error ratio > {_pct(self.limit)}: {self.over} of {self.planned} planned {unit} already failed "
                    f"(stopped after {self.taken}; error ratio >= {_pct(Decimal(self.bound))} whatever the other {rest} answer)")
        name = self.key.removesuffix("_ms").replace("_", " ")
        if self.key == "mean_ms":
            head = f"{name} > {self.limit} ms: the {self.taken} {unit} so far already put the mean of {self.planned} planned over budget"
        else:
            head = f"{name} > {self.limit} ms: {self.over} of {self.planned} planned {unit} already over budget"
        return f"{head} (stopped after {self.taken}; {name} >= {self.bound:.1f} ms whatever the other {rest} answer)"


def _pct(ratio: Decimal) -> str:
    return f"{format((ratio * 100).quantize(Decimal('0.01')).normalize(), 'f')} %"


class _Band:
    """One percentile budget: the known values over it (sorted), and the count and maximum of the rest."""

    __slots__ = ("key", "limit", "limit_f", "max_within", "over", "q", "ttfb", "within")

    def __init__(self, key: str, q: float, limit: Decimal) -> None:
        self.key = key
        self.q = q
        self.limit = limit
        self.limit_f = float(limit)
        self.ttfb = key.startswith("ttfb_")
        self.over: list[float] = []
        self.within = 0
        self.max_within = 0.0

    def add(self, value: float) -> None:
        if Decimal(repr(value)) > self.limit:  # the judge's own comparison (slo._breaches)
            bisect.insort(self.over, value)
        else:
            self.within += 1
            self.max_within = max(self.max_within, value)

    def decide(self, remaining: int) -> float | None:
        """The least the final figure can be, when that is over budget for every completion; else None."""
        c = len(self.over)
        if c == 0:
            return None
        m = c + self.within + remaining  # the best completion: r more answers, all 0 ms
        low, high, fraction = rank(m, self.q)
        first_over = m - c  # index of the smallest over-budget value in that completion
        if low >= first_over:
            return self.over[low - first_over]  # values[low] > B, and the figure is >= values[low]
        if high != first_over:
            return None
        below = self.max_within if self.within else 0.0  # values[low]: the largest at or under budget
        figure = interpolate(below, self.over[0], fraction)
        if figure > self.limit_f * (1 + FLOAT_MARGIN) and Decimal(repr(figure)) > self.limit:
            return figure
        return None


class EarlyStop:
    """Watches a sample as it completes; `observe` returns True once a fail budget is decided.

    `budgets`: the fail budgets, key -> Decimal ("p95_ms": 400, "mean_ms": 250, "max_error_ratio":
    0.01; others are ignored); `planned`: how many samples the run will take (>= 1);
    `expect_status`: the statuses whose answers are timed. After True, `verdicts` holds one
    EarlyVerdict per budget decided, in the order of `budgets`."""

    def __init__(self, budgets: Mapping[str, Decimal], planned: int, expect_status: tuple[int, ...] | frozenset[int]) -> None:
        if planned < 1:
            raise ValueError(f"planned must be >= 1, got {planned!r}")
        self.planned = planned
        self.expect = frozenset(expect_status)
        self.order = list(budgets)
        self.limits = [Decimal(v) for v in budgets.values()]
        self.bands = [_Band(k, QUANTILES[k], Decimal(v)) for k, v in budgets.items() if k in QUANTILES]
        self.mean_limit = Decimal(budgets["mean_ms"]) if "mean_ms" in budgets else None
        self.ratio_limit = Decimal(budgets["max_error_ratio"]) if "max_error_ratio" in budgets else None
        self.latencies: list[float] = []  # the answers' latencies, for the mean's exact sum
        self.sum_ms = 0.0  # a running sum: fsum over `latencies` only when it comes near the budget
        self.taken = 0
        self.errors = 0
        self.verdicts: list[EarlyVerdict] = []

    @property
    def stopped(self) -> bool:
        return bool(self.verdicts)

    def observe(self, status: int | None, latency_ms: float | None, ttfb_ms: float | None = None) -> bool:
        """One completed sample: its status (None without an answer) and figures. True once decided
        (then every later call returns True at once and changes nothing)."""
        if self.verdicts:
            return True
        self.taken += 1
        ok = status is not None and status in self.expect and latency_ms is not None
        if not ok:
            self.errors += 1
        else:
            assert latency_ms is not None
            self.latencies.append(latency_ms)
            self.sum_ms += latency_ms
            for band in self.bands:
                value = ttfb_ms if band.ttfb else latency_ms
                if value is not None:
                    band.add(value)
        if self.taken >= self.planned:
            return False  # the sample is complete: the ordinary judgement applies
        self._decide()
        return bool(self.verdicts)

    def _decide(self) -> None:
        remaining = self.planned - self.taken
        found: dict[str, EarlyVerdict] = {}
        if self.ratio_limit is not None and self.errors:
            ratio = Decimal(self.errors) / Decimal(self.planned)  # as summarize: errors / n
            if ratio > self.ratio_limit:
                found["max_error_ratio"] = self._verdict("max_error_ratio", self.ratio_limit, self.errors, ratio)
        for band in self.bands:
            bound = band.decide(remaining)
            if bound is not None:
                found[band.key] = self._verdict(band.key, band.limit, len(band.over), bound)
        if self.mean_limit is not None and self.latencies:
            n = len(self.latencies) + remaining
            limit = float(self.mean_limit)
            if self.sum_ms / n > limit * (1 - FLOAT_MARGIN):  # cheap test first; the exact one decides
                mean = math.fsum(self.latencies) / n
                if Decimal(repr(mean)) > self.mean_limit:
                    over = sum(1 for v in self.latencies if Decimal(repr(v)) > self.mean_limit)
                    found["mean_ms"] = self._verdict("mean_ms", self.mean_limit, over, mean)
        self.verdicts = [found[k] for k in self.order if k in found]

    def _verdict(self, key: str, limit: Decimal, over: int, bound: float | Decimal) -> EarlyVerdict:
        return EarlyVerdict(key=key, limit=limit, over=over, planned=self.planned, taken=self.taken, bound=bound)
