"""Incidents: a check's failing streaks at one location, derived from its stored runs.

    runs at one location, oldest first:   good  good  BAD  bad  unknown  bad  GOOD  good
                                                      ^start                ^end
An incident starts with the first `bad` run after a good one (or the first run stored) and ends
with the next `good` run. `unknown` and `maintenance` runs neither start nor end one: a runner
that could not measure says nothing about the service.

Timeline (what the runbooks' post-incident steps ask for), all times aware UTC, durations seconds:
    start            the first failing run's start
    last_good        the last good run before it (None when none is stored): the fault began after it
    detected_at      the first alert delivery (state firing, ok) for the check at or after start,
                     else the first failing run itself (detection by the failing run)
    end              the first good run's start after the streak (None: still failing)
    duration_s       end - start (or now - start while open)
    time_to_detect_s detected_at - start
    time_to_recover_s end - detected_at (None while open)
    reason, message, runbook section/anchor/link: those of the first failing run
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from opscheck.history.accounting import classify


@dataclass
class Incident:
    service: str
    env: str
    check_id: str
    location: str
    severity: str
    start: datetime
    last_good: datetime | None
    detected_at: datetime
    detected_by: str  # "first failing run" or "alert to <receiver>"
    end: datetime | None
    failing_runs: int
    reason: str | None
    reasons: dict[str, int]
    message: str | None
    runbook_section: str | None
    runbook_anchor: str | None
    runbook_link: str | None
    release: str | None
    run_id: int = 0  # the first failing run
    # The alerts about it: firing (and reminders) from its start, resolved after its end; each
    # {"sent_at", "state", "reminder", "receiver", "kind", "ok", "attempts", "error"}, oldest first.
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def duration_s(self, now: datetime) -> int:
        return int(((self.end or now) - self.start).total_seconds())

    @property
    def time_to_detect_s(self) -> int:
        return int((self.detected_at - self.start).total_seconds())

    @property
    def time_to_recover_s(self) -> int | None:
        return None if self.end is None else int((self.end - self.detected_at).total_seconds())

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {"service": self.service, "env": self.env, "check": self.check_id, "location": self.location,
                "severity": self.severity, "start": _iso(self.start), "last_good": _iso(self.last_good),
                "detected_at": _iso(self.detected_at), "detected_by": self.detected_by, "end": _iso(self.end),
                "open": self.end is None, "duration_s": self.duration_s(now),
                "time_to_detect_s": self.time_to_detect_s, "time_to_recover_s": self.time_to_recover_s,
                "failing_runs": self.failing_runs, "reason": self.reason, "reasons": dict(self.reasons),
                "message": self.message, "runbook": {"section": self.runbook_section, "anchor": self.runbook_anchor,
                                                     "link": self.runbook_link}, "release": self.release,
                "alerts": [dict(a) for a in self.alerts]}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def derive(service: str, env: str, runs: Sequence[Any], alerts: Iterable[Any] = ()) -> list[Incident]:
    """Incidents of one check from its CheckRun rows (any order, any locations), oldest first.
    `alerts`: the check's Delivery rows (only ok `firing` ones count as detection)."""
    firing = sorted(a.sent_at for a in alerts if a.state == "firing" and a.ok)
    by_location: dict[str, list[Any]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        by_location.setdefault(run.location, []).append(run)
    out: list[Incident] = []
    for location, series in by_location.items():
        current: Incident | None = None
        last_good: datetime | None = None
        reasons: Counter[str] = Counter()
        for run in series:
            cls = classify(run.outcome, run.reason, run.maintenance)
            if cls == "bad":
                if current is None:
                    reasons = Counter()
                    detected, by = run.started_at, "first failing run"
                    # Light rows (collect_incidents) carry no details: they are filled in afterwards by run_id.
                    current = Incident(service, env, run.check_id, location, getattr(run, "severity", ""), run.started_at,
                                       last_good, detected, by, None, 0, run.reason, {}, getattr(run, "message", None),
                                       getattr(run, "runbook_section", None), getattr(run, "runbook_anchor", None),
                                       getattr(run, "runbook_link", None), getattr(run, "release", None), run.run_id)
                current.failing_runs += 1
                reasons[run.reason or "-"] += 1
                current.reasons = dict(reasons)
            elif cls == "good":
                if current is not None:
                    current.end = run.started_at
                    out.append(current)
                    current = None
                last_good = run.started_at
        if current is not None:
            out.append(current)
    for incident in out:
        alert = next((t for t in firing if t >= incident.start and (incident.end is None or t <= incident.end)), None)
        if alert is not None:
            incident.detected_at, incident.detected_by = alert, "first alert sent"
    _attach_alerts(out, alerts)
    return sorted(out, key=lambda i: (i.start, i.location))


RESOLVED_ALERT_GRACE = timedelta(days=1)  # a resolved alert later than this after the end is not this incident's


def _attach_alerts(incidents: list[Incident], alerts: Iterable[Any]) -> None:
    """Give each incident the alert deliveries (firing, reminder, resolved; delivered or not) sent from
    its start until the next incident at its location starts (a resolved alert goes out with the run
    that ended it, so after `end`), at most `RESOLVED_ALERT_GRACE` after its end. Test alerts are not
    about an incident. Alerts are per check, so incidents at two locations at once share them."""
    sent = sorted((a for a in alerts if getattr(a, "state", None) in ("firing", "resolved")), key=lambda a: a.sent_at)
    by_location: dict[str, list[Incident]] = {}
    for incident in sorted(incidents, key=lambda i: i.start):
        by_location.setdefault(incident.location, []).append(incident)
    for series in by_location.values():
        for k, incident in enumerate(series):
            until = series[k + 1].start if k + 1 < len(series) else None
            if incident.end is not None:
                late = incident.end + RESOLVED_ALERT_GRACE
                until = late if until is None else min(until, late)
            for a in sent:
                if a.sent_at >= incident.start and (until is None or a.sent_at < until):
                    detail = getattr(a, "detail", None) or {}
                    incident.alerts.append({
                        "sent_at": _iso(a.sent_at), "state": a.state, "reminder": bool(detail.get("reminder")),
                        "receiver": getattr(a, "receiver", None), "kind": detail.get("kind"), "ok": bool(a.ok),
                        "attempts": getattr(a, "attempts", None), "error": getattr(a, "error", None)})


def format_seconds(seconds: int | None) -> str:
    """3725 -> "1h2m5s"; None -> "-"."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)
