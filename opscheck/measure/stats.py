"""Order statistics over measured values: the one percentile algorithm every figure and chart uses.

The sampler's p50/p95/p99, the benchmark family's p95 and the report's latency charts all call
`percentile` (or `percentiles`, for many at once), so a figure in a check's message and the same
figure drawn in report.html can never disagree.

Pure and stdlib only: no I/O, no clock, no opscheck imports.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Sequence

__all__ = ["interpolate", "percentile", "percentiles", "rank"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The `q` quantile (0 <= q <= 1) of ascending `sorted_values`, in their unit.

    Linear interpolation between the closest ranks, at rank q * (n - 1) (0-based): numpy's
    default (`numpy.percentile(..., method="linear")`, Hyndman & Fan's definition 7) and k6's
    Trend percentiles. So q=0 is the minimum, q=1 the maximum, and the median of [1, 2, 3, 4]
    is 2.5. Raises ValueError for no values, q outside [0, 1] (or NaN), or unsorted values:
    a silent wrong answer is worse.
    """
    return percentiles(sorted_values, (q,))[0]


def percentiles(sorted_values: Sequence[float], qs: Iterable[float]) -> list[float]:
    """`percentile(sorted_values, q)` for each q in `qs`, in order; the values are checked once.

    For many quantiles of one sample set (a percentile curve has one per pixel column): checking
    the order again for each would cost O(n) per quantile.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    wanted = list(qs)
    for q in wanted:
        if not 0 <= q <= 1:  # also refuses NaN
            raise ValueError(f"q must be in [0, 1], got {q!r}")
    # map() keeps the O(n) order check in C: a 100k-sample chart pays ~2 ms for it, not ~10.
    if any(map(operator.gt, sorted_values, itertools.islice(sorted_values, 1, None))):
        raise ValueError("values must be sorted ascending")
    n = len(sorted_values)
    out = []
    for q in wanted:
        low, high, fraction = rank(n, q)
        out.append(interpolate(sorted_values[low], sorted_values[high], fraction))
    return out


def rank(n: int, q: float) -> tuple[int, int, float]:
    """Where the `q` quantile of `n` sorted values lies: (low, high, fraction), 0-based indices.

    The quantile is `interpolate(values[low], values[high], fraction)`; `percentile` computes it
    this way, and so do the early verdicts (opscheck.measure.early), which must find exactly the
    order statistics a full sample's figure will be made of. n >= 1, 0 <= q <= 1 (not checked here).
    """
    last = n - 1
    position = q * last
    low = math.floor(position)
    return low, min(low + 1, last), position - low


def interpolate(low_value: float, high_value: float, fraction: float) -> float:
    """low + (high - low) * fraction, the linear interpolation of `percentile` (definition 7)."""
    return low_value + (high_value - low_value) * fraction
