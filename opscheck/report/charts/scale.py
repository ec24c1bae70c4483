"""Scales for the charts: round ticks (linear and log), axis maps, exact tick labels. Pure numbers.

Ticks are 1/2/5 x 10^k steps (2.5 x 10^k only when nothing else fits 4-6 ticks); values are
rounded to 10 significant digits (`clean_float`) so a label never shows float noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["axis_map", "clean_float", "linear_ticks", "log_ticks", "nice_step", "nice_ticks", "tick_labels"]


def nice_step(raw: float) -> float:
    """The 1/2/5 x 10^k step nearest to raw (in ratio)."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    steps = [m * 10.0**k for k in (exp, exp + 1) for m in (1.0, 2.0, 5.0)]
    return clean_float(min(steps, key=lambda step: abs(math.log(step / raw))))


def nice_ticks(lo: float, hi: float, integer: bool = False) -> list[float]:
    """Round ticks with ticks[0] <= lo and ticks[-1] >= hi: 4-6 of them (fewer only for tiny
    integer ranges), 1/2/5 x 10^k steps before 2.5 x 10^k ones, then the tightest axis."""
    if hi <= lo:
        hi = lo + (1.0 if lo == 0 else abs(lo) * 0.1)
    exp = math.floor(math.log10((hi - lo) / 6))
    options = []
    for k in range(exp - 1, exp + 3):
        for mant in (1.0, 2.0, 2.5, 5.0):
            step = clean_float(mant * 10.0**k)
            if integer and (step < 1 or step != int(step)):
                continue
            first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            count = last - first + 1
            miss = 0 if 4 <= count <= 6 else abs(count - 5)
            options.append(((miss, mant == 2.5, (last - first) * step, step), step, first, last))
    _, step, first, last = min(options)
    if last == first:
        last += 1
    return [clean_float(i * step) for i in range(first, last + 1)]


def linear_ticks(lo: float, hi: float) -> list[float]:
    """A 0-based axis, unless every value sits far from zero: then zoomed in, with a margin."""
    if hi <= lo:  # a single value: show it on a 0-based axis, clear of the right end
        return nice_ticks(0.0, hi * 1.25 if hi > 0 else 1.0)
    if lo <= hi / 2:
        return nice_ticks(0.0, hi)
    return nice_ticks(lo - (hi - lo) * 0.05, hi)


def log_ticks(lo: float, hi: float) -> list[float]:
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
            clean_float(m * 10.0**k)
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


def axis_map(lo: float, hi: float, a: float, b: float, log: bool) -> Callable[[float], float]:
    """Data value -> px: `lo` maps to `a`, `hi` to `b`, linearly or on log10 (where values below lo clamp to it)."""
    if log:
        llo, lhi = math.log10(lo), math.log10(hi)
        return lambda v: a + (math.log10(max(v, lo)) - llo) / (lhi - llo) * (b - a)
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)



def clean_float(v: float) -> float:
    """Strip float noise from tick and edge values (0.30000000000000004 -> 0.3)."""
    return float(f"{v:.10g}")



def tick_labels(ticks: list[float], log: bool = False) -> list[str]:
    """Exact labels for round ticks, big ones shortened: 10k, 2.5M. A linear axis uses one unit
    for all its ticks (0, 2.5k, 5k); a log axis picks one per tick (0.1, 1, 10, 100, 1000, 10k)."""

    def unit(v: float) -> tuple[float, str]:
        v = abs(v)
        return (1e6, "M") if v >= 1e6 else (1e3, "k") if v >= 1e4 else (1.0, "")

    common = unit(max(abs(t) for t in ticks))
    out = []
    for t in ticks:
        scale, suffix = unit(t) if log else common
        text = f"{clean_float(t / scale):.12f}".rstrip("0").rstrip(".")
        out.append((text if text not in ("", "-0") else "0") + (suffix if t else ""))
    return out

