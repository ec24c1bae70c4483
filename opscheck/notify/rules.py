"""When a check alerts: state changes read from the shared run history, never from one process.

The rules, for one check (service, env, check id) over every location that checks it:

1. Each stored run of the check is *up* (passed, degraded, flaky), *down* (failed), or *unknown*,
   by the history's declared accounting (opscheck.history.accounting.classify, the same classes
   uptime and error budgets use): a run that could not measure (outcome `skipped`; reason
   `no_data`, `runner`: the runner overloaded, `error`: the check itself crashed) and every run
   inside a maintenance window. Unknown runs neither start nor end a failure: they are left out.
2. Runs are grouped by their scheduled slot (the run key's slot). A slot is *down* when at least
   `quorum` locations saw the check down in it (each location counted once, its newest run), *up*
   when it has an up run and fewer than `quorum` down locations, and unknown otherwise. With
   `quorum: 2`, one runner's network blip is an up slot: it pages nobody.
3. The alert state is the newest logged delivery of a firing or resolved alert (any receiver).
   Not firing, and the newest `failure_threshold` known slots all down: **firing**. Firing, and the
   newest `success_threshold` known slots all up: **resolved**. Firing, still down, and
   `remind_every` passed since the last firing delivery: **reminder**.

`decide` is pure (rows in, a Decision out); opscheck.notify.dispatch feeds it from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from opscheck.history.accounting import UNKNOWN_REASONS, classify

_STATUS = {"good": "up", "bad": "down"}


def status_of(run: Any) -> str | None:
    """"up", "down" or None (unknown, maintenance) for one stored CheckRun (module docstring)."""
    return _STATUS.get(classify(run.outcome, run.reason, bool(getattr(run, "maintenance", False))))


__all__ = ["UNKNOWN_REASONS", "Decision", "Slot", "decide", "slots", "status_of"]


@dataclass(frozen=True)
class Slot:
    """One scheduled slot of a check across locations: its status and who saw it down."""

    slot: datetime
    status: str  # up | down
    down_locations: tuple[str, ...]
    up_locations: tuple[str, ...]
    first_started: datetime
    down_runs: tuple[Any, ...] = ()


def slots(runs: Iterable[Any], quorum: int = 1) -> list[Slot]:
    """Known slots, oldest first (by their first run's start); unknown slots are left out."""
    by_slot: dict[Any, dict[str, Any]] = {}
    for run in runs:
        key = getattr(run, "slot", None) or run.started_at
        per_location = by_slot.setdefault(key, {})
        newest = per_location.get(run.location)
        if newest is None or run.started_at >= newest.started_at:
            per_location[run.location] = run
    out = []
    for key, per_location in by_slot.items():
        statuses = {loc: status_of(run) for loc, run in per_location.items()}
        down = tuple(sorted(loc for loc, s in statuses.items() if s == "down"))
        up = tuple(sorted(loc for loc, s in statuses.items() if s == "up"))
        first = min(run.started_at for run in per_location.values())
        if len(down) >= max(1, quorum):
            status = "down"
        elif up:
            status = "up"
        else:
            continue  # nothing measured, or a failure seen by too few locations and no up run yet
        out.append(Slot(key, status, down, up, first, tuple(per_location[loc] for loc in down)))
    out.sort(key=lambda s: (s.first_started, str(s.slot)))
    return out


@dataclass(frozen=True)
class Decision:
    """What to send for one check now. `action`: firing | resolved | reminder | None (nothing).
    `since`: the first slot of the current failing streak (its first run's start); `reason`,
    `message` and `run`: of the newest down run (for resolved: of the failure being resolved);
    `locations`: where it was seen down; `why`: one line for the terminal and results.json."""

    action: str | None
    why: str
    since: datetime | None = None
    reason: str | None = None
    message: str | None = None
    locations: tuple[str, ...] = ()
    streak: int = 0
    run: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def decide(runs: Sequence[Any], *, last_state: str | None, last_firing_at: datetime | None, now: datetime,
           failure_threshold: int = 1, success_threshold: int = 1, remind_every: timedelta | None = None,
           quorum: int = 1) -> Decision:
    """The decision for one check from its stored runs (oldest first, every location), the alert
    state (`last_state`: "firing", "resolved" or None, from the delivery log) and when the last
    firing alert went out. Pure: no clock but `now`, no I/O."""
    known = slots(runs, quorum)
    if not known:
        return Decision(None, "no known runs (every run unknown or in maintenance)")
    newest = known[-1].status
    streak = 0
    for slot in reversed(known):
        if slot.status != newest:
            break
        streak += 1
    failing = [s for s in known[len(known) - streak:]] if newest == "down" else []
    down_run = _newest_down_run(known)
    info = {"reason": down_run.reason if down_run else None, "message": down_run.message if down_run else None,
            "run": down_run, "extra": {"known": len(known)}}
    if newest == "down":
        locations = tuple(sorted({loc for s in failing for loc in s.down_locations}))
        since = failing[0].first_started
        if last_state != "firing":
            if streak >= failure_threshold:
                return Decision("firing", f"failed in {_slots(streak)} in a row (threshold {failure_threshold})",
                                since, locations=locations, streak=streak, **info)
            return Decision(None, f"failed in {streak} of the {_slots(failure_threshold)} needed to alert",
                            since, locations=locations, streak=streak, **info)
        if remind_every is not None and last_firing_at is not None and now - last_firing_at >= remind_every:
            return Decision("reminder", f"still failing, {_slots(streak)}; last alert {_ago(now - last_firing_at)} ago",
                            since, locations=locations, streak=streak, **info)
        return Decision(None, f"still failing, {_slots(streak)}; already alerted", since,
                        locations=locations, streak=streak, **info)
    if last_state == "firing":
        if streak >= success_threshold:
            return Decision("resolved", f"passed in {_slots(streak)} in a row (threshold {success_threshold})",
                            streak=streak, **info)
        return Decision(None, f"passed in {streak} of the {_slots(success_threshold)} needed to resolve", streak=streak, **info)
    return Decision(None, "passing", streak=streak, extra={"known": len(known)})


def _slots(count: int) -> str:
    return f"{count} slot" if count == 1 else f"{count} slots"


def _newest_down_run(known: list[Slot]) -> Any:
    for slot in reversed(known):
        if slot.down_runs:
            return max(slot.down_runs, key=lambda r: r.started_at)
    return None


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds // 60} min"
