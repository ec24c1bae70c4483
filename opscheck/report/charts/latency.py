"""Latency charts: a histogram with threshold and percentile marks, and the percentile curve.

Output size depends on the chart size and the number of marks, never on the number of samples.
Every percentile drawn or quoted comes from opscheck.measure.stats, the same function as the
figures in a check's message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from opscheck.measure.stats import percentile, percentiles
from opscheck.report.charts.scale import (
    axis_map,
    clean_float,
    linear_ticks,
    log_ticks,
    nice_step,
    nice_ticks,
    tick_labels,
)
from opscheck.report.charts.svg import (
    BAR,
    CURVE,
    FONT,
    ROW_H,
    Box,
    Frame,
    clean_samples,
    coord,
    dropped_note,
    empty_svg,
    fit_text,
    fmt_number,
    group_marks,
    label_group,
    mark_line,
    named_marks,
    place_label,
    text_width,
)

__all__ = ["LOG_SWITCH", "MAX_BINS", "latency_svg", "percentile_curve_svg"]

MAX_BINS = 60
LOG_SWITCH = 20.0  # max/median above this -> log-spaced bins, so a long tail stays readable


def latency_svg(
    latencies_ms: Sequence[float],
    *,
    thresholds: Mapping[str, float] = {},
    percentiles: Mapping[str, float] = {},
    title: str = "",
    width: int = 640,
    height: int = 220,
) -> str:
    """Histogram of latencies with threshold (red, dashed) and percentile (grey) marks.

    Bins are linear unless max/median > LOG_SWITCH, then log-spaced; the chart says which.
    NaN, infinite and negative samples are dropped and counted in the aria-label. Marks outside
    the data widen the x axis so they are always drawn; non-finite marks (and, on a log axis,
    non-positive ones) are left out.
    """
    values, dropped = clean_samples(latencies_ms)
    if not values:
        return empty_svg(title, dropped, width)
    n = len(values)
    median = percentile(values, 0.5)
    vmax = values[-1]
    log = median > 0 and vmax / median > LOG_SWITCH
    marks = named_marks(thresholds, "threshold", log) + named_marks(percentiles, "percentile", log)
    target = min(MAX_BINS, max(8, round(2 * n ** (1 / 3))))  # Rice rule, capped

    if log:
        lo_d = next(v for v in values if v > 0)
        edges = _log_edges(lo_d, vmax, target)
        lo_all = min([lo_d] + [m[1] for m in marks])
        hi_all = max([vmax] + [m[1] for m in marks])
        xticks = log_ticks(lo_all, hi_all)
        bins_note = f"log-spaced bins (max/median {fmt_number(vmax / median)}\u00d7)"
        x_title = "latency (ms, log scale)"
    else:
        lo_all = min([values[0]] + [m[1] for m in marks])
        hi_all = max([vmax] + [m[1] for m in marks])
        xticks = linear_ticks(lo_all, hi_all)
        # Bars no thinner than 1/120 of the axis, however narrow the data's own spread.
        edges = _linear_edges(values[0], vmax, target, (xticks[-1] - xticks[0]) / 120)
        bins_note = "linear bins"
        x_title = "latency (ms)"

    counts = _bin_counts(values, edges, log)
    yticks = nice_ticks(0, max(counts), integer=True)
    ch = Frame(width, height, tick_labels(yticks))
    xmap = axis_map(xticks[0], xticks[-1], ch.x0, ch.x1, log)
    ymap = axis_map(0, yticks[-1], ch.y1, ch.y0, False)

    out = ch.open(_aria_hist(title, n, dropped, bins_note, marks))
    out += ch.header(title, bins_note)
    out += ch.y_axis(yticks, ymap, "count")
    out += ch.x_axis(xticks, xmap, x_title, log)
    out.append(f'<g class="bars" fill="{BAR}">')
    for i, count in enumerate(counts):
        if not count:
            continue
        # The outer edges of round-width bins may poke past the axis ends by a fraction of a bin.
        xa, xb = max(xmap(edges[i]), ch.x0), min(xmap(edges[i + 1]), ch.x1)
        if xb - xa > 3:
            xb -= 1  # a hairline gap between wide bars
        top = min(ymap(count), ch.y1 - 2)  # a lone outlier still shows, as a 2 px bar
        tip = f"{fmt_number(edges[i])}\u2013{fmt_number(edges[i + 1])} ms: {count}"
        out.append(
            f'<rect x="{coord(xa)}" y="{coord(top)}" width="{coord(max(xb - xa, 0.6))}" '
            f'height="{coord(ch.y1 - top)}"><title>{escape(tip)}</title></rect>'
        )
    out.append("</g>")

    lines = [mark_line(k, xmap(v), ch.y0, xmap(v), ch.y1) for _, v, k in marks]
    avoid = [(xmap(v) - 1, ch.y0, xmap(v) + 1, ch.y1) for _, v, _ in marks]
    placed: list[Box] = []
    labels = []
    rows = [ch.y0 + FONT + row * ROW_H for row in range(ch.label_rows)]
    for kind, text, left, right in group_marks(marks, xmap):
        # Rows of labels down from the top, right of the line(s) before left of them; in the
        # upper half of the plot a spot crossing no other line wins over a higher one.
        candidates = [c for y in rows for c in ((right + 3, y, "start"), (left - 3, y, "end"))]
        labels.append(place_label(kind, text, candidates, placed, avoid, ch, len(rows)))
    out += lines + label_group(labels) + ["</svg>"]
    return "".join(out)


def percentile_curve_svg(
    latencies_ms: Sequence[float],
    *,
    thresholds: Mapping[str, float] = {},
    title: str = "",
    width: int = 640,
    height: int = 220,
) -> str:
    """Latency (y, ms) against percentile (x, 0-100 %), with thresholds as horizontal lines."""
    values, dropped = clean_samples(latencies_ms)
    if not values:
        return empty_svg(title, dropped, width)
    n = len(values)
    marks = named_marks(thresholds, "threshold", False)
    lo_all = min([values[0]] + [m[1] for m in marks])
    hi_all = max([values[-1]] + [m[1] for m in marks])
    yticks = linear_ticks(lo_all, hi_all)
    xticks = [0.0, 25.0, 50.0, 75.0, 100.0]
    ch = Frame(width, height, tick_labels(yticks))
    xmap = axis_map(0, 100, ch.x0, ch.x1, False)
    ymap = axis_map(yticks[0], yticks[-1], ch.y1, ch.y0, False)

    out = ch.open(_aria_curve(title, values, dropped, marks))
    out += ch.header(title, "")
    out += ch.y_axis(yticks, ymap, "ms")
    out += ch.x_axis(xticks, xmap, "percentile (%)")

    m = max(2, min(n, int(ch.x1 - ch.x0)))  # about one point per pixel column, at most
    ps = [i / (m - 1) for i in range(m)]
    points: list[str] = []
    for p, latency in zip(ps, percentiles(values, ps)):
        point = f"{coord(xmap(100 * p))},{coord(ymap(latency))}"
        if not points or points[-1] != point:
            points.append(point)
    out.append(
        f'<polyline class="curve" fill="none" stroke="{CURVE}" stroke-width="1.8" '
        f'stroke-linejoin="round" points="{" ".join(points)}"/>'
    )

    lines = [mark_line(k, ch.x0, ymap(v), ch.x1, ymap(v)) for _, v, k in marks]
    avoid = [(ch.x0, ymap(v) - 1, ch.x1, ymap(v) + 1) for _, v, _ in marks]
    placed: list[Box] = []
    labels = []
    for kind, text, top, bottom in group_marks(marks, ymap):
        tw = text_width(text)
        candidates = []
        for col in range(4):  # right end first, then shifted left; above the line before below
            x = ch.x1 - 4 - col * (tw + 12)
            candidates += [(x, top - 4, "end"), (x, bottom + FONT + 2, "end")]
        labels.append(place_label(kind, text, candidates, placed, avoid, ch, len(candidates)))
    out += lines + label_group(labels) + ["</svg>"]
    return "".join(out)



def _linear_edges(lo: float, hi: float, target: int, min_width: float) -> list[float]:
    """Round-width bin edges covering [lo, hi], at most MAX_BINS bins."""
    width = nice_step(max((hi - lo) / target, min_width))
    while True:
        start = math.floor(lo / width) * width
        nbins = int((hi - start) / width) + 1
        if nbins <= MAX_BINS:
            return [clean_float(start + i * width) for i in range(nbins + 1)]
        width = nice_step(width * 2.1)  # the next round width up


def _log_edges(lo: float, hi: float, nbins: int) -> list[float]:
    """Geometric edges with lo and hi at the centres of the first and last bins."""
    step = (math.log10(hi) - math.log10(lo)) / (nbins - 1)
    base = math.log10(lo) - step / 2
    return [10 ** (base + i * step) for i in range(nbins + 1)]


def _bin_counts(values: list[float], edges: list[float], log: bool) -> list[int]:
    nbins = len(edges) - 1
    counts = [0] * nbins
    if log:
        base, step = math.log10(edges[0]), (math.log10(edges[-1]) - math.log10(edges[0])) / nbins
        for v in values:
            i = int((math.log10(v) - base) / step) if v > 0 else 0
            counts[min(max(i, 0), nbins - 1)] += 1
    else:
        start, width = edges[0], edges[1] - edges[0]
        for v in values:
            counts[min(max(int((v - start) / width), 0), nbins - 1)] += 1
    return counts



def _aria_hist(
    title: str, n: int, dropped: int, bins: str, marks: list[tuple[str, float, str]]
) -> str:
    parts = [f"Latency histogram{': ' + fit_text(title, 200) if title else ''}", f"{n} samples", bins]
    for kind, label in (("percentile", "percentiles"), ("threshold", "thresholds")):
        listed = [f"{name} {fmt_number(v)} ms" for name, v, k in marks if k == kind]
        if listed:
            parts.append(f"{label}: {', '.join(listed)}")
    if dropped:
        parts.append(dropped_note(dropped))
    return "; ".join(parts)


def _aria_curve(
    title: str, values: list[float], dropped: int, marks: list[tuple[str, float, str]]
) -> str:
    qs = (50, 95, 99)
    p = [f"p{q} {fmt_number(v)} ms" for q, v in zip(qs, percentiles(values, [q / 100 for q in qs]))]
    parts = [
        f"Latency percentile curve{': ' + fit_text(title, 200) if title else ''}",
        f"{len(values)} samples",
        ", ".join(p + [f"max {fmt_number(values[-1])} ms"]),
    ]
    if marks:
        parts.append("thresholds: " + ", ".join(f"{name} {fmt_number(v)} ms" for name, v, _ in marks))
    if dropped:
        parts.append(dropped_note(dropped))
    return "; ".join(parts)

