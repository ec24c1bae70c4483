"""Inline SVG latency charts for the HTML report: stdlib only, deterministic, bounded in size.

Each chart is one self-contained `<svg>` string with presentation attributes only (no ids, no
`<style>`, no external fonts or links), so any number of them can be inlined in one offline
pytest-html report without interfering with each other. Output size depends on the chart size
and the number of marks, never on the number of samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from html import escape
from itertools import groupby

__all__ = ["latency_svg", "percentile_curve_svg"]

MAX_BINS = 60
LOG_SWITCH = 20.0  # max/median above this -> log-spaced bins, so a long tail stays readable
CLUSTER_PX = 8  # marks of one kind closer than this share a label

FONT = 11  # px, labels and ticks
CHAR_W = 6.4  # estimated average glyph width at FONT px (sans-serif), for layout only
ROW_H = 13  # px between stacked label rows
BAR = "#4e79a7"
CURVE = "#4e79a7"
THRESHOLD = "#d62728"
PERCENTILE = "#4d4d4d"
GRID = "#e6e6e6"
MUTED = "#666"

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


# -- public API --------------------------------------------------------------------------------


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
    values, dropped = _clean(latencies_ms)
    if not values:
        return _empty_svg(title, dropped, width)
    n = len(values)
    median = _quantile(values, 0.5)
    vmax = values[-1]
    log = median > 0 and vmax / median > LOG_SWITCH
    marks = _marks(thresholds, "threshold", log) + _marks(percentiles, "percentile", log)
    target = min(MAX_BINS, max(8, round(2 * n ** (1 / 3))))  # Rice rule, capped

    if log:
        lo_d = next(v for v in values if v > 0)
        edges = _log_edges(lo_d, vmax, target)
        lo_all = min([lo_d] + [m[1] for m in marks])
        hi_all = max([vmax] + [m[1] for m in marks])
        xticks = _log_ticks(lo_all, hi_all)
        bins_note = f"log-spaced bins (max/median {_num(vmax / median)}\u00d7)"
        x_title = "latency (ms, log scale)"
    else:
        lo_all = min([values[0]] + [m[1] for m in marks])
        hi_all = max([vmax] + [m[1] for m in marks])
        xticks = _linear_ticks(lo_all, hi_all)
        # Bars no thinner than 1/120 of the axis, however narrow the data's own spread.
        edges = _linear_edges(values[0], vmax, target, (xticks[-1] - xticks[0]) / 120)
        bins_note = "linear bins"
        x_title = "latency (ms)"

    counts = _bin_counts(values, edges, log)
    yticks = _nice_ticks(0, max(counts), integer=True)
    ch = _Chart(width, height, _tick_labels(yticks))
    xmap = _axis_map(xticks[0], xticks[-1], ch.x0, ch.x1, log)
    ymap = _axis_map(0, yticks[-1], ch.y1, ch.y0, False)

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
        tip = f"{_num(edges[i])}\u2013{_num(edges[i + 1])} ms: {count}"
        out.append(
            f'<rect x="{_c(xa)}" y="{_c(top)}" width="{_c(max(xb - xa, 0.6))}" '
            f'height="{_c(ch.y1 - top)}"><title>{escape(tip)}</title></rect>'
        )
    out.append("</g>")

    lines = [_mark_line(k, xmap(v), ch.y0, xmap(v), ch.y1) for _, v, k in marks]
    avoid = [(xmap(v) - 1, ch.y0, xmap(v) + 1, ch.y1) for _, v, _ in marks]
    placed: list[Box] = []
    labels = []
    rows = [ch.y0 + FONT + row * ROW_H for row in range(ch.label_rows)]
    for kind, text, left, right in _group_marks(marks, xmap):
        # Rows of labels down from the top, right of the line(s) before left of them; in the
        # upper half of the plot a spot crossing no other line wins over a higher one.
        candidates = [c for y in rows for c in ((right + 3, y, "start"), (left - 3, y, "end"))]
        labels.append(_place_label(kind, text, candidates, placed, avoid, ch, len(rows)))
    out += lines + _label_group(labels) + ["</svg>"]
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
    values, dropped = _clean(latencies_ms)
    if not values:
        return _empty_svg(title, dropped, width)
    n = len(values)
    marks = _marks(thresholds, "threshold", False)
    lo_all = min([values[0]] + [m[1] for m in marks])
    hi_all = max([values[-1]] + [m[1] for m in marks])
    yticks = _linear_ticks(lo_all, hi_all)
    xticks = [0.0, 25.0, 50.0, 75.0, 100.0]
    ch = _Chart(width, height, _tick_labels(yticks))
    xmap = _axis_map(0, 100, ch.x0, ch.x1, False)
    ymap = _axis_map(yticks[0], yticks[-1], ch.y1, ch.y0, False)

    out = ch.open(_aria_curve(title, values, dropped, marks))
    out += ch.header(title, "")
    out += ch.y_axis(yticks, ymap, "ms")
    out += ch.x_axis(xticks, xmap, "percentile (%)")

    m = max(2, min(n, int(ch.x1 - ch.x0)))  # about one point per pixel column, at most
    points: list[str] = []
    for i in range(m):
        p = i / (m - 1)
        point = f"{_c(xmap(100 * p))},{_c(ymap(_quantile(values, p)))}"
        if not points or points[-1] != point:
            points.append(point)
    out.append(
        f'<polyline class="curve" fill="none" stroke="{CURVE}" stroke-width="1.8" '
        f'stroke-linejoin="round" points="{" ".join(points)}"/>'
    )

    lines = [_mark_line(k, ch.x0, ymap(v), ch.x1, ymap(v)) for _, v, k in marks]
    avoid = [(ch.x0, ymap(v) - 1, ch.x1, ymap(v) + 1) for _, v, _ in marks]
    placed: list[Box] = []
    labels = []
    for kind, text, top, bottom in _group_marks(marks, ymap):
        tw = _text_w(text)
        candidates = []
        for col in range(4):  # right end first, then shifted left; above the line before below
            x = ch.x1 - 4 - col * (tw + 12)
            candidates += [(x, top - 4, "end"), (x, bottom + FONT + 2, "end")]
        labels.append(_place_label(kind, text, candidates, placed, avoid, ch, len(candidates)))
    out += lines + _label_group(labels) + ["</svg>"]
    return "".join(out)


# -- layout ------------------------------------------------------------------------------------


class _Chart:
    """Margins and the shared pieces of both charts (frame, header, axes)."""

    def __init__(self, width: int, height: int, ytick_labels: list[str]) -> None:
        if width < 160 or height < 100:
            raise ValueError(f"chart too small: {width}x{height} (minimum 160x100)")
        self.width, self.height = width, height
        self.x0 = 24 + max(_text_w(t) for t in ytick_labels) + 6
        self.x1 = width - 14.0
        self.y0, self.y1 = 30.0, height - 36.0
        self.label_rows = max(1, int((self.y1 - self.y0 - 4) // ROW_H))

    def open(self, aria: str) -> list[str]:
        w, h = self.width, self.height
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{escape(aria)}" '
            f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">'
        )
        return [svg, f'<rect width="{w}" height="{h}" fill="#fff"/>']

    def header(self, title: str, note: str) -> list[str]:
        out = []
        if _text_w(note) > self.width / 2:  # narrow chart: "log-spaced bins (...)" -> "log bins"
            note = note.split("-", 1)[0] + " bins"
        room = self.width - 20 - (_text_w(note) + 16 if note else 0)
        title = _fit(title, room / (CHAR_W * 1.15))  # bold 12 px glyphs are wider
        if title:
            out.append(
                f'<text class="title" x="10" y="17" font-size="12" font-weight="bold" '
                f'fill="#222">{escape(title)}</text>'
            )
        if note:
            out.append(
                f'<text class="bins" x="{self.width - 10}" y="17" text-anchor="end" '
                f'fill="{MUTED}">{escape(note)}</text>'
            )
        return out

    def y_axis(self, ticks: list[float], ymap: Callable[[float], float], name: str) -> list[str]:
        grid = "".join(f"M{_c(self.x0)} {_c(ymap(t))}H{_c(self.x1)}" for t in ticks[1:])
        out = [f'<path class="grid" d="{grid}" stroke="{GRID}" fill="none"/>'] if grid else []
        out.append(f'<g class="y-ticks" fill="{MUTED}" text-anchor="end">')
        out += [
            f'<text x="{_c(self.x0 - 5)}" y="{_c(ymap(t) + 4)}">{label}</text>'
            for t, label in zip(ticks, _tick_labels(ticks))
        ]
        yc = (self.y0 + self.y1) / 2
        out.append(
            f'<text x="12" y="{_c(yc)}" text-anchor="middle" '
            f'transform="rotate(-90 12 {_c(yc)})">{escape(name)}</text></g>'
        )
        return out

    def x_axis(
        self, ticks: list[float], xmap: Callable[[float], float], name: str, log: bool = False
    ) -> list[str]:
        marks = "".join(f"M{_c(xmap(t))} {_c(self.y1)}v4" for t in ticks)
        axis = f"M{_c(self.x0)} {_c(self.y1)}H{_c(self.x1)}{marks}"
        out = [
            f'<path class="axis" d="{axis}" stroke="#444" fill="none"/>',
            f'<g class="x-ticks" fill="{MUTED}" text-anchor="middle">',
        ]
        for t, label in zip(ticks, _tick_labels(ticks, log)):
            half = _text_w(label) / 2
            x = min(max(xmap(t), half + 2), self.width - half - 2)  # end labels stay inside
            out.append(f'<text x="{_c(x)}" y="{_c(self.y1 + 16)}">{label}</text>')
        out.append(
            f'<text x="{_c((self.x0 + self.x1) / 2)}" y="{_c(self.height - 5)}">'
            f"{escape(name)}</text></g>"
        )
        return out


def _mark_line(kind: str, xa: float, ya: float, xb: float, yb: float) -> str:
    style = (
        f'stroke="{THRESHOLD}" stroke-width="1.6" stroke-dasharray="6 4"'
        if kind == "threshold"
        else f'stroke="{PERCENTILE}" stroke-width="1.2"'
    )
    return f'<line class="{kind}" x1="{_c(xa)}" y1="{_c(ya)}" x2="{_c(xb)}" y2="{_c(yb)}" {style}/>'


def _group_marks(
    marks: list[tuple[str, float, str]], pos: Callable[[float], float]
) -> list[tuple[str, str, float, float]]:
    """Marks of one kind within CLUSTER_PX of each other share one label.

    "p50/p95/p99 20 ms" for equal values, "a 101, b 103 ms" for near ones. Returns
    (kind, label, lowest position, highest position) per cluster, in position order.
    """
    out = []
    for kind in ("percentile", "threshold"):
        ordered = sorted((m for m in marks if m[2] == kind), key=lambda m: m[1])
        clusters: list[list[tuple[str, float]]] = []
        for name, value, _ in ordered:
            if clusters and abs(pos(value) - pos(clusters[-1][-1][1])) <= CLUSTER_PX:
                clusters[-1].append((name, value))
            else:
                clusters.append([(name, value)])
        for cluster in clusters:
            parts = [
                f"{'/'.join(name for name, _ in same)} {_num(value)}"
                for value, same in ((v, list(g)) for v, g in groupby(cluster, key=lambda m: m[1]))
            ]
            ends = sorted((pos(cluster[0][1]), pos(cluster[-1][1])))
            out.append((kind, ", ".join(parts) + " ms", ends[0], ends[1]))
    return sorted(out, key=lambda g: (g[2], g[0] == "threshold", g[1]))


def _place_label(
    kind: str,
    text: str,
    candidates: list[tuple[float, float, str]],
    placed: list[Box],
    avoid: list[Box],
    ch: _Chart,
    preferred: int,
) -> str:
    """Pick a spot (x, baseline y, anchor) for a label, in this order of preference: among the
    first `preferred` candidates one that hits no earlier label and crosses no mark line; any
    that hits no earlier label; the one overlapping earlier labels least. Spots must fit."""
    tw = _text_w(text)

    def box_of(c: tuple[float, float, str]) -> Box:
        x, y, anchor = c
        x0 = x if anchor == "start" else x - tw
        return (x0 - 2, y - FONT + 1, x0 + tw + 2, y + 3)

    def fits(b: Box) -> bool:
        return b[0] >= ch.x0 - 2 and b[2] <= ch.width - 2 and ch.y0 - 8 <= b[1] <= b[3] <= ch.y1

    def overlap(b: Box) -> float:
        return sum(
            max(0.0, min(b[2], o[2]) - max(b[0], o[0]))
            * max(0.0, min(b[3], o[3]) - max(b[1], o[1]))
            for o in placed
        )

    fitting = [c for c in candidates if fits(box_of(c))] or candidates[:1]
    chosen = next(
        (c for c in fitting[:preferred] if not any(_hits(box_of(c), o) for o in placed + avoid)),
        None,
    ) or min(fitting, key=lambda c: overlap(box_of(c)))  # min() keeps the first of equals
    placed.append(box_of(chosen))
    x, y, anchor = chosen
    color = THRESHOLD if kind == "threshold" else PERCENTILE
    align = "" if anchor == "start" else ' text-anchor="end"'
    return (
        f'<text class="{kind}-label" x="{_c(x)}" y="{_c(y)}" fill="{color}"{align}>'
        f"{escape(text)}</text>"
    )


def _label_group(labels: list[str]) -> list[str]:
    if not labels:
        return []
    # A white halo under each label keeps it legible over bars, grid and lines.
    halo = 'stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
    return [f"<g {halo}>", *labels, "</g>"]


def _hits(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _text_w(text: str) -> float:
    return len(text) * CHAR_W


def _empty_svg(title: str, dropped: int, width: int) -> str:
    width = max(160, width)
    note = "no samples" + (f" ({_dropped(dropped, why=False)})" if dropped else "")
    title = _fit(title, (width - 20) / CHAR_W - len(note) - 3)
    text = f"{title}: {note}" if title else note
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" '
        f'viewBox="0 0 {width} 40" role="img" aria-label="{escape(text)}" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="39" fill="#fff" stroke="#ccc"/>'
        f'<text class="empty" x="10" y="24" fill="{MUTED}">{escape(text)}</text></svg>'
    )


# -- data --------------------------------------------------------------------------------------


def _clean(latencies_ms: Sequence[float]) -> tuple[list[float], int]:
    """Finite, non-negative samples, sorted; and how many were dropped."""
    values = []
    for raw in latencies_ms:
        v = float(raw)
        if math.isfinite(v) and v >= 0:
            values.append(v)
    values.sort()
    return values, len(latencies_ms) - len(values)


def _marks(named: Mapping[str, float], kind: str, log: bool) -> list[tuple[str, float, str]]:
    out = []
    for name, raw in named.items():
        v = float(raw)
        if math.isfinite(v) and v >= 0 and (v > 0 or not log):
            out.append((_fit(str(name), 40), v, kind))
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted data."""
    pos = q * (len(ordered) - 1)
    i = int(pos)
    if i >= len(ordered) - 1:
        return ordered[-1]
    return ordered[i] + (ordered[i + 1] - ordered[i]) * (pos - i)


