"""When rounds start and when the watch stops: pure rules, no clock, no process.

Times are offsets in seconds from the watch's start (a monotonic clock in the driver).

- Round 1 starts at 0. Round k+1 starts `interval_s` after round k started, or when round k
  ended if it ran longer (`next_start`): rounds never overlap, and a late round delays the next
  one instead of letting rounds pile up to catch up.
- A round starts only while the window is open (`offset < window_s`); a round that started in
  time runs to its end, bounded by `round_timeout_s`.
- The watch stops after `fail_after` consecutive failed rounds (`Tally`). Passed and degraded rounds
  reset the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_ROUND_TIMEOUT_FLOOR_S = 60.0  # a round's checks have their own deadlines (15 s by default)


@dataclass(frozen=True)
class Plan:
    window_s: float
    interval_s: float
    fail_after: int = 1
    round_timeout_s: float | None = None

    @property
    def planned_rounds(self) -> int:
        """Rounds the window holds if none runs late: ceil(window / interval), at least 1."""
        return max(1, math.ceil(round(self.window_s / self.interval_s, 9)))

    @property
    def deadline_s(self) -> float:
        """How long one round may run before it is stopped: `round_timeout_s`, else the interval but at least 60 s."""
        if self.round_timeout_s is not None:
            return self.round_timeout_s
        return max(self.interval_s, DEFAULT_ROUND_TIMEOUT_FLOOR_S)

    def next_start(self, prev_start: float, prev_end: float) -> float:
        """The offset the next round starts at, given when the previous one started and ended."""
        return max(prev_start + self.interval_s, prev_end)

    def in_window(self, offset: float) -> bool:
        return offset < self.window_s


@dataclass
class Tally:
    """Consecutive failed rounds against `fail_after`."""

    fail_after: int = 1
    consecutive: int = 0
    failed_rounds: int = 0

    def add(self, status: str) -> bool:
        """Count one finished round's status; True when the watch must stop on failure."""
        if status == "failed":
            self.consecutive += 1
            self.failed_rounds += 1
        elif status in ("passed", "degraded"):
            self.consecutive = 0
        return self.consecutive >= self.fail_after
