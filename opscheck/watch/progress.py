"""What the terminal shows during a watch.

On a terminal (a TTY): one line per finished round, and below them a status line redrawn in place
a few times a second: round k of N, elapsed and remaining time, the checks failing now and the
worst latency seen. Elsewhere (CI logs, a pipe): only the per-round lines, each complete in itself,
so a log read later tells the same story. `NO_COLOR` (no-color.org) turns colour off.

    opscheck watch: round 3/30 passed in 1.0s | elapsed 1m01s, remaining 13m59s | failing now: none | worst latency 412 ms smoke::api-health (round 2)
"""

from __future__ import annotations

import math
import os
import shutil
from typing import IO

from opscheck.watch.rounds import Round

_COLOURS = {"passed": "32", "degraded": "33", "failed": "31", "interrupted": "33", "error": "31"}


def seconds_text(seconds: float) -> str:
    """A round's duration and the elapsed time after it, on one scale: 3.8s under a minute, else `clock`."""
    return f"{seconds:.1f}s" if seconds < 60 else clock(seconds)


def clock(seconds: float) -> str:
    """45s, 1m05s, 1h02m03s (whole seconds, rounded down)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Writes the watch's progress to `stream` (a TTY gets the live status line and colour)."""

    def __init__(self, stream: IO[str], window_s: float, planned: int, tty: bool | None = None) -> None:
        self.stream = stream
        self.window_s = window_s
        self.planned = planned
        self.tty = stream.isatty() if tty is None else tty
        self.colour = self.tty and not os.environ.get("NO_COLOR")
        self.failing_now: list[str] = []
        self.worst: tuple[float, str, int] | None = None  # (ms, check id, round)
        self._live = False
        self._drawn = ""

    # --- what the rounds tell ------------------------------------------------------------

    def round_done(self, rnd: Round, elapsed_s: float | None = None) -> None:
        """One line for a finished round. Its elapsed time is where the round ended on the watch's clock
        (`offset_s + duration_s`, the clock its duration comes from), so it is never shorter than the
        round; `elapsed_s` is only a fallback for a round without times."""
        ended = rnd.offset_s + rnd.duration_s if rnd.duration_s else (elapsed_s or rnd.offset_s)
        self.failing_now = [c.id for c in rnd.failing]
        for check in rnd.checks:
            if check.latency_ms is not None and (self.worst is None or check.latency_ms > self.worst[0]):
                self.worst = (check.latency_ms, check.id, rnd.number)
        word = rnd.status if rnd.reason is None else f"{rnd.status} ({rnd.reason})"
        self.line(f"opscheck watch: round {rnd.number}/{self.planned} {self._paint(word, rnd.status)} "
                  f"in {rnd.duration_s:.1f}s | {self.status_text(ended, seconds_text(ended))}")

    def status_text(self, elapsed_s: float, elapsed: str | None = None) -> str:
        failing = ", ".join(self.failing_now[:5]) + (f" (+{len(self.failing_now) - 5})" if len(self.failing_now) > 5 else "")
        worst = (f"{self.worst[0]:.0f} ms {self.worst[1]} (round {self.worst[2]})" if self.worst is not None else "none yet")
        remaining = math.ceil(max(0.0, self.window_s - elapsed_s))  # "0s" only once the window is over
        return (f"elapsed {elapsed or clock(elapsed_s)}, remaining {clock(remaining)} | failing now: {failing or 'none'} | "
                f"worst latency {worst}")

    # --- output ------------------------------------------------------------------------------

    def live(self, activity: str, elapsed_s: float) -> None:
        """Redraw the status line (a TTY only): `activity` is e.g. "round 4/30 running"."""
        if not self.tty:
            return
        text = f"watch: {activity} | {self.status_text(elapsed_s)}"
        width = shutil.get_terminal_size((120, 24)).columns
        if len(text) >= width:
            text = text[: max(10, width - 2)] + "…"
        if self._live and text == self._drawn:
            return  # redrawn only when it changes: a log of the terminal stays small
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self._live, self._drawn = True, text

    def line(self, text: str) -> None:
        """A permanent line (the status line, if drawn, is cleared first and redrawn by the next `live`)."""
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._live = False

    def _paint(self, text: str, status: str) -> str:
        if not self.colour or status not in _COLOURS:
            return text
        return f"\x1b[{_COLOURS[status]}m{text}\x1b[0m"
