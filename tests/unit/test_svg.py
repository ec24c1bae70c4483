"""Inline SVG latency charts: well-formed, escaped, bounded, deterministic, honest about bins."""

from __future__ import annotations

import math
import random
import re
import xml.etree.ElementTree as ET

import pytest

from opscheck.measure.stats import percentile
from opscheck.report.charts import MAX_BINS, latency_svg, percentile_curve_svg

NS = "{http://www.w3.org/2000/svg}"
THRESHOLDS = {"p95 budget": 400.0, "p50 budget": 250.0}
PERCENTILES = {"p50": 21.3, "p95": 48.0, "p99": 61.2}
LONG_TAIL = [20.0] * 990 + [2000.0] * 10
COORD_ATTRS = ("x", "y", "x1", "y1", "x2", "y2", "width", "height", "points", "d")


def samples(n: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(3.0, 0.4) for _ in range(n)]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label")
    return root


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("class") == cls]


def texts(root: ET.Element, cls: str) -> list[str]:
    return ["".join(e.itertext()) for e in by_class(root, "text", cls)]


def bar_counts(root: ET.Element) -> list[int]:
    """Per-bar counts, read from each bar's tooltip ("20-40 ms: 123")."""
    (bars,) = by_class(root, "g", "bars")
    return [int(rect.findtext(f"{NS}title").rsplit(": ", 1)[1]) for rect in bars]


def x_tick_labels(root: ET.Element) -> list[str]:
    (group,) = by_class(root, "g", "x-ticks")
    return ["".join(t.itertext()) for t in group][:-1]  # the last text is the axis title


# -- marks ---------------------------------------------------------------------------------------


def test_histogram_parses_with_one_labelled_line_per_threshold_and_percentile() -> None:
    root = parse(latency_svg(samples(2000), thresholds=THRESHOLDS, percentiles=PERCENTILES))

    assert len(by_class(root, "line", "threshold")) == len(THRESHOLDS)
    assert len(by_class(root, "line", "percentile")) == len(PERCENTILES)
    threshold_labels = texts(root, "threshold-label")
    percentile_labels = texts(root, "percentile-label")
    for name, value in THRESHOLDS.items():
        assert any(name in t and f"{value:g}" in t for t in threshold_labels), name
    for name in PERCENTILES:
        assert any(name in t for t in percentile_labels), name
    assert any("21.3" in t for t in percentile_labels)
    for line in by_class(root, "line", "threshold"):
        assert line.get("x1") == line.get("x2")  # vertical
        assert line.get("stroke-dasharray")  # dashed
        assert line.get("stroke") == "#d62728"  # red
    for line in by_class(root, "line", "percentile"):
        assert line.get("x1") == line.get("x2")
        assert not line.get("stroke-dasharray")


def test_thresholds_beyond_the_data_extend_the_x_axis() -> None:
    data = samples(2000)
    assert max(data) < 250  # both budgets lie beyond the data
    svg = latency_svg(data, thresholds=THRESHOLDS)
    root = parse(svg)

    ticks = [float(t) for t in x_tick_labels(root)]
    assert ticks[-1] >= 400
    width = float(root.get("width"))
    xs = sorted(float(line.get("x1")) for line in by_class(root, "line", "threshold"))
    assert 0 < xs[0] < xs[1] < width  # p50 budget (250) left of p95 budget (400), both drawn


def test_percentiles_at_one_value_share_a_label_but_keep_their_lines() -> None:
    root = parse(latency_svg(LONG_TAIL, percentiles={"p50": 20, "p95": 20, "p99": 20}))
    assert len(by_class(root, "line", "percentile")) == 3
    assert texts(root, "percentile-label") == ["p50/p95/p99 20 ms"]


def test_non_finite_marks_are_left_out() -> None:
    root = parse(latency_svg(samples(100), thresholds={"ok": 80, "bad": math.nan}))
    assert len(by_class(root, "line", "threshold")) == 1
    assert not any("bad" in t for t in texts(root, "threshold-label"))


