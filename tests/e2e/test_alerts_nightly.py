"""Alerts on state change through whole nightly runs: the reference service with a fault switched on
and off, the run history in SQLite, a recording webhook receiver on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.recording_receiver import RecordingReceiver

RESULTS_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "opscheck" / "results.schema.json").read_text())


def _valid(results: dict) -> dict:
    import jsonschema

    jsonschema.Draft202012Validator(RESULTS_SCHEMA).validate(results)
    return results

PROFILE = """\
service: alerts-svc
runbook: RUNBOOK.md
http: {timeout_s: 2, deadline_s: 5}
defaults:
  smoke: {runbook: "#api-not-responding", severity: critical}
smoke:
  - {name: health, path: /health, expect: {status: 200}}
  - {name: home, path: /, expect: {status: 200}, severity: warning}
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingReceiver]:
    server = RecordingReceiver()
    yield server
    server.close()


def _nightly(run_checks, base_url: str, history: str, *extra: str, profile: str = PROFILE):
    result = run_checks(f"--base-url={base_url}", "--history", history, "--slot", "1s", "--location", "here",
                        *extra, profile=profile)
    # The next run must fall in the next 1 s slot: wait only if this one ended within its start's second.
    from datetime import datetime

    started = datetime.fromisoformat(result.results["run"]["started_at"]).timestamp()
    time.sleep(max(0.0, int(started) + 1.02 - time.time()))
    return result


def test_a_fault_switched_on_and_off_gives_one_failing_and_one_recovery_alert(run_checks, service, receiver, tmp_path):
    healthy, broken = service().base_url, service("unhealthy").base_url
    history = str(tmp_path / "history.db")
    hook = f"{receiver.url}/nightly-hook"
    receiver.clear()
    outcomes, outputs = [], []
    for base in (healthy, broken, broken, healthy, healthy):
        run = _nightly(run_checks, base, history, "--notify", hook)
        outcomes.append(run.outcomes()["smoke::health"])
        outputs.append(run.output)
        assert "notifications" in _valid(run.results), run.output
    assert outcomes == ["passed", "failed", "failed", "passed", "passed"]
    # The terminal names where an alert went (a webhook, not "cli", which read as the terminal), in one flat line.
    assert 'FIRING smoke::health -> webhook receiver "notify-url": failed in 1 slot in a row (threshold 1)' in outputs[1]
    assert 'RESOLVED smoke::health -> webhook receiver "notify-url": passed in 1 slot in a row (threshold 1)' in outputs[3]
    alerts = receiver.bodies("/nightly-hook")
    assert [(a["check"], a["state"]) for a in alerts] == [("smoke::health", "firing"), ("smoke::health", "resolved")]
    firing, resolved = alerts
    assert firing["reason"] == "status" and firing["severity"] == "critical" and firing["service"] == "alerts-svc"
    assert "500" in firing["message"] and firing["runbook"]["section"] == "API Not Responding"
    assert firing["locations"] == ["here"] and firing["since"] is not None
    assert resolved["reason"] == "status"  # the failure it resolves


def test_the_run_says_why_there_are_no_alerts_without_a_history(run_checks, service, receiver):
    receiver.clear()
    run = run_checks(f"--base-url={service('unhealthy').base_url}", "--notify", f"{receiver.url}/no-history")
    assert run.ret == 1
    assert _valid(run.results)["notifications"]["status"] == "no_history"
    assert "alerts need the run history" in run.output
    assert receiver.bodies("/no-history") == []


