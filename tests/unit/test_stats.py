"""opscheck.measure.stats: the one percentile algorithm (pure, no sockets)."""

from __future__ import annotations

import math
import random

import pytest

from opscheck.measure.stats import percentile, percentiles


def test_percentiles_give_what_percentile_gives_for_each_q_in_order() -> None:
    rng = random.Random(5)
    values = sorted(rng.lognormvariate(3, 1) for _ in range(1001))
    qs = [1.0, 0.0, 0.5, 0.95, 0.99, 0.999, 1 / 3]
    assert percentiles(values, qs) == [percentile(values, q) for q in qs]


def test_percentile_at_rank_q_times_n_minus_one_is_numpys_linear_default() -> None:
    # numpy.percentile([1, 2, 3, 4], [25, 50, 90]) == [1.75, 2.5, 3.7]
    assert percentiles([1.0, 2.0, 3.0, 4.0], [0.25, 0.5, 0.9]) == pytest.approx([1.75, 2.5, 3.7])
    assert percentiles([5.0], [0, 0.5, 1]) == [5.0, 5.0, 5.0]


def test_percentiles_refuse_no_values_unsorted_values_and_any_q_outside_0_to_1() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentiles([], [0.5])
    with pytest.raises(ValueError, match="sorted"):
        percentiles([2.0, 1.0], [0.5])
    for bad in (-0.01, 1.01, math.nan):
        with pytest.raises(ValueError, match="q must be in"):
            percentiles([1.0, 2.0], [0.5, bad])


def test_no_quantiles_asked_is_an_empty_list() -> None:
    assert percentiles([1.0], []) == []
