"""Declared accounting: how stored check runs become uptime, attainment, error budget and burn rate.

Every stored check run falls in exactly one class (`classify`):

    maintenance  the run was made inside a maintenance window: counted apart, spends no budget
    unknown      the run could not measure: outcome `skipped`, or a reason in UNKNOWN_REASONS
                 (`no_data`: nothing to measure; `runner`: the runner was overloaded; `error`:
                 the check itself crashed). Never up, never down.
    good         passed, degraded or flaky: the service answered within its bounds
    bad          failed for any other reason (status, connect, timeout, latency ...)

A runner that could not run at all stores no row: the runs method simply has fewer runs, and the
timeslices method counts its slices as without data. Neither ever counts as up.

Methods (OpenSLO budgeting methods, https://github.com/OpenSLO/OpenSLO#slo):
- `runs` (OpenSLO `occurrences`): good / (good + bad) over the window's runs.
- `timeslices`: the window is cut into slices of `timeslice_s` aligned on the Unix epoch; a slice
  with at least one good or bad run is good when good / (good + bad) >= timeslice_target %;
  uptime is good slices / slices with data.
With no good or bad run (or slice) in a window the figure is None ("no data"), never 100 %.

Error budget and burn rate (Google SRE workbook, "Alerting on SLOs", multiwindow multi-burn-rate):
    allowed   = 1 - target / 100                     (e.g. 99.9 -> 0.001)
    error     = 1 - attainment                      (over the objective's window)
    remaining = 1 - error / allowed                 (1 = untouched, 0 = spent, < 0 = overspent)
    burn(w)   = error ratio over window w / allowed (1 = spending exactly the budget)
A pair (threshold, long, short) fires when burn(long) >= threshold and burn(short) >= threshold.
All of it is Decimal arithmetic on counts (28 significant digits); display rounds *down*, so a
99.9996 % uptime shows as 99.999 %, never as 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Iterable, Sequence

UNKNOWN_REASONS = frozenset({"no_data", "runner", "error"})
GOOD_OUTCOMES = frozenset({"passed", "degraded", "flaky"})
CLASSES = ("good", "bad", "unknown", "maintenance")
METHOD_RUNS = "runs"
METHOD_TIMESLICES = "timeslices"
# (burn-rate threshold, long window, short window): the standard pairs for a 30-day SLO.
BURN_PAIRS: tuple[tuple[Decimal, int, int], ...] = (
    (Decimal("14.4"), 3600, 300),
    (Decimal("6"), 6 * 3600, 1800),
    (Decimal("3"), 86400, 2 * 3600),
    (Decimal("1"), 3 * 86400, 6 * 3600),
)
HUNDRED = Decimal(100)


def classify(outcome: str, reason: str | None, maintenance: bool) -> str:
    """One stored check run -> good | bad | unknown | maintenance (see the module docstring)."""
    if maintenance:
        return "maintenance"
    if outcome == "skipped" or (reason in UNKNOWN_REASONS and outcome not in ("passed", "flaky")):
        return "unknown"
    if outcome in GOOD_OUTCOMES:
        return "good"
    return "bad"


def ratio(good: int, total: int) -> Decimal | None:
    """good / total as a Decimal (28 significant digits), None when total is 0."""
    if total <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        return Decimal(good) / Decimal(total)


def percent(value: Decimal | None) -> Decimal | None:
    """A ratio as a percentage (exact: times 100)."""
    return None if value is None else value * HUNDRED


def show_percent(value: Decimal | None, places: int = 3) -> str:
    """A percentage for people: rounded down to `places` decimals ("99.999 %"), "no data" for None."""
    if value is None:
        return "no data"
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)} %"


def exact(value: Decimal | None, places: int = 6) -> str | None:
    """A Decimal as JSON text, rounded down to `places` decimals, trailing zeros kept off: "0.001"."""
    if value is None:
        return None
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)
    text = format(q.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Point:
    """One check run as the accounting sees it: when, where, which class."""

    at: datetime
    cls: str
    location: str = ""


@dataclass
class Uptime:
    """Uptime over one window with its method. For timeslices `good`/`bad` count slices; the
    run counts (`unknown_runs`, `maintenance_runs`, `runs`) are always runs."""

    method: str
    window_s: int
    good: int = 0
    bad: int = 0
    runs: int = 0
    unknown_runs: int = 0
    maintenance_runs: int = 0
    value: Decimal | None = None  # percent, None = no data

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "window_s": self.window_s, "percent": exact(self.value),
                "good": self.good, "bad": self.bad, "runs": self.runs, "unknown_runs": self.unknown_runs,
                "maintenance_runs": self.maintenance_runs}

    def text(self) -> str:
        unit = "slices" if self.method == METHOD_TIMESLICES else "runs"
        extra = f", {self.unknown_runs} unknown" if self.unknown_runs else ""
        extra += f", {self.maintenance_runs} in maintenance" if self.maintenance_runs else ""
        return f"{show_percent(self.value)} ({self.method}: {self.good}/{self.good + self.bad} {unit}{extra})"


def in_window(points: Sequence[Point], start: datetime, end: datetime) -> list[Point]:
    return [p for p in points if start <= p.at < end]


def uptime(points: Sequence[Point], end: datetime, window_s: int, method: str = METHOD_RUNS,
           timeslice_s: int = 300, timeslice_target: Decimal = HUNDRED) -> Uptime:
    """Uptime over [end - window_s, end) with `method` (runs or timeslices; "occurrences" is runs)."""
    chosen = in_window(points, end - timedelta(seconds=window_s), end)
    method = METHOD_RUNS if method in (METHOD_RUNS, "occurrences") else METHOD_TIMESLICES
    out = Uptime(method, window_s, runs=len(chosen),
                 unknown_runs=sum(1 for p in chosen if p.cls == "unknown"),
                 maintenance_runs=sum(1 for p in chosen if p.cls == "maintenance"))
    if method == METHOD_RUNS:
        out.good = sum(1 for p in chosen if p.cls == "good")
        out.bad = sum(1 for p in chosen if p.cls == "bad")
    else:
        out.good, out.bad = slice_counts(chosen, timeslice_s, timeslice_target)
    out.value = percent(ratio(out.good, out.good + out.bad))
    return out


def slice_counts(points: Iterable[Point], timeslice_s: int, timeslice_target: Decimal = HUNDRED) -> tuple[int, int]:
    """(good slices, bad slices) among slices with at least one good or bad run."""
    slices: dict[int, list[int]] = {}
    for p in points:
        if p.cls in ("good", "bad"):
            index = int(p.at.timestamp()) // timeslice_s
            counts = slices.setdefault(index, [0, 0])
            counts[0 if p.cls == "good" else 1] += 1
    good = 0
    for g, b in slices.values():
        share = percent(ratio(g, g + b))
        if share is not None and share >= timeslice_target:
            good += 1
    return good, len(slices) - good


@dataclass
class Burn:
    """One multiwindow pair: burn rates over the long and short windows (None: no data there)."""

    threshold: Decimal
    long_s: int
    short_s: int
    long: Decimal | None
    short: Decimal | None

    @property
    def firing(self) -> bool | None:
        """True when both burn at or above the threshold; None when a window had no data."""
        if self.long is None or self.short is None:
            return None
        return self.long >= self.threshold and self.short >= self.threshold

    def to_dict(self) -> dict[str, object]:
        return {"threshold": exact(self.threshold), "long_window_s": self.long_s, "short_window_s": self.short_s,
                "long": exact(self.long), "short": exact(self.short), "firing": self.firing}


@dataclass
class ObjectiveStatus:
    """An objective's figures over its window, at `end`."""

    label: str
    check: str
    target: Decimal
    window_s: int
    method: str
    uptime: Uptime
    attainment: Decimal | None  # percent
    budget_remaining: Decimal | None  # percent of the error budget left (negative: overspent)
    burns: list[Burn] = field(default_factory=list)
    met: bool | None = None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.label, "check": self.check, "target": exact(self.target), "window_s": self.window_s,
                "method": self.method, "attainment": exact(self.attainment),
                "error_budget_remaining": exact(self.budget_remaining), "met": self.met,
                "uptime": self.uptime.to_dict(), "burn_rates": [b.to_dict() for b in self.burns]}