def _linear_edges(lo: float, hi: float, target: int, min_width: float) -> list[float]:
    """Round-width bin edges covering [lo, hi], at most MAX_BINS bins."""
    width = _nice_step(max((hi - lo) / target, min_width))
    while True:
        start = math.floor(lo / width) * width
        nbins = int((hi - start) / width) + 1
        if nbins <= MAX_BINS:
            return [_r(start + i * width) for i in range(nbins + 1)]
        width = _nice_step(width * 2.1)  # the next round width up


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


# -- scales and ticks --------------------------------------------------------------------------


def _nice_step(raw: float) -> float:
    """The 1/2/5 x 10^k step nearest to raw (in ratio)."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    steps = [m * 10.0**k for k in (exp, exp + 1) for m in (1.0, 2.0, 5.0)]
    return _r(min(steps, key=lambda step: abs(math.log(step / raw))))


def _nice_ticks(lo: float, hi: float, integer: bool = False) -> list[float]:
    """Round ticks with ticks[0] <= lo and ticks[-1] >= hi: 4-6 of them (fewer only for tiny
    integer ranges), 1/2/5 x 10^k steps before 2.5 x 10^k ones, then the tightest axis."""
    if hi <= lo:
        hi = lo + (1.0 if lo == 0 else abs(lo) * 0.1)
    exp = math.floor(math.log10((hi - lo) / 6))
    options = []
    for k in range(exp - 1, exp + 3):
        for mant in (1.0, 2.0, 2.5, 5.0):
            step = _r(mant * 10.0**k)
            if integer and (step < 1 or step != int(step)):
                continue
            first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            count = last - first + 1
            miss = 0 if 4 <= count <= 6 else abs(count - 5)
            options.append(((miss, mant == 2.5, (last - first) * step, step), step, first, last))
    _, step, first, last = min(options)
    if last == first:
        last += 1
    return [_r(i * step) for i in range(first, last + 1)]


def _linear_ticks(lo: float, hi: float) -> list[float]:
    """A 0-based axis, unless every value sits far from zero: then zoomed in, with a margin."""
    if hi <= lo:  # a single value: show it on a 0-based axis, clear of the right end
        return _nice_ticks(0.0, hi * 1.25 if hi > 0 else 1.0)
    if lo <= hi / 2:
        return _nice_ticks(0.0, hi)
    return _nice_ticks(lo - (hi - lo) * 0.05, hi)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """4-6 round ticks on a log axis: decades, or 1-3 / 1-2-5 within them, or every 2nd decade."""
    options: list[list[float]] = []
    for mants, every in (
        ((1.0,), 1),
        ((1.0, 3.0), 1),
        ((1.0, 2.0, 5.0), 1),
        ((1.0,), 2),
        ((1.0,), 3),
    ):
        candidates = [
            _r(m * 10.0**k)
            for k in range(math.floor(math.log10(lo)) - 3, math.ceil(math.log10(hi)) + 4)
            if k % every == 0
            for m in mants
        ]
        below = [t for t in candidates if t <= lo * (1 + 1e-9)]
        above = [t for t in candidates if t >= hi * (1 - 1e-9)]
        if below and above:
            options.append([t for t in candidates if below[-1] <= t <= above[0]])

    def cost(ticks: list[float]) -> tuple[int, float]:
        miss = 0 if 4 <= len(ticks) <= 6 else abs(len(ticks) - 5)
        return miss, math.log10(ticks[-1] / ticks[0])  # then the tightest axis

    return min(options, key=cost)


def _axis_map(lo: float, hi: float, a: float, b: float, log: bool) -> Callable[[float], float]:
    if log:
        llo, lhi = math.log10(lo), math.log10(hi)
        return lambda v: a + (math.log10(max(v, lo)) - llo) / (lhi - llo) * (b - a)
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)


# -- text and numbers --------------------------------------------------------------------------


def _aria_hist(
    title: str, n: int, dropped: int, bins: str, marks: list[tuple[str, float, str]]
) -> str:
    parts = [f"Latency histogram{': ' + _fit(title, 200) if title else ''}", f"{n} samples", bins]
    for kind, label in (("percentile", "percentiles"), ("threshold", "thresholds")):
        listed = [f"{name} {_num(v)} ms" for name, v, k in marks if k == kind]
        if listed:
            parts.append(f"{label}: {', '.join(listed)}")
    if dropped:
        parts.append(_dropped(dropped))
    return "; ".join(parts)


def _aria_curve(
    title: str, values: list[float], dropped: int, marks: list[tuple[str, float, str]]
) -> str:
    p = [f"p{q} {_num(_quantile(values, q / 100))} ms" for q in (50, 95, 99)]
    parts = [
        f"Latency percentile curve{': ' + _fit(title, 200) if title else ''}",
        f"{len(values)} samples",
        ", ".join(p + [f"max {_num(values[-1])} ms"]),
    ]
    if marks:
        parts.append("thresholds: " + ", ".join(f"{name} {_num(v)} ms" for name, v, _ in marks))
    if dropped:
        parts.append(_dropped(dropped))
    return "; ".join(parts)


def _dropped(count: int, why: bool = True) -> str:
    text = f"{count} invalid value{'s' if count != 1 else ''} dropped"
    return text + " (NaN, infinite or negative)" if why else text


def _fit(text: str, max_chars: float) -> str:
    """XML-safe single line, cut with an ellipsis to at most max_chars characters."""
    text = " ".join(_XML_INVALID.sub("", text).split())
    limit = max(int(max_chars), 0)
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "\u2026" if limit else ""


def _r(v: float) -> float:
    """Strip float noise from tick and edge values (0.30000000000000004 -> 0.3)."""
    return float(f"{v:.10g}")


def _c(v: float) -> str:
    """A coordinate: one decimal, no trailing .0, no -0."""
    s = f"{v:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s


def _tick_labels(ticks: list[float], log: bool = False) -> list[str]:
    """Exact labels for round ticks, big ones shortened: 10k, 2.5M. A linear axis uses one unit
    for all its ticks (0, 2.5k, 5k); a log axis picks one per tick (0.1, 1, 10, 100, 1000, 10k)."""

    def unit(v: float) -> tuple[float, str]:
        v = abs(v)
        return (1e6, "M") if v >= 1e6 else (1e3, "k") if v >= 1e4 else (1.0, "")

    common = unit(max(abs(t) for t in ticks))
    out = []
    for t in ticks:
        scale, suffix = unit(t) if log else common
        text = f"{_r(t / scale):.12f}".rstrip("0").rstrip(".")
        out.append((text if text not in ("", "-0") else "0") + (suffix if t else ""))
    return out


def _num(v: float) -> str:
    """A value for people: about three significant digits, never an exponent."""
    a = abs(v)
    if a >= 100 or v == int(v):
        s = f"{v:.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3g}" if a >= 1e-4 else f"{v:.6f}"
    if "." in s and "e" not in s:
        s = s.rstrip("0").rstrip(".")
    return s