def test_percentile_curve_draws_thresholds_horizontally_over_a_rising_curve() -> None:
    root = parse(percentile_curve_svg(samples(5000), thresholds=THRESHOLDS, title="GET /x"))

    lines = by_class(root, "line", "threshold")
    assert len(lines) == len(THRESHOLDS)
    for line in lines:
        assert line.get("y1") == line.get("y2")  # horizontal
        assert line.get("stroke-dasharray")
    labels = texts(root, "threshold-label")
    assert all(any(name in t for t in labels) for name in THRESHOLDS)
    (curve,) = by_class(root, "polyline", "curve")
    points = [tuple(map(float, p.split(","))) for p in curve.get("points").split()]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # latency rises with percentile
    assert x_tick_labels(root) == ["0", "25", "50", "75", "100"]


def test_the_curve_quotes_the_percentiles_a_check_would_report() -> None:
    # One percentile function (opscheck.measure.stats) for the sampler's figures and the charts:
    # p95 of [1, 2, 3, 4, 10] is at rank 3.8, 4 + 0.8 * 6 = 8.8; p99 at rank 3.96 is 9.76.
    data = [10.0, 1.0, 4.0, 2.0, 3.0]
    assert [percentile(sorted(data), q) for q in (0.5, 0.95, 0.99)] == pytest.approx([3.0, 8.8, 9.76])
    aria = parse(percentile_curve_svg(data)).get("aria-label")
    assert "p50 3 ms, p95 8.8 ms, p99 9.76 ms, max 10 ms" in aria


def test_the_charts_and_the_sampler_share_one_percentile_function() -> None:
    from opscheck.measure import sampler
    from opscheck.report.charts import latency

    assert sampler.percentile is percentile and latency.percentile is percentile


# -- text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chart", [latency_svg, percentile_curve_svg])
def test_title_is_escaped(chart) -> None:
    title = '<b>&"x"'
    svg = chart(samples(300), thresholds={'<i>budget</i> & "co"': 90}, title=title)
    root = parse(svg)

    assert "<b>" not in svg and "<i>" not in svg
    assert "&lt;b&gt;&amp;" in svg
    assert not list(root.iter(f"{NS}b")) and not list(root.iter(f"{NS}i"))
    assert texts(root, "title") == [title]
    assert title in root.get("aria-label")
    assert any('<i>budget</i> & "co"' in t for t in texts(root, "threshold-label"))


def test_characters_xml_cannot_hold_are_removed_and_long_titles_shortened() -> None:
    root = parse(latency_svg(samples(100), title="bell\x07 and nul\x00" + "x" * 500))
    (title,) = texts(root, "title")
    assert title.startswith("bell and nul")
    assert title.endswith("\u2026") and len(title) < 120


# -- empty and invalid input --------------------------------------------------------------------


@pytest.mark.parametrize("chart", [latency_svg, percentile_curve_svg])
def test_empty_input_gives_a_small_no_samples_svg(chart) -> None:
    svg = chart([], title="GET /idle")
    root = parse(svg)
    assert "no samples" in "".join(root.itertext())
    assert "no samples" in root.get("aria-label")
    assert len(svg) < 1000


@pytest.mark.parametrize("chart", [latency_svg, percentile_curve_svg])
def test_only_invalid_values_count_as_no_samples(chart) -> None:
    root = parse(chart([math.nan, math.inf, -math.inf, -1.0]))
    assert "no samples" in "".join(root.itertext())
    assert "4 invalid" in root.get("aria-label")


def test_nan_inf_and_negative_values_are_dropped_and_counted() -> None:
    root = parse(latency_svg([10.0, 12.0, math.nan, -5.0, math.inf, 11.0]))
    assert sum(bar_counts(root)) == 3
    assert "3 samples" in root.get("aria-label")
    assert "3 invalid values dropped" in root.get("aria-label")

    curve = parse(percentile_curve_svg([10.0, math.nan, 11.0]))
    assert "1 invalid value dropped" in curve.get("aria-label")


