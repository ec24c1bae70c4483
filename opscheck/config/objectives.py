"""`objectives:` (issue 12): service level objectives over the run history.

    objectives:
      - {check: "smoke::api-health", target: 99.9, window: 30d, method: timeslices, timeslice: 5m}
      - {check: "slo::search", target: 99.5}          # occurrences over 30d

Typed form: `list[Objective]` in `profile.extras["objectives"]`. Budgeting follows OpenSLO
(https://github.com/OpenSLO/OpenSLO#slo): `occurrences` counts good runs over valid runs;
`timeslices` cuts the window into `timeslice`-long slices, a slice being good when at least
`timeslice_target` percent of its valid runs are good, and counts good slices over slices with data.
Percentages are Decimals; durations whole seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

METHODS = ("occurrences", "timeslices")
DEFAULT_WINDOW_S = 30 * 86400
MAX_WINDOW_S = 400 * 86400
DEFAULT_TIMESLICE_S = 300
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"\s*(\d+)\s*([dhms])\s*")


@dataclass(frozen=True)
class Objective:
    """One SLO: `target` percent (0 < target < 100) of `check` good over a rolling `window_s`."""

    check: str
    target: Decimal
    window_s: int
    method: str = "occurrences"
    timeslice_s: int = DEFAULT_TIMESLICE_S
    timeslice_target: Decimal = Decimal(100)
    name: str = ""
    line: int | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.check} {self.target}% over {format_duration(self.window_s)} ({self.method})"


def parse_seconds(value: Any) -> int:
    """Whole seconds from a number or text like "30d", "6h", "5m", "1h30m". Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float, Decimal)):
        seconds = Decimal(str(value))
    else:
        text = str(value).strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = Decimal(text)
        else:
            pos, total = 0, 0
            while pos < len(text):
                m = _PART.match(text, pos)
                if m is None:
                    raise ValueError(f"not a duration: {value!r} (expected e.g. 30d, 6h, 5m, 1h30m)")
                total += int(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos == 0:
                raise ValueError(f"not a duration: {value!r} (expected e.g. 30d, 6h, 5m, 1h30m)")
            seconds = Decimal(total)
    if seconds != seconds.to_integral_value():
        raise ValueError(f"{value!r}: use whole seconds")
    return int(seconds)


def format_duration(seconds: int) -> str:
    """3600 -> "1h", 90 -> "1m30s", 2592000 -> "30d"."""
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def _percent(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("not a number")
    try:
        number = Decimal(str(value).strip().rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return number


def load_objectives(section: Any, builder: Any) -> list[Objective]:
    """The validated `objectives:` list -> [Objective]; problems go to `builder.problem`."""
    known = {case.check_id for case in builder.profile.all_cases()} if hasattr(builder.profile, "all_cases") else None
    out: list[Objective] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(section or []):
        path = ("objectives", index)
        if not isinstance(entry, dict):
            builder.problem(path, "must be a mapping with check and target")
            continue
        ok = True
        check = str(entry.get("check", ""))
        if known is not None and check not in known:
            shown = ", ".join(sorted(known)[:8]) or "none"
            builder.problem(path + ("check",), f"no check {check!r} in this profile (checks: {shown})")
            ok = False
        try:
            target = _percent(entry.get("target"))
            if not Decimal(0) < target < Decimal(100):
                raise ValueError(f"{target} is not above 0 and below 100 (a 100 % objective has no error budget)")
        except ValueError as exc:
            builder.problem(path + ("target",), str(exc))
            ok, target = False, Decimal(0)
        window_s = DEFAULT_WINDOW_S
        if "window" in entry:
            try:
                window_s = parse_seconds(entry["window"])
                if not 3600 <= window_s <= MAX_WINDOW_S:
                    raise ValueError(f"{format_duration(window_s)} is outside 1h..400d")
            except ValueError as exc:
                builder.problem(path + ("window",), str(exc))
                ok = False
        method = entry.get("method", "occurrences")
        if method not in METHODS:
            builder.problem(path + ("method",), f"{method!r}: expected occurrences or timeslices")
            ok = False
        timeslice_s = DEFAULT_TIMESLICE_S
        if "timeslice" in entry:
            try:
                timeslice_s = parse_seconds(entry["timeslice"])
                if not 60 <= timeslice_s <= window_s // 2:
                    raise ValueError("must be at least 1m and at most half the window")
            except ValueError as exc:
                builder.problem(path + ("timeslice",), str(exc))
                ok = False
        slice_target = Decimal(100)
        if "timeslice_target" in entry:
            try:
                slice_target = _percent(entry["timeslice_target"])
                if not Decimal(0) < slice_target <= Decimal(100):
                    raise ValueError(f"{slice_target} is not above 0 and at most 100")
            except ValueError as exc:
                builder.problem(path + ("timeslice_target",), str(exc))
                ok = False
        if method == "occurrences" and ("timeslice" in entry or "timeslice_target" in entry):
            builder.problem(path + ("method",), "timeslice and timeslice_target need method: timeslices")
            ok = False
        key = (check, str(entry.get("name", "")))
        if key in seen:
            builder.problem(path, f"a second objective for {check!r}: give each a distinct name")
            ok = False
        seen.add(key)
        if ok:
            out.append(Objective(check, target, window_s, method, timeslice_s, slice_target,
                                 str(entry.get("name", "")), builder.line(path)))
    return out
