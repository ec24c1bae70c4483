"""Alerts on state change through whole nightly runs: the reference service with a fault switched on
and off, the run history in SQLite, a recording webhook receiver on loopback."""

from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from tests.recording_receiver import RecordingReceiver

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
    time.sleep(1.05)  # the next run falls in the next 1 s slot
    return result


def test_a_fault_switched_on_and_off_gives_one_failing_and_one_recovery_alert(run_checks, service, receiver, tmp_path):
    healthy, broken = service().base_url, service("unhealthy").base_url
    history = str(tmp_path / "history.db")
    hook = f"{receiver.url}/nightly-hook"
    receiver.clear()
    outcomes = []
    for base in (healthy, broken, broken, healthy, healthy):
        run = _nightly(run_checks, base, history, "--notify", hook)
        outcomes.append(run.outcomes()["smoke::health"])
        assert "notifications" in run.results, run.output
    assert outcomes == ["passed", "failed", "failed", "passed", "passed"]
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
    assert run.results["notifications"]["status"] == "no_history"
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
    section = run.results["notifications"]
    assert section["status"] == "delivery_failed"
    by_receiver = {d["receiver"]: d for d in section["deliveries"]}
    assert by_receiver["hangs"]["ok"] is False and by_receiver["hangs"]["attempts"] == 2
    assert by_receiver["hangs"]["error"].startswith("timeout")
    assert by_receiver["broken"]["ok"] is False and by_receiver["broken"]["error"].startswith("status 500")
    assert by_receiver["fallback"]["ok"] is True and by_receiver["fallback"]["state"] == "fallback"
    told = receiver.bodies("/fallback")
    assert {b["failed_receiver"] for b in told} == {"hangs", "broken"}
    assert "NOT DELIVERED to hangs" in run.output
    # The URLs are secrets: not in the terminal, not in results.json, not in what the fallback heard.
    for text in (run.output, run.results_text, json.dumps(told)):
        assert "secret-token" not in text