@pytest.mark.parametrize("values", [[42.0], [5.0] * 100, [0.0] * 10])
def test_degenerate_inputs_still_draw(values: list[float]) -> None:
    root = parse(latency_svg(values, percentiles={"p50": values[0]}))
    assert sum(bar_counts(root)) == len(values)
    assert 2 <= len(x_tick_labels(root)) <= 6
    parse(percentile_curve_svg(values))


# -- bins and axes --------------------------------------------------------------------------------


def test_long_tail_switches_to_labelled_log_bins() -> None:
    root = parse(latency_svg(LONG_TAIL, thresholds={"p99 budget": 1000}))

    (note,) = texts(root, "bins")
    assert "log" in note
    assert "log" in root.get("aria-label")
    assert "log scale" in "".join(root.itertext())
    assert sum(bar_counts(root)) == len(LONG_TAIL)
    ticks = [float(t.replace("k", "e3")) for t in x_tick_labels(root)]
    assert ticks[0] <= 20 and ticks[-1] >= 2000


def test_compact_data_keeps_linear_bins() -> None:
    root = parse(latency_svg(samples(1000)))
    assert texts(root, "bins") == ["linear bins"]


@pytest.mark.parametrize(
    "values",
    [
        samples(1000),
        LONG_TAIL,
        [0.2 + i / 1000 for i in range(300)],
        [200 + i % 10 for i in range(99)],
    ],
)
def test_x_axis_has_four_to_six_round_ticks(values: list[float]) -> None:
    labels = x_tick_labels(parse(latency_svg(values, thresholds={"budget": max(values) * 1.3})))
    assert 4 <= len(labels) <= 6
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?k?", label) for label in labels), labels


def test_at_most_sixty_bins_and_every_sample_counted() -> None:
    data = samples(100_000)
    counts = bar_counts(parse(latency_svg(data)))
    assert 0 < len(counts) <= MAX_BINS
    assert sum(counts) == len(data)


# -- size and determinism ------------------------------------------------------------------------


@pytest.mark.parametrize("chart", [latency_svg, percentile_curve_svg])
def test_output_for_100k_samples_stays_under_30_kb(chart) -> None:
    rng = random.Random(3)
    data = [rng.lognormvariate(3, 1.2) for _ in range(100_000)]
    svg = chart(data, thresholds=THRESHOLDS, title="GET /big")
    parse(svg)
    assert len(svg.encode()) < 30_000


def test_coordinates_are_rounded_to_one_decimal() -> None:
    root = parse(latency_svg(samples(5000), thresholds=THRESHOLDS, percentiles=PERCENTILES))
    curve = parse(percentile_curve_svg(samples(5000), thresholds=THRESHOLDS))
    for el in [*root.iter(), *curve.iter()]:
        for attr in COORD_ATTRS:
            value = el.get(attr) or ""
            assert not re.search(r"\d\.\d\d", value), (el.tag, attr, value)


@pytest.mark.parametrize("chart", [latency_svg, percentile_curve_svg])
def test_output_is_deterministic_and_independent_of_sample_order(chart) -> None:
    data = samples(3000)
    shuffled = data[:]
    random.Random(1).shuffle(shuffled)
    kwargs = {"thresholds": THRESHOLDS, "title": "GET /x"}
    first = chart(data, **kwargs)
    assert chart(list(data), **kwargs) == first
    assert chart(shuffled, **kwargs) == first


def test_safe_to_inline_many_times_in_one_page() -> None:
    svg = latency_svg(samples(500), thresholds=THRESHOLDS, percentiles=PERCENTILES)
    assert " id=" not in svg and "<style" not in svg and "href" not in svg


def test_too_small_a_chart_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        latency_svg(samples(10), width=100, height=50)
