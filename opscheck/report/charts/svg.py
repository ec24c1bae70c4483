"""SVG primitives shared by every chart of the HTML report: frame, axes, marks, labels, text.

Each chart is one self-contained `<svg>` string with presentation attributes only (no ids, no
`<style>`, no external fonts or links), so any number of them can be inlined in one offline
pytest-html report without interfering with each other. Coordinates are written with one
decimal (`coord`), so the same input always gives the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from html import escape
from itertools import groupby

from opscheck.report.charts.scale import tick_labels

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


class Frame:
    """Margins and the pieces every chart shares (frame, header, axes); ValueError below 160x100 px."""

    def __init__(self, width: int, height: int, ytick_labels: list[str]) -> None:
        if width < 160 or height < 100:
            raise ValueError(f"chart too small: {width}x{height} (minimum 160x100)")
        self.width, self.height = width, height
        self.x0 = 24 + max(text_width(t) for t in ytick_labels) + 6
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
        if text_width(note) > self.width / 2:  # narrow chart: "log-spaced bins (...)" -> "log bins"
            note = note.split("-", 1)[0] + " bins"
        room = self.width - 20 - (text_width(note) + 16 if note else 0)
        title = fit_text(title, room / (CHAR_W * 1.15))  # bold 12 px glyphs are wider
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
        grid = "".join(f"M{coord(self.x0)} {coord(ymap(t))}H{coord(self.x1)}" for t in ticks[1:])
        out = [f'<path class="grid" d="{grid}" stroke="{GRID}" fill="none"/>'] if grid else []
        out.append(f'<g class="y-ticks" fill="{MUTED}" text-anchor="end">')
        out += [
            f'<text x="{coord(self.x0 - 5)}" y="{coord(ymap(t) + 4)}">{label}</text>'
            for t, label in zip(ticks, tick_labels(ticks))
        ]
        yc = (self.y0 + self.y1) / 2
        out.append(
            f'<text x="12" y="{coord(yc)}" text-anchor="middle" '
            f'transform="rotate(-90 12 {coord(yc)})">{escape(name)}</text></g>'
        )
        return out

    def x_axis(
        self, ticks: list[float], xmap: Callable[[float], float], name: str, log: bool = False
    ) -> list[str]:
        marks = "".join(f"M{coord(xmap(t))} {coord(self.y1)}v4" for t in ticks)
        axis = f"M{coord(self.x0)} {coord(self.y1)}H{coord(self.x1)}{marks}"
        out = [
            f'<path class="axis" d="{axis}" stroke="#444" fill="none"/>',
            f'<g class="x-ticks" fill="{MUTED}" text-anchor="middle">',
        ]
        for t, label in zip(ticks, tick_labels(ticks, log)):
            half = text_width(label) / 2
            x = min(max(xmap(t), half + 2), self.width - half - 2)  # end labels stay inside
            out.append(f'<text x="{coord(x)}" y="{coord(self.y1 + 16)}">{label}</text>')
        out.append(
            f'<text x="{coord((self.x0 + self.x1) / 2)}" y="{coord(self.height - 5)}">'
            f"{escape(name)}</text></g>"
        )
        return out


def mark_line(kind: str, xa: float, ya: float, xb: float, yb: float) -> str:
    """A threshold (red, dashed) or percentile (grey) line from (xa, ya) to (xb, yb), in px."""
    style = (
        f'stroke="{THRESHOLD}" stroke-width="1.6" stroke-dasharray="6 4"'
        if kind == "threshold"
        else f'stroke="{PERCENTILE}" stroke-width="1.2"'
    )
    return f'<line class="{kind}" x1="{coord(xa)}" y1="{coord(ya)}" x2="{coord(xb)}" y2="{coord(yb)}" {style}/>'


def group_marks(
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
                f"{'/'.join(name for name, _ in same)} {fmt_number(value)}"
                for value, same in ((v, list(g)) for v, g in groupby(cluster, key=lambda m: m[1]))
            ]
            ends = sorted((pos(cluster[0][1]), pos(cluster[-1][1])))
            out.append((kind, ", ".join(parts) + " ms", ends[0], ends[1]))
    return sorted(out, key=lambda g: (g[2], g[0] == "threshold", g[1]))


def place_label(
    kind: str,
    text: str,
    candidates: list[tuple[float, float, str]],
    placed: list[Box],
    avoid: list[Box],
    ch: Frame,
    preferred: int,
) -> str:
    """Pick a spot (x, baseline y, anchor) for a label, in this order of preference: among the
    first `preferred` candidates one that hits no earlier label and crosses no mark line; any
    that hits no earlier label; the one overlapping earlier labels least. Spots must fit."""
    tw = text_width(text)

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
        f'<text class="{kind}-label" x="{coord(x)}" y="{coord(y)}" fill="{color}"{align}>'
        f"{escape(text)}</text>"
    )


def label_group(labels: list[str]) -> list[str]:
    """The placed labels in one group with a white halo; [] when there are none."""
    if not labels:
        return []
    # A white halo under each label keeps it legible over bars, grid and lines.
    halo = 'stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
    return [f"<g {halo}>", *labels, "</g>"]


def _hits(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def text_width(text: str) -> float:
    """Estimated width of `text` in px at FONT size, for layout only (no font metrics offline)."""
    return len(text) * CHAR_W


def empty_svg(title: str, dropped: int, width: int) -> str:
    """A 40 px high chart that says "no samples" (and how many invalid values were dropped)."""
    width = max(160, width)
    note = "no samples" + (f" ({dropped_note(dropped, why=False)})" if dropped else "")
    title = fit_text(title, (width - 20) / CHAR_W - len(note) - 3)
    text = f"{title}: {note}" if title else note
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" '
        f'viewBox="0 0 {width} 40" role="img" aria-label="{escape(text)}" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="39" fill="#fff" stroke="#ccc"/>'
        f'<text class="empty" x="10" y="24" fill="{MUTED}">{escape(text)}</text></svg>'
    )



def clean_samples(latencies_ms: Sequence[float]) -> tuple[list[float], int]:
    """Finite, non-negative samples, sorted; and how many were dropped."""
    values = []
    for raw in latencies_ms:
        v = float(raw)
        if math.isfinite(v) and v >= 0:
            values.append(v)
    values.sort()
    return values, len(latencies_ms) - len(values)


def named_marks(named: Mapping[str, float], kind: str, log: bool) -> list[tuple[str, float, str]]:
    """(name, value, kind) for each drawable mark: finite, non-negative, and positive on a log axis."""
    out = []
    for name, raw in named.items():
        v = float(raw)
        if math.isfinite(v) and v >= 0 and (v > 0 or not log):
            out.append((fit_text(str(name), 40), v, kind))
    return out



def dropped_note(count: int, why: bool = True) -> str:
    """"3 invalid values dropped", with the reason when `why`."""
    text = f"{count} invalid value{'s' if count != 1 else ''} dropped"
    return text + " (NaN, infinite or negative)" if why else text


def fit_text(text: str, max_chars: float) -> str:
    """XML-safe single line, cut with an ellipsis to at most max_chars characters."""
    text = " ".join(_XML_INVALID.sub("", text).split())
    limit = max(int(max_chars), 0)
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "\u2026" if limit else ""



def coord(v: float) -> str:
    """A coordinate: one decimal, no trailing .0, no -0."""
    s = f"{v:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s



def fmt_number(v: float) -> str:
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
