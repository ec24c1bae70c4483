"""Declared accounting over plain points: classes, uptime by runs and timeslices, exact Decimal
budgets and burn rates, incidents. No store, no sockets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from opscheck.history.accounting import (BURN_PAIRS, Point, burn_rate, classify, evaluate, exact, show_percent,
                                         uptime)
from opscheck.history.incidents import derive, format_seconds

END = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def points(classes: str, step_s: int = 300, end: datetime = END) -> list[Point]:
    """'g'ood 'b'ad 'u'nknown 'm'aintenance, one per step, the last one step before `end`."""
    names = {"g": "good", "b": "bad", "u": "unknown", "m": "maintenance"}
    n = len(classes)
    return [Point(end - timedelta(seconds=step_s * (n - i)), names[c]) for i, c in enumerate(classes)]


@pytest.mark.parametrize(("outcome", "reason", "maintenance", "expected"), [
    ("passed", None, False, "good"), ("degraded", "latency", False, "good"), ("flaky", "connect", False, "good"),
    ("failed", "status", False, "bad"), ("failed", "connect", False, "bad"), ("failed", "timeout", False, "bad"),
    ("failed", "no_data", False, "unknown"), ("failed", "runner", False, "unknown"), ("failed", "error", False, "unknown"),
    ("degraded", "runner", False, "unknown"), ("skipped", None, False, "unknown"), ("failed", "status", True, "maintenance"),
])
def test_every_stored_outcome_falls_in_exactly_one_declared_class(outcome, reason, maintenance, expected):
    assert classify(outcome, reason, maintenance) == expected


def test_uptime_by_runs_leaves_unknown_runs_out_and_says_how_many_there_were():
    up = uptime(points("gggbuug"), END, 86400)
    assert (up.good, up.bad, up.unknown_runs, up.runs) == (4, 1, 2, 7)
    assert up.value == Decimal(80) and up.method == "runs"
    assert up.text() == "80.000 % (runs: 4/5 runs, 2 unknown)"


def test_a_window_with_only_unknown_runs_shows_no_data_never_100_percent():
    up = uptime(points("uuuumm"), END, 86400)
    assert up.value is None and show_percent(up.value) == "no data"
    assert uptime([], END, 86400).value is None


def test_uptime_just_below_100_percent_never_rounds_up_to_100():
    up = uptime(points("g" * 9999 + "b", step_s=1), END, 86400)
    assert up.value == Decimal("99.99") and show_percent(up.value, 1) == "99.9 %"
    up = uptime(points("g" * 299999 + "b", step_s=1), END, 400 * 86400)
    assert show_percent(up.value) == "99.999 %"


def test_timeslices_count_slices_with_data_and_a_slice_with_one_bad_run_is_bad():
    # 4 slices of 5 minutes with two runs each: good, mixed, unknown only, good.
    pts = points("gg" "gb" "uu" "gg", step_s=150)
    up = uptime(pts, END, 3600, "timeslices", 300)
    assert (up.good, up.bad, up.unknown_runs) == (2, 1, 2) and up.method == "timeslices"
    assert uptime(pts, END, 3600, "timeslices", 300, Decimal(50)).good == 3  # timeslice_target 50 %


def test_budget_and_burn_rates_are_exact_decimals():
    assert burn_rate(Decimal("0.001"), Decimal("99.9")) == Decimal(1)
    assert 1 - Decimal("99.9") / 100 == Decimal("0.001")
    # 1000 runs, 1 bad over 30 days at a 99.9 % target: the whole budget, exactly.
    status = evaluate(points("g" * 999 + "b", step_s=2400), END, check="smoke::health", target=Decimal("99.9"),
                      window_s=30 * 86400)
    assert status.attainment == Decimal("99.9") and exact(status.attainment) == "99.9"
    assert status.budget_remaining == Decimal(0) and exact(status.budget_remaining) == "0"
    assert status.met is True
    assert "0.000999" not in repr(status.to_dict()) and "e-" not in repr(status.to_dict())


def test_a_fast_burn_fires_the_14_4_pair_and_a_window_without_data_says_no_data():
    # Runs every minute; the last 10 minutes all failed, the 50 before passed.
    status = evaluate(points("g" * 50 + "b" * 10, step_s=60), END, check="c::x", target=Decimal("99.9"),
                      window_s=30 * 86400)
    fast = status.burns[0]
    assert (fast.threshold, fast.long_s, fast.short_s) == BURN_PAIRS[0][:3]
    assert fast.long == Decimal(10) / Decimal(60) / Decimal("0.001") and fast.short == Decimal(1000)
    assert fast.firing is True
    quiet = evaluate(points("g" * 60, step_s=60), END, check="c::x", target=Decimal("99.9"), window_s=86400)
    assert all(b.firing is False for b in quiet.burns)
    nightly = evaluate(points("g", step_s=86400), END, check="c::x", target=Decimal("99"), window_s=30 * 86400)
    assert nightly.burns[0].long is None and nightly.burns[0].firing is None  # no run in the last hour


def test_overspent_budget_goes_negative_and_the_objective_is_not_met():
    status = evaluate(points("g" * 98 + "bb"), END, check="c::x", target=Decimal("99.5"), window_s=86400)
    assert status.attainment == Decimal(98) and status.budget_remaining == Decimal(-300) and status.met is False


@dataclass
class Row:
    run_id: int
    started_at: datetime
    location: str
    outcome: str
    reason: str | None = None
    check_id: str = "smoke::health"
    severity: str = "critical"
    message: str | None = None
    runbook_section: str | None = "API Not Responding"
    runbook_anchor: str | None = "api-not-responding"
    runbook_link: str | None = "RUNBOOK.md#api-not-responding"
    release: str | None = None
    maintenance: bool = False


@dataclass
class Alert:
    state: str
    ok: bool
    sent_at: datetime


def test_an_incident_runs_from_the_first_failing_run_to_the_first_good_one_with_its_timeline():
    t = [END + timedelta(minutes=10 * i) for i in range(8)]
    runs = [Row(1, t[0], "eu", "passed"), Row(2, t[1], "eu", "failed", "status", message="503"),
            Row(3, t[2], "eu", "failed", "no_data"), Row(4, t[3], "eu", "failed", "timeout"),
            Row(5, t[4], "eu", "passed"), Row(6, t[5], "eu", "passed")]
    (incident,) = derive("svc", "prod", runs, [Alert("firing", True, t[2])])
    assert (incident.start, incident.end, incident.last_good) == (t[1], t[4], t[0])
    assert incident.failing_runs == 2 and incident.reasons == {"status": 1, "timeout": 1}
    assert incident.reason == "status" and incident.runbook_anchor == "api-not-responding"
    assert incident.time_to_detect_s == 600 and incident.detected_by == "first alert sent"
    assert incident.time_to_recover_s == 1200 and incident.duration_s(t[7]) == 1800
    assert format_seconds(incident.duration_s(t[7])) == "30m"


def test_incidents_are_per_location_and_an_open_one_has_no_end():
    runs = [Row(1, END, "eu", "failed", "connect"), Row(1, END, "us", "passed"),
            Row(2, END + timedelta(minutes=5), "eu", "passed"), Row(2, END + timedelta(minutes=5), "us", "failed", "status")]
    eu, us = derive("svc", "prod", runs)
    assert (eu.location, eu.end, eu.time_to_detect_s) == ("eu", END + timedelta(minutes=5), 0)
    assert (us.location, us.end, us.time_to_recover_s) == ("us", None, None)
    assert derive("svc", "prod", [Row(1, END, "eu", "failed", "runner"), Row(2, END, "eu", "skipped")]) == []


def test_the_default_run_key_puts_two_starts_of_one_slot_under_one_key_and_the_next_slot_under_another():
    from opscheck.history.store import default_run_key, slot_of

    first = datetime(2026, 11, 30, 3, 0, 2, tzinfo=timezone.utc)
    retry = datetime(2026, 11, 30, 3, 9, 58, tzinfo=timezone.utc)
    later = datetime(2026, 11, 30, 3, 15, 1, tzinfo=timezone.utc)
    keys = [default_run_key("svc", "prod", "eu-west", slot_of(t, 900)) for t in (first, retry, later)]
    assert keys[0] == keys[1] == "svc/prod/eu-west/2026-11-30T03:00:00Z" and keys[2].endswith("T03:15:00Z")
    assert default_run_key("svc", None, "eu", slot_of(first, 300)) == "svc/-/eu/2026-11-30T03:00:00Z"


@dataclass
class Sent:
    state: str
    ok: bool
    sent_at: datetime
    receiver: str = "notify-url"
    attempts: int = 1
    error: str | None = None
    detail: dict | None = None


def test_an_incident_keeps_its_own_alerts_firing_from_its_start_and_resolved_after_its_end():
    t = [END + timedelta(minutes=10 * i) for i in range(8)]
    runs = [Row(1, t[0], "eu", "passed"), Row(2, t[1], "eu", "failed", "status"), Row(3, t[2], "eu", "passed"),
            Row(4, t[4], "eu", "failed", "status"), Row(5, t[5], "eu", "passed")]
    sent = [Sent("firing", True, t[1] + timedelta(seconds=5), detail={"kind": "webhook"}),
            Sent("resolved", False, t[2] + timedelta(seconds=5), error="status 500", attempts=2),
            Sent("test", True, t[3]), Sent("firing", True, t[4] + timedelta(seconds=5))]
    first, second = derive("svc", "prod", runs, sent)
    assert [(a["state"], a["ok"], a["kind"]) for a in first.alerts] == [("firing", True, "webhook"), ("resolved", False, None)]
    assert first.alerts[1]["error"] == "status 500" and first.alerts[1]["attempts"] == 2
    assert [a["state"] for a in second.alerts] == ["firing"]  # neither the first's alerts nor the test alert
    assert first.to_dict(t[7])["alerts"][0]["receiver"] == "notify-url"
