"""Alerts through a real Alertmanager (Debian's prometheus-alertmanager, started here): its routes
send a critical and a warning alert to different webhook receivers, and a recovery resolves them."""

from __future__ import annotations

import textwrap
import time
from datetime import datetime, timedelta, timezone
from typing import Iterator

import httpx
import pytest

from tests.promstack import Server, free_port, start
from tests.recording_receiver import RecordingReceiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingReceiver]:
    server = RecordingReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory, receiver) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("alertmanager")
    port = free_port()
    config = work / "alertmanager.yml"
    config.write_text(textwrap.dedent(f"""\
        route:
          receiver: default
          group_by: [alertname, service, check]
          group_wait: 100ms
          group_interval: 1s
          repeat_interval: 1h
          routes:
            - {{matchers: ['severity="critical"'], receiver: exec}}
            - {{matchers: ['severity="warning"'], receiver: risk}}
        receivers:
          - {{name: default, webhook_configs: [{{url: "{receiver.url}/am-default"}}]}}
          - {{name: exec, webhook_configs: [{{url: "{receiver.url}/am-exec", send_resolved: true}}]}}
          - {{name: risk, webhook_configs: [{{url: "{receiver.url}/am-risk", send_resolved: true}}]}}
        """))
    server = start("prometheus-alertmanager", [f"--config.file={config}", f"--storage.path={work / 'data'}",
                                               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                   port, "/-/ready", work)
    yield server
    server.stop()


def _profile(alertmanager_url: str) -> str:
    return f"""\
service: am-svc
runbook: RUNBOOK.md
runbook_url: https://git.example/ops/RUNBOOK.md
http: {{timeout_s: 2, deadline_s: 5}}
defaults:
  smoke: {{runbook: "#api-not-responding"}}
smoke:
  - {{name: health, path: /health, expect: {{status: 200}}, severity: critical}}
  - {{name: health-page, path: /health, expect: {{status: 200}}, severity: warning}}
notify:
  receivers:
    am: {{alertmanager: "{alertmanager_url}"}}
"""


def test_a_critical_and_a_warning_alert_reach_different_receivers_through_alertmanager(run_checks, service, receiver,
                                                                                        alertmanager, tmp_path):
    profile = _profile(alertmanager.url)
    history = str(tmp_path / "history.db")
    common = ("--history", history, "--slot", "1s", "--location", "eu-west")
    run = run_checks(f"--base-url={service('unhealthy').base_url}", *common, profile=profile)
    assert run.ret == 1
    sent = run.results["notifications"]
    assert sent["status"] == "sent", sent
    assert sorted((d["check"], d["ok"]) for d in sent["deliveries"]) == [("smoke::health", True), ("smoke::health-page", True)]

    (exec_group,) = receiver.wait_for("/am-exec", 1, timeout_s=15)[:1]
    (risk_group,) = receiver.wait_for("/am-risk", 1, timeout_s=15)[:1]
    critical = exec_group["alerts"][0]
    warning = risk_group["alerts"][0]
    assert [a["labels"]["check"] for a in exec_group["alerts"]] == ["smoke::health"]
    assert [a["labels"]["check"] for a in risk_group["alerts"]] == ["smoke::health-page"]
    assert {k: critical["labels"][k] for k in ("service", "env", "check", "family", "severity", "reason")} == {
        "service": "am-svc", "env": "adhoc", "check": "smoke::health", "family": "smoke", "severity": "critical",
        "reason": "status"}
    assert warning["labels"]["severity"] == "warning"
    assert critical["annotations"]["runbook_url"] == "https://git.example/ops/RUNBOOK.md#api-not-responding"
    assert "FAILING: smoke::health on am-svc" in critical["annotations"]["summary"]
    assert "500" in critical["annotations"]["description"]
    assert receiver.bodies("/am-default") == []

    # Still failing: no new alert, but Alertmanager is told again that both still fire (a refresh).
    time.sleep(1.05)  # the next run in the next 1 s slot
    run = run_checks(f"--base-url={service('unhealthy').base_url}", *common, profile=profile)
    again = run.results["notifications"]
    assert again["alerts"] == [] and sorted(d["refresh"] for d in again["deliveries"]) == [True, True]
    active = httpx.get(f"{alertmanager.url}/api/v2/alerts", params={"filter": 'service="am-svc"'}, timeout=5).json()
    assert sorted(a["labels"]["check"] for a in active if a["status"]["state"] == "active") == [
        "smoke::health", "smoke::health-page"]
    ends = datetime.fromisoformat(active[0]["endsAt"].replace("Z", "+00:00"))
    assert ends - datetime.now(timezone.utc) > timedelta(hours=24)  # the receiver's ttl, 25 h by default
    assert len(receiver.bodies("/am-exec")) == 1  # Alertmanager deduplicated it: nobody is paged twice

    time.sleep(1.05)
    run = run_checks(f"--base-url={service().base_url}", *common, profile=profile)
    assert run.ret == 0
    assert [a["action"] for a in run.results["notifications"]["alerts"]] == ["resolved", "resolved"]
    resolved = [b for b in receiver.wait_for("/am-exec", 2, timeout_s=15) if b["status"] == "resolved"]
    assert resolved and resolved[0]["alerts"][0]["labels"]["check"] == "smoke::health"
    assert resolved[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