def test_a_receiver_that_hangs_or_answers_500_neither_fails_nor_hangs_the_run(run_checks, service, receiver, tmp_path):
    profile = PROFILE + f"""\
notify:
  timeout_s: 1
  receivers:
    hangs: {{webhook: "{receiver.url}/hang/secret-token-aaaa"}}
    broken: {{webhook: "{receiver.url}/status/500/secret-token-bbbb"}}
    fallback: {{webhook: "{receiver.url}/fallback"}}
  routes:
    - {{to: [hangs, broken]}}
  fallback: fallback
"""
    receiver.clear()
    history = str(tmp_path / "history.db")
    _nightly(run_checks, service().base_url, history, profile=profile)
    started = time.monotonic()
    run = _nightly(run_checks, service("unhealthy").base_url, history, profile=profile)
    elapsed = time.monotonic() - started
    assert run.ret == 1  # the check failed; the receivers changed nothing
    # Two sends of at most 1 s each per receiver, a 0.5 s pause, pytest's own start: well under 20 s.
    assert elapsed < 20, elapsed
    section = _valid(run.results)["notifications"]
    assert section["status"] == "delivery_failed"
    by_receiver = {d["receiver"]: d for d in section["deliveries"]}
    assert by_receiver["hangs"]["ok"] is False and by_receiver["hangs"]["attempts"] == 2
    assert by_receiver["hangs"]["error"].startswith("timeout")
    assert by_receiver["broken"]["ok"] is False and by_receiver["broken"]["error"].startswith("status 500")
    assert by_receiver["fallback"]["ok"] is True and by_receiver["fallback"]["state"] == "fallback"
    told = receiver.bodies("/fallback")
    assert {b["failed_receiver"] for b in told} == {"hangs", "broken"}
    assert 'NOT DELIVERED to webhook receiver "hangs"' in run.output
    # The URLs are secrets: not in the terminal, not in results.json, not in what the fallback heard.
    for text in (run.output, run.results_text, json.dumps(told)):
        assert "secret-token" not in text


def _routed_profile(receiver: RecordingReceiver, maintenance: str = "") -> str:
    return PROFILE + f"""\
  - {{name: health-page, path: /health, expect: {{status: 200}}, severity: warning}}
notify:
  routes:
    - {{match: {{severity: critical}}, to: [slack-exec]}}
    - {{match: {{severity: warning}}, to: [risk]}}
  receivers:
    slack-exec: {{slack: "${{SLACK_EXEC_WEBHOOK}}"}}
    risk: {{webhook: "{receiver.url}/risk"}}
{maintenance}"""


def test_no_alert_is_sent_inside_a_maintenance_window_and_the_runs_are_marked_in_the_history(
        run_checks, service, receiver, tmp_path, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from opscheck.history.store import open_store

    monkeypatch.setenv("SLACK_EXEC_WEBHOOK", f"{receiver.url}/services/T000/B000/slack-secret-0123")
    now = datetime.now(timezone.utc).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    window = (f"maintenance:\n  - {{name: upgrade, timezone: Europe/Berlin, "
              f"start: '{(now - timedelta(hours=1)):%Y-%m-%dT%H:%M}', end: '{(now + timedelta(hours=1)):%Y-%m-%dT%H:%M}'}}\n")
    history = str(tmp_path / "history.db")
    broken = service("unhealthy").base_url
    receiver.clear()
    inside = _nightly(run_checks, broken, history, profile=_routed_profile(receiver, window))
    assert inside.ret == 1
    assert _valid(inside.results)["notifications"]["status"] == "maintenance"
    assert "no alerts: inside maintenance window upgrade" in inside.output
    assert inside.results["history"]["maintenance"] is True
    assert receiver.received == []
    store = open_store(history)
    try:
        assert [r.maintenance for r in store.check_runs("alerts-svc", "adhoc", "smoke::health")] == [True]
    finally:
        store.close()

    # The window over, the same failure alerts: routed by severity, critical to Slack, warning to the webhook.
    after = _nightly(run_checks, broken, history, profile=_routed_profile(receiver))
    assert after.results["notifications"]["status"] == "sent", after.results["notifications"]
    (slack,) = receiver.bodies("/services/T000/B000/slack-secret-0123")
    (risk,) = receiver.bodies("/risk")
    assert "smoke::health" in slack["text"] and "*critical*" in slack["text"] and "alerts-svc" in slack["text"]
    assert "<http" not in slack["text"] or "RUNBOOK.md#api-not-responding|API Not Responding>" in slack["text"]
    assert risk["check"] == "smoke::health-page" and risk["severity"] == "warning"
    assert "slack-secret-0123" not in after.output + after.results_text