def error_ratio(points: Sequence[Point], end: datetime, window_s: int, method: str, timeslice_s: int,
                timeslice_target: Decimal) -> Decimal | None:
    """1 - good/valid over [end - window_s, end) with the objective's method; None: no data."""
    up = uptime(points, end, window_s, method, timeslice_s, timeslice_target)
    if up.value is None:
        return None
    return ratio(up.bad, up.good + up.bad)


def burn_rate(error: Decimal | None, target: Decimal) -> Decimal | None:
    """error ratio / (1 - target/100); None with no data."""
    if error is None:
        return None
    allowed = 1 - target / HUNDRED
    with localcontext() as ctx:
        ctx.prec = 28
        return error / allowed


def evaluate(points: Sequence[Point], end: datetime, *, check: str, target: Decimal, window_s: int,
             method: str = "occurrences", timeslice_s: int = 300, timeslice_target: Decimal = HUNDRED,
             label: str = "") -> ObjectiveStatus:
    """An objective's attainment, budget left and burn-rate pairs at `end` (see the module docstring)."""
    method_name = METHOD_TIMESLICES if method == METHOD_TIMESLICES else METHOD_RUNS
    up = uptime(points, end, window_s, method_name, timeslice_s, timeslice_target)
    attainment = up.value
    remaining = None
    if attainment is not None:
        error = 1 - attainment / HUNDRED
        allowed = 1 - target / HUNDRED
        with localcontext() as ctx:
            ctx.prec = 28
            remaining = (1 - error / allowed) * HUNDRED
    burns = []
    for threshold, long_s, short_s in BURN_PAIRS:
        long = burn_rate(error_ratio(points, end, long_s, method_name, timeslice_s, timeslice_target), target)
        short = burn_rate(error_ratio(points, end, short_s, method_name, timeslice_s, timeslice_target), target)
        burns.append(Burn(threshold, long_s, short_s, long, short))
    return ObjectiveStatus(label or check, check, target, window_s, method, up, attainment, remaining, burns,
                           None if attainment is None else attainment >= target)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
