"""Alert decisions over synthetic history rows written through the real store (SQLite): the state
lives in the history, so separate processes (here: separate Notifier objects) agree on it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from opscheck.config.notify import NotifyConfig, Receiver
from opscheck.evidence.redact import Redactor
from opscheck.history.store import open_store
from opscheck.notify.dispatch import Notifier
from opscheck.results import CheckResult, RunInfo

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
CHECK = "smoke::health"
SLOT = timedelta(minutes=5)


def _record(outcome: str) -> CheckResult:
    record = CheckResult(id=CHECK, nodeid=f"test_smoke.py::test_smoke[health]", family="smoke", name="health",
                         severity="critical", runbook=None, profile_field="smoke[0]", profile_line=3)
    record.outcome = outcome
    record.reason = "connect" if outcome == "failed" else None
    record.message = "GET /health: connection refused" if outcome == "failed" else None
    record.settled = record.finished = True
    return record


class Fleet:
    """Runs written through the store, one per location and slot, each followed by that run's
    alert decision (as its own nightly process would make it). Counts what would be sent."""

    def __init__(self, tmp_path, config: NotifyConfig) -> None:
        self.store = open_store(str(tmp_path / "history.db"))
        self.config = config
        self.sent: list[tuple[str, str, datetime]] = []

    def run(self, slot: int, location: str, outcome: str) -> None:
        at = T0 + slot * SLOT + timedelta(seconds=len(location))
        run = RunInfo(service="svc", environment="prod", base_url=None, profile="opscheck.yaml",
                      started_at=at.isoformat(timespec="seconds"), duration_s=1.0, exit_code=0 if outcome == "passed" else 1)
        record = _record(outcome)
        write = self.store.record_run(run, [record], location=location, release=None,
                                      run_key=f"svc/prod/{location}/{slot}", profile_path="opscheck.yaml",
                                      profile_hash="", slot=T0 + slot * SLOT)
        notifier = Notifier(self.config, self.store, Redactor(), service="svc", env="prod", location=location,
                            now=lambda: at + timedelta(seconds=1))
        for item in notifier.plan([record], write.run_id):
            if item.decision.action in ("firing", "resolved", "reminder"):
                state = "resolved" if item.decision.action == "resolved" else "firing"
                self.store.record_delivery(service="svc", env="prod", check_id=CHECK, receiver="hook", state=state,
                                           attempts=1, ok=True, run_id=write.run_id, sent_at=at + timedelta(seconds=1))
                self.sent.append((item.decision.action, location, at))


def _config(**rules) -> NotifyConfig:
    return NotifyConfig(receivers={"hook": Receiver("hook", "webhook", "http://127.0.0.1:9/hook")}, **rules)


def _runs(fleet: Fleet, outages: dict[tuple[int, str], str], slots: int = 200) -> None:
    for slot in range(slots):
        for location in ("eu-west", "us-east"):
            fleet.run(slot, location, outages.get((slot, location), "passed"))


@pytest.mark.parametrize("rules", [{"quorum": 2}, {"failure_threshold": 2}], ids=["quorum-2", "failure-threshold-2"])
def test_200_healthy_runs_with_a_one_run_blip_at_one_location_alert_nobody(tmp_path, rules):
    fleet = Fleet(tmp_path, _config(**rules))
    _runs(fleet, {(120, "eu-west"): "failed"})
    assert fleet.sent == []


def test_the_same_blip_alerts_without_quorum_or_threshold_so_the_rule_is_what_keeps_it_quiet(tmp_path):
    fleet = Fleet(tmp_path, _config())
    _runs(fleet, {(40, "eu-west"): "failed"}, slots=60)
    assert [(a, loc) for a, loc, _ in fleet.sent] == [("firing", "eu-west"), ("resolved", "eu-west")]


def test_with_quorum_two_an_outage_seen_from_both_locations_fires_once_and_resolves_once(tmp_path):
    fleet = Fleet(tmp_path, _config(quorum=2))
    outage = {(slot, loc): "failed" for slot in (50, 51, 52) for loc in ("eu-west", "us-east")}
    _runs(fleet, outage, slots=60)
    # The second location to see slot 50 fail completes the quorum; the first to pass slot 53 ends it.
    assert [(a, loc) for a, loc, _ in fleet.sent] == [("firing", "us-east"), ("resolved", "eu-west")]


def test_a_still_failing_check_reminds_after_remind_every_and_unknown_runs_change_nothing(tmp_path):
    fleet = Fleet(tmp_path, _config(remind_every=timedelta(minutes=30)))
    for slot in range(30):
        outcome = "passed" if slot < 5 else ("skipped" if slot % 7 == 0 else "failed")
        fleet.run(slot, "eu-west", outcome)
    actions = [a for a, _, _ in fleet.sent]
    # Failing from slot 5 (25 min) to slot 29: one firing, then a reminder every 30 min (6 slots).
    assert actions == ["firing", "reminder", "reminder", "reminder", "reminder"]
