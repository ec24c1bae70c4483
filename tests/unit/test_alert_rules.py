"""The alert rules, pure: state changes, thresholds, reminders, unknown runs, quorum, routes,
payloads, maintenance windows (a DST change included) and the notify:/maintenance: loaders."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from opscheck.config.notify import MaintenanceWindow, Receiver, Route, active_windows, parse_duration
from opscheck.config.profile import ProfileError, load_profile
from opscheck.notify import payloads
from opscheck.notify.rules import decide, slots, status_of

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Row:
    """The fields of a stored CheckRun the rules read."""

    started_at: datetime
    location: str
    outcome: str
    reason: str | None = None
    message: str | None = None
    slot: datetime | None = None
    maintenance: bool = False


def series(*outcomes: str, location: str = "eu", step: timedelta = timedelta(hours=1)) -> list[Row]:
    out = []
    for i, text in enumerate(outcomes):
        outcome, _, reason = text.partition(":")
        at = T0 + i * step
        out.append(Row(at, location, outcome, reason or ("status" if outcome == "failed" else None), "msg", at))
    return out


def action(rows, state=None, **kw):
    now = max(r.started_at for r in rows) + timedelta(minutes=1)
    return decide(rows, last_state=state, last_firing_at=kw.pop("last_firing_at", None), now=now, **kw).action


def test_a_first_failure_fires_and_a_first_pass_after_it_resolves():
    assert action(series("passed", "failed")) == "firing"
    assert action(series("passed", "failed", "passed"), state="firing") == "resolved"


def test_a_check_that_keeps_passing_or_keeps_failing_sends_nothing():
    assert action(series("passed", "passed")) is None
    assert action(series("failed", "failed"), state="firing") is None
    assert action(series("passed", "failed"), state="resolved") == "firing"


def test_failure_threshold_needs_that_many_failed_runs_in_a_row():
    assert action(series("passed", "failed"), failure_threshold=2) is None
    assert action(series("failed", "passed", "failed"), failure_threshold=2) is None
    assert action(series("passed", "failed", "failed"), failure_threshold=2) == "firing"


def test_success_threshold_needs_that_many_passed_runs_in_a_row():
    assert action(series("failed", "passed"), state="firing", success_threshold=2) is None
    assert action(series("failed", "passed", "passed"), state="firing", success_threshold=2) == "resolved"


def test_a_still_failing_check_reminds_only_after_remind_every():
    rows = series("failed", "failed", "failed")
    last = rows[-1].started_at
    assert action(rows, state="firing", remind_every=timedelta(hours=4), last_firing_at=last - timedelta(hours=1)) is None
    assert action(rows, state="firing", remind_every=timedelta(hours=4), last_firing_at=last - timedelta(hours=5)) == "reminder"
    assert action(rows, state="firing", last_firing_at=last - timedelta(days=5)) is None  # no remind_every: never


def test_unknown_runs_neither_start_nor_end_a_failure():
    assert status_of(Row(T0, "eu", "failed", "no_data")) is None
    assert status_of(Row(T0, "eu", "failed", "runner")) is None  # the runner was overloaded, not the service
    assert status_of(Row(T0, "eu", "failed", "error")) is None  # the check itself crashed
    assert status_of(Row(T0, "eu", "failed", "connect")) == "down"
    assert status_of(Row(T0, "eu", "skipped")) is None
    assert status_of(Row(T0, "eu", "failed", "status", maintenance=True)) is None
    assert status_of(Row(T0, "eu", "degraded", "latency")) == "up"
    # An unknown run between two failures keeps the streak; after a firing alert it resolves nothing.
    assert action(series("failed", "failed:no_data", "failed"), failure_threshold=2) == "firing"
    assert action(series("failed", "failed:no_data"), state="firing") is None
    assert action(series("passed", "failed:no_data", "skipped")) is None


def test_with_quorum_two_a_failure_at_one_location_is_not_a_failing_slot():
    eu = series("passed", "failed", "passed", location="eu")
    us = series("passed", "passed", "passed", location="us")
    assert [s.status for s in slots(eu + us, quorum=2)] == ["up", "up", "up"]
    assert action(eu[:2] + us[:2], quorum=2) is None
    both = series("passed", "failed", location="eu") + series("passed", "failed", location="us")
    assert action(both, quorum=2) == "firing"
    fired = decide(both, last_state=None, last_firing_at=None, now=T0 + timedelta(hours=2), quorum=2)
    assert fired.locations == ("eu", "us")


def test_with_quorum_two_one_location_failing_alone_waits_for_the_other():
    # eu ran first in the slot and failed; us has not reported yet: the slot is not known yet.
    rows = series("passed", "failed", location="eu") + series("passed", location="us")
    assert [s.status for s in slots(rows, quorum=2)] == ["up"]
    assert action(rows, quorum=2) is None


def test_routes_pick_receivers_by_severity_first_match_wins_unless_continue():
    from opscheck.config.notify import NotifyConfig

    receivers = {n: Receiver(n, "webhook", f"http://127.0.0.1/{n}") for n in ("exec", "risk", "all", "am")}
    config = NotifyConfig(receivers=receivers, routes=(
        Route({"severity": ("critical",)}, ("exec",), cont=True),
        Route({"check": ("smoke::*",)}, ("am",)),
        Route({"severity": ("warning", "major")}, ("risk",)),
        Route({}, ("all",)),
    ))
    names = lambda **f: [r.name for r in config.receivers_for(f)]  # noqa: E731
    assert names(severity="critical", check="smoke::health", family="smoke") == ["exec", "am"]
    assert names(severity="critical", check="slo::read", family="slo") == ["exec", "all"]
    assert names(severity="warning", check="slo::read", family="slo") == ["risk"]
    assert names(severity="minor", check="headers::x", family="headers") == ["all"]
    assert Route({"check": ("health",)}, ("x",)).matches({"check": "smoke::health"})


ALERT = payloads.Alert(state="firing", service="checkout", env="prod", check="smoke::health", family="smoke",
                       severity="critical", reason="status", message="GET /health: status 503,\n expected 200",
                       runbook_section="API Not Responding", runbook_link="https://x.example/RUNBOOK.md#api-not-responding",
                       locations=("eu",), since=T0, at=T0 + timedelta(hours=1), run_id=7, failing_slots=2)


def test_the_slack_message_names_service_env_check_reason_severity_message_and_links_the_runbook():
    text = payloads.slack_payload(ALERT)["text"]
    for part in ("checkout", "prod", "smoke::health", "status", "critical", "GET /health: status 503, expected 200",
                 "<https://x.example/RUNBOOK.md#api-not-responding|API Not Responding>"):
        assert part in text


def test_the_alertmanager_alert_has_the_labels_and_annotations_and_resolved_sets_ends_at():
    (alert,) = payloads.alertmanager_payload(ALERT, timedelta(hours=25))
    assert alert["labels"] == {"alertname": "OpscheckCheckFailing", "service": "checkout", "env": "prod",
                               "check": "smoke::health", "family": "smoke", "severity": "critical", "reason": "status"}
    assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}
    assert alert["annotations"]["runbook_url"].endswith("#api-not-responding")
    assert alert["startsAt"] == "2026-11-01T02:00:00Z" and alert["endsAt"] == "2026-11-02T04:00:00Z"
    resolved = payloads.Alert(**{**ALERT.__dict__, "state": "resolved"})
    (done,) = payloads.alertmanager_payload(resolved, timedelta(hours=25))
    assert done["endsAt"] == "2026-11-01T03:00:00Z" and done["labels"] == alert["labels"]


def test_the_webhook_payload_is_the_documented_one():
    body = payloads.webhook_payload(ALERT)
    assert set(body) == {"version", "source", "state", "reminder", "service", "env", "check", "family", "severity",
                         "reason", "message", "runbook", "locations", "since", "at", "run_id", "failing_slots"}
    assert body["message"] == "GET /health: status 503, expected 200"  # one line


# --- maintenance windows ------------------------------------------------------------------------

BERLIN_NIGHTLY = MaintenanceWindow("nightly", "Europe/Berlin", cron="0 1 * * *", duration=timedelta(hours=2))


@pytest.mark.parametrize(("at", "inside"), [
    # Winter (CET, UTC+1): 01:00-03:00 local is 00:00-02:00 UTC.
    ("2026-03-28T23:59:00+00:00", False),
    ("2026-03-29T00:00:00+00:00", True),
    # The night of the change (02:00 CET -> 03:00 CEST): two hours of elapsed time from 00:00 UTC.
    ("2026-03-29T01:59:00+00:00", True),
    ("2026-03-29T02:00:00+00:00", False),
    # Summer (CEST, UTC+2): 01:00 local is 23:00 UTC the day before; a fixed +01:00 would say 00:00.
    ("2026-03-29T23:15:00+00:00", True),
    ("2026-03-30T01:30:00+00:00", False),
    # Back to winter on 2026-10-25: 01:00 CEST (23:00 UTC on the 24th), then 01:00 CET on the 26th (00:00 UTC).
    ("2026-10-24T23:30:00+00:00", True),
    ("2026-10-25T23:30:00+00:00", False),
    ("2026-10-26T00:30:00+00:00", True),
])
def test_a_cron_window_follows_the_wall_clock_of_its_time_zone_across_a_dst_change(at, inside):
    assert BERLIN_NIGHTLY.active_at(datetime.fromisoformat(at)) is inside


def test_a_start_end_window_is_read_in_its_time_zone_and_can_cover_only_some_environments():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    window = MaintenanceWindow("upgrade", "America/New_York", start=datetime(2026, 11, 1, 1, 0, tzinfo=zone),
                               end=datetime(2026, 11, 1, 3, 0, tzinfo=zone), envs=("prod",))
    # 2026-11-01 is the US fall-back day: 01:00 EDT (05:00 UTC) to 03:00 EST (08:00 UTC) is 3 hours.
    assert window.active_at(datetime(2026, 11, 1, 7, 30, tzinfo=timezone.utc), "prod")
    assert not window.active_at(datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc), "prod")
    assert not window.active_at(datetime(2026, 11, 1, 7, 30, tzinfo=timezone.utc), "staging")
    assert active_windows([window, BERLIN_NIGHTLY], datetime(2026, 11, 1, 7, 30, tzinfo=timezone.utc), "prod") == [window]


def test_durations_read_as_the_profile_writes_them():
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration(45) == timedelta(seconds=45)
    for bad in ("4 hours", "0s", "-1h", True, "h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# --- the loaders --------------------------------------------------------------------------------


def _load(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "opscheck.yaml"
    path.write_text("service: svc\nsmoke: [{name: health, path: /health}]\n" + textwrap.dedent(text))
    return load_profile(path, environ=env)


def test_the_notify_section_loads_routes_receivers_and_rules(tmp_path):
    profile = _load(tmp_path, """\
        notify:
          failure_threshold: 2
          remind_every: 4h
          quorum: 2
          routes:
            - {match: {severity: critical}, to: [slack-exec]}
            - {match: {severity: [warning, major]}, to: [slack-risk]}
          receivers:
            slack-exec: {slack: "${SLACK_EXEC_WEBHOOK}"}
            slack-risk: {slack: "https://hooks.example/services/T1/B2/risk-token-0123"}
            am: {alertmanager: "http://alertmanager:9093", ttl: 2d}
          fallback: am
        maintenance:
          - {name: backup, cron: "0 2 * * *", duration: 90m, timezone: Europe/Berlin}
        """, SLACK_EXEC_WEBHOOK="https://hooks.example/services/T0/B0/exec-token-4567")
    notify = profile.extras["notify"]
    assert notify.failure_threshold == 2 and notify.quorum == 2 and notify.remind_every == timedelta(hours=4)
    assert notify.receivers["am"].ttl == timedelta(days=2) and notify.fallback == "am"
    assert [r.name for r in notify.receivers_for({"severity": "major"})] == ["slack-risk"]
    # Receiver URLs are secrets of the profile, their token-bearing paths too.
    assert "https://hooks.example/services/T0/B0/exec-token-4567" in profile.secrets
    assert "/services/T1/B2/risk-token-0123" in profile.secrets
    assert profile.extras["maintenance"][0].describe() == "backup (cron '0 2 * * *' for 90m, Europe/Berlin)"


@pytest.mark.parametrize(("text", "expected"), [
    ("notify:\n  receivers: {a: {slack: 'ftp://h/x-secret-path'}}\n",
     "notify.receivers.a.slack: expected an http:// or https:// URL with a host (not shown: such URLs carry secrets)"),
    ("notify:\n  receivers: {a: {slack: 'https://h/x', webhook: 'https://h/y'}}\n",
     "notify.receivers.a: a receiver names exactly one of slack, webhook, alertmanager"),
    ("notify:\n  receivers: {a: {webhook: 'https://h/x'}}\n  routes: [{to: [b]}]\n",
     "notify.routes[0].to[0]: unknown receiver 'b' (receivers: a)"),
    ("notify:\n  receivers: {a: {webhook: 'https://h/x'}}\n  fallback: z\n",
     "notify.fallback: unknown receiver 'z' (receivers: a)"),
    ("notify:\n  receivers: {a: {webhook: 'https://h/x'}}\n  remind_every: soon\n",
     "notify.remind_every: expected a duration such as '30m', '4h' or '7d', got 'soon'"),
    ("maintenance:\n  - {cron: '0 2 * *', duration: 1h}\n",
     "maintenance[0].cron: not a 5-field cron expression: '0 2 * *' (minute hour day month weekday)"),
    ("maintenance:\n  - {cron: '0 2 * * *'}\n", "maintenance[0]: a cron window needs a duration, e.g. duration: 2h"),
    ("maintenance:\n  - {cron: '0 2 30 2 *', duration: 1h}\n", "maintenance[0].cron: '0 2 30 2 *' never matches a date (e.g. 30 February)"),
    ("maintenance:\n  - {cron: '0 2 * * *', duration: 1h, timezone: Mars/Olympus}\n",
     "maintenance[0].timezone: unknown IANA time zone 'Mars/Olympus' (e.g. Europe/Berlin, UTC)"),
    ("maintenance:\n  - {start: '2026-12-24T22:00', end: '2026-12-24T21:00'}\n", "maintenance[0].end: end must be after start"),
    ("maintenance:\n  - {start: 'Christmas', end: '2026-12-24T21:00'}\n",
     "maintenance[0].start: not an ISO 8601 date and time: 'Christmas' (e.g. 2026-12-24T22:00)"),
    ("maintenance:\n  - {cron: '0 2 * * *', duration: 1h, start: '2026-12-24T22:00'}\n",
     "maintenance[0]: a window has either cron with duration, or start and end"),
])
def test_a_bad_notify_or_maintenance_section_is_one_line_naming_file_line_and_field(tmp_path, text, expected):
    with pytest.raises(ProfileError) as caught:
        _load(tmp_path, text)
    lines = str(caught.value).splitlines()
    assert any(line.endswith(expected) and line.startswith(f"{tmp_path / 'opscheck.yaml'}:") for line in lines), lines
    assert "x-secret-path" not in str(caught.value)


def test_why_an_alert_fires_or_resolves_reads_as_one_clause_with_its_counts_in_words():
    def why(rows, state=None, **kw):
        now = max(r.started_at for r in rows) + timedelta(minutes=1)
        return decide(rows, last_state=state, last_firing_at=None, now=now, **kw).why

    assert why(series("passed", "failed")) == "failed in 1 slot in a row (threshold 1)"
    assert why(series("failed", "failed"), failure_threshold=2) == "failed in 2 slots in a row (threshold 2)"
    assert why(series("passed", "failed"), failure_threshold=3) == "failed in 1 of the 3 slots needed to alert"
    assert why(series("failed", "passed"), state="firing") == "passed in 1 slot in a row (threshold 1)"
    assert "(s)" not in why(series("failed", "failed"), state="firing")
