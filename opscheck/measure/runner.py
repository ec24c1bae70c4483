"""The runner's own load during a sampling run: was opscheck itself late, rather than the service slow?

An open-loop latency runs from the moment a request was due. When the machine running opscheck
is overloaded (a shared 2-core CI runner, a noisy neighbour), requests go out late and answers are
read late, and every such delay lands in the latency as if the service had been slow. A
`RunnerProbe` measures, for the length of one run:

- send lateness (open loop): actual send - due time, per request;
- event-loop lag: a task sleeping `LAG_TICK_S` at a time records how much later than asked it
  woke up; an answer that arrives while the process waits for a CPU is read that much later;
- CPU starvation: the time the sampling thread was ready to run but waited for a CPU
  (`run_delay` of /proc/thread-self/schedstat, Linux), as a share of the run's wall time;
- the process's CPU time over wall time (100 % = one core busy), the 1-minute load average and the
  CPUs this process may use, for the record.

The runner counts as overloaded (`RunnerLoad.overloaded`) when any of these holds:

- p99 send lateness > `LATE_MS` (10 ms), or p99 loop lag > `LATE_MS`;
- a sleeping loop (the default) CPU starved for more than `STARVED_RATIO` (20 %) of the run. A
  busy-polling loop is always ready to run, so its starvation only says that something else used
  its core (67 % measured on a shared 2-core runner with nothing else of ours running): there the
  lateness and the lag decide.

The bounds are far above what a sleeping sampler measures on a runner that is merely shared
(benchmarks/bench_sampler.py --load on a 2-core machine at load 8 from other jobs: send lateness
p99 4.5 ms, loop lag p99 4.9 ms, starved 12 %), and CPU-bound processes beside it cross them
(27.6 ms, 30.3 ms, 72 % with two hogs on the same 2 cores).

What the runner may have added to one sample (`RunnerProbe.runner_delay_ms`): its send lateness
plus every event-loop stall (a tick that woke late) while it was in flight, from its send stamp to
the end of its body, and one tick more when there was any (a stall may have begun up to a tick
before its late tick was due). That is an upper bound: a stalled runner can only delay a request
while it is not running, and a stall in the middle of a flight may have cost nothing, so on a busy
runner a breach is rather excused than blamed on the service. `corrected` takes that share off each
sample's latency (and the stalls until the headers off its TTFB): figures still over budget after
that are the service's, however busy the runner was (families/slo.py). The loop is watched every
`LAG_TICK_S` (5 ms): a stall shorter than that which falls between two ticks goes unseen, so that
is the resolution. `worst_delay_ms` is the largest per-sample share.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from opscheck.measure.stats import percentile

__all__ = ["LAG_TICK_S", "LATE_MS", "STARVED_RATIO", "RunnerLoad", "RunnerProbe"]

LATE_MS = 10.0
STARVED_RATIO = 0.20
LAG_TICK_S = 0.005
# Wake-ups later than this are kept as stalls: asyncio's timers fire up to 1 ms late on their own
# (epoll's resolution), which is no runner's doing.
_STALL_S = 0.001
_S = TypeVar("_S")
_SCHEDSTAT = "/proc/thread-self/schedstat"


def _run_delay_s() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU, since it started; None off Linux."""
    try:
        with open(_SCHEDSTAT, "rb") as f:  # "<on-cpu ns> <run-delay ns> <timeslices>", one short line
            fields = f.read(200).split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RunnerLoad:
    """The runner's figures for one run (ms, ratios 0..1, None when not measurable here)."""

    send_late_p50_ms: float | None
    send_late_p99_ms: float | None
    send_late_max_ms: float | None
    loop_lag_p99_ms: float | None
    loop_lag_max_ms: float | None
    cpu_starved_ratio: float | None  # runnable but waiting for a CPU / wall time
    process_cpu_ratio: float | None  # process CPU time / wall time (1.0 = one core)
    loadavg_1m: float | None
    cpus: int
    busy_poll: bool
    overloaded: bool
    why: str | None  # e.g. "sends p99 38.2 ms late (bound 10 ms)"
    worst_delay_ms: float = 0.0  # the most the runner added to one sample: lateness + stalls in flight

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, figures rounded to the microsecond, plus the bounds that applied."""
        out: dict[str, Any] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["late_bound_ms"] = LATE_MS
        out["starved_bound_ratio"] = STARVED_RATIO
        return out

    def text(self) -> str:
        """One line of the figures, e.g. "sends p99 38.2 ms late (max 51.0 ms), loop lag p99 12.0 ms, CPU starved 46 % of the run"."""
        parts = []
        if self.send_late_p99_ms is not None:
            parts.append(f"sends p99 {self.send_late_p99_ms:.1f} ms late (max {self.send_late_max_ms or 0:.1f} ms)")
        if self.loop_lag_p99_ms is not None:
            parts.append(f"loop lag p99 {self.loop_lag_p99_ms:.1f} ms (max {self.loop_lag_max_ms or 0:.1f} ms)")
        if self.cpu_starved_ratio is not None:
            parts.append(f"CPU starved {self.cpu_starved_ratio * 100:.0f} % of the run")
        if self.loadavg_1m is not None:
            parts.append(f"load {self.loadavg_1m:.2f} on {self.cpus} CPU{'s' if self.cpus != 1 else ''}")
        return ", ".join(parts)


class RunnerProbe:
    """Measures one sampling run: `start()` before it, `watch_loop()` as a task inside its event loop,
    `stop()` after it, then `load(send_lateness_ms, busy_poll)`."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.stalls: list[tuple[float, float]] = []  # (due, woke), seconds since t0, in order
        self.t0 = 0.0  # the run's start on the loop's clock: samples' times count from it
        self._wall0 = self._cpu0 = 0.0
        self._delay0: float | None = None
        self.wall_s = self.cpu_s = 0.0
        self.delay_s: float | None = None

    def start(self) -> None:
        self.lags_ms.clear()
        self.stalls.clear()
        self._delay0 = _run_delay_s()
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    def stop(self) -> None:
        self.wall_s = time.perf_counter() - self._wall0
        self.cpu_s = time.process_time() - self._cpu0
        end = _run_delay_s()
        self.delay_s = None if end is None or self._delay0 is None else end - self._delay0

    async def watch_loop(self) -> None:
        """Sleep LAG_TICK_S at a time and record how late each wake-up was (ms); runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + LAG_TICK_S
            await asyncio.sleep(LAG_TICK_S)
            woke = loop.time()
            lag = max(woke - asked, 0.0)
            self.lags_ms.append(lag * 1000)
            if lag > _STALL_S:
                self.stalls.append((asked - self.t0, woke - self.t0))

    def _stalled_ms(self, start: float, end: float) -> float:
        """The time the loop spent stalled within [start, end] (seconds since t0), in ms, plus one
        tick when it stalled at all (a stall may have begun up to a tick before its late tick was due)."""
        stalls = self.stalls
        i = max(bisect.bisect_right(stalls, (start, float("inf"))) - 1, 0)  # the last stall begun by `start`
        total = 0.0
        while i < len(stalls) and stalls[i][0] < end:
            began, woke = stalls[i]
            total += max(min(woke, end) - max(began, start), 0.0)
            i += 1
        return (total + LAG_TICK_S) * 1000 if total > 0 else 0.0

    def runner_delay_ms(self, sample: Any) -> tuple[float, float]:
        """(on the latency, on the TTFB) the runner may have added to one sampler.Sample, in ms: its
        send lateness plus the loop's stalls while it was in flight (until its headers, for the TTFB)."""
        if sample.sent_s is None:
            return 0.0, 0.0
        late = max(sample.sent_s - sample.scheduled_s, 0.0) * 1000
        sent = sample.sent_s
        on_latency = self._stalled_ms(sent, sent + sample.total_ms / 1000) if sample.total_ms is not None else 0.0
        on_ttfb = self._stalled_ms(sent, sent + sample.ttfb_ms / 1000) if sample.ttfb_ms is not None else 0.0
        return late + on_latency, on_ttfb

    def corrected(self, samples: Sequence[_S]) -> list[_S]:
        """The samples with what the runner may have added taken off latency and TTFB (never below 0)."""
        out = []
        for s in samples:
            on_latency, on_ttfb = self.runner_delay_ms(s)
            latency = getattr(s, "latency_ms")
            ttfb = getattr(s, "ttfb_ms")
            out.append(dataclasses.replace(  # type: ignore[type-var]
                s, latency_ms=None if latency is None else max(latency - on_latency, 0.0),
                ttfb_ms=None if ttfb is None else max(ttfb - on_ttfb, 0.0)))
        return out

    def load(self, samples: Sequence[Any], busy_poll: bool, *, open_loop: bool) -> RunnerLoad:
        """The figures and the overload verdict of a run's sampler.Samples (send lateness: open loop only)."""
        late = sorted((s.sent_s - s.scheduled_s) * 1000 for s in samples if s.sent_s is not None) if open_loop else []
        lags = sorted(self.lags_ms)
        wall = self.wall_s if self.wall_s > 0 else None
        starved = None if self.delay_s is None or wall is None else min(max(self.delay_s / wall, 0.0), 1.0)
        try:
            loadavg: float | None = os.getloadavg()[0]
        except OSError:
            loadavg = None
        late_p99 = percentile(late, 0.99) if late else None
        lag_p99 = percentile(lags, 0.99) if lags else None
        why = []
        if late_p99 is not None and late_p99 > LATE_MS:
            why.append(f"sends p99 {late_p99:.1f} ms late (bound {LATE_MS:g} ms)")
        if lag_p99 is not None and lag_p99 > LATE_MS:
            why.append(f"event loop p99 {lag_p99:.1f} ms late (bound {LATE_MS:g} ms)")
        if starved is not None and starved > STARVED_RATIO and not busy_poll:
            why.append(f"CPU starved {starved * 100:.0f} % of the run (bound {STARVED_RATIO * 100:.0f} %)")
        return RunnerLoad(
            send_late_p50_ms=percentile(late, 0.5) if late else None, send_late_p99_ms=late_p99,
            send_late_max_ms=late[-1] if late else None, loop_lag_p99_ms=lag_p99,
            loop_lag_max_ms=lags[-1] if lags else None, cpu_starved_ratio=starved,
            process_cpu_ratio=self.cpu_s / wall if wall else None, loadavg_1m=loadavg, cpus=_cpus(),
            busy_poll=busy_poll, overloaded=bool(why), why="; ".join(why) or None,
            worst_delay_ms=max((self.runner_delay_ms(s)[0] for s in samples), default=0.0))
