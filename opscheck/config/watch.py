"""The post-deploy watch's `watch:` profile section (issue 11), and the duration syntax its options share.

    watch:
      window: 15m            # how long `--watch` (given without a value) repeats the checks
      interval: 30s          # from the start of one round to the start of the next
      fail_after: 1          # stop after this many consecutive failed rounds
      markers: "smoke or readiness"   # a pytest -m expression: which checks each round runs
      keywords: "not frontend"        # a pytest -k expression, optional
      round_timeout: 2m      # a round still running after this is stopped and counts as failed

Every field is optional. `load_watch` returns a `WatchSettings`; the CLI options `--watch`,
`--interval` and `--fail-after` override it, and it overrides a `--mode` preset's watch defaults.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

HINT = "expected e.g. 30s, 15m, 1h30m or a number of seconds"

# A watch longer than a day is a monitoring system's job, not a deploy gate's; the bound also keeps
# the planned round count (window / interval) small enough to hold every round in results.json.
MAX_WINDOW_S = 86400.0
MIN_INTERVAL_S = 1.0  # a round is a pytest process (~1 s): a shorter interval only delays rounds
MAX_ROUNDS = 10000

DEFAULT_INTERVAL_S = 30.0
DEFAULT_WINDOW_S = 900.0  # "monitor for 15 minutes post-deploy"
DEFAULT_MARKERS = "smoke or readiness"
DEFAULT_FAIL_AFTER = 1


def parse_seconds(value: str | int | float) -> float:
    """Seconds (> 0) from "30s", "15m", "1h30m", "2d", "1.5s" or a bare number of seconds: the
    profile's duration syntax, read by the one parser every duration uses (measure.bands.parse_duration).

    Raises ValueError with the cause for text that is not a duration, a zero or negative one, or one
    that is not finite.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration ({HINT})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite duration")
    # Late binding, as config/profile.py does for the families: the parser lives in measure, which
    # sits above config.
    bands = importlib.import_module("opscheck.measure.bands")
    try:
        seconds = float(bands.parse_duration(value))
    except ValueError as exc:
        cause = str(exc)
        raise ValueError(cause if cause.startswith("not a duration") else f"not a duration: {cause}") from None
    if not math.isfinite(seconds):
        raise ValueError("not a finite duration")
    if seconds <= 0:
        raise ValueError("must be longer than 0 s")
    return seconds


def parse_count(value: str | int) -> int:
    """A whole number >= 1 (`--fail-after`); ValueError with the cause otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number of rounds, 1 or more")
    try:
        number = int(str(value).strip(), 10) if not isinstance(value, int) else value
    except ValueError:
        raise ValueError("must be a whole number of rounds, 1 or more") from None
    if number < 1:
        raise ValueError("must be a whole number of rounds, 1 or more")
    return number


@dataclass(frozen=True)
class WatchSettings:
    """The `watch:` section as read: None for every field the profile leaves out. Durations in s."""

    window_s: float | None = None
    interval_s: float | None = None
    fail_after: int | None = None
    markers: str | None = None
    keywords: str | None = None
    round_timeout_s: float | None = None
    line: int | None = None  # the section's line, for messages about the combination


def load_watch(section: Any, builder: Any) -> WatchSettings:
    """The validated `watch:` mapping -> WatchSettings; problems go to `builder.problem` (exit 4)."""
    values: dict[str, Any] = {}
    for key, field in (("window", "window_s"), ("interval", "interval_s"), ("round_timeout", "round_timeout_s")):
        if key in section:
            try:
                values[field] = parse_seconds(section[key])
            except ValueError as exc:
                builder.problem(("watch", key), str(exc))
    if "fail_after" in section:
        try:
            values["fail_after"] = parse_count(section["fail_after"])
        except ValueError as exc:
            builder.problem(("watch", "fail_after"), str(exc))
    for key in ("markers", "keywords"):
        text = section.get(key)
        if text is not None:
            if not str(text).strip():
                builder.problem(("watch", key), "must not be empty (leave the field out for the default)")
            else:
                values[key] = str(text)
    settings = WatchSettings(**values, line=builder.line(("watch",)))
    problem = check_combination(settings.window_s, settings.interval_s)
    if problem:
        builder.problem(("watch", "interval" if settings.interval_s is not None else "window"), problem)
    if settings.window_s is not None and settings.window_s > MAX_WINDOW_S:
        builder.problem(("watch", "window"), f"must be at most {MAX_WINDOW_S / 3600:g} h")
    return settings


def check_combination(window_s: float | None, interval_s: float | None) -> str | None:
    """Why a window and an interval cannot go together, or None (either may be None: no rule)."""
    if interval_s is not None and interval_s < MIN_INTERVAL_S:
        return f"must be at least {MIN_INTERVAL_S:g} s (each round starts a pytest process)"
    if window_s is not None and interval_s is not None:
        if interval_s > window_s:
            return "the interval is longer than the window: the watch would run one round"
        if window_s / interval_s > MAX_ROUNDS:
            return f"window / interval plans more than {MAX_ROUNDS} rounds"
    return None
