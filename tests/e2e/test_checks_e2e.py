"""Each check family against the real reference service: green when healthy, the right reason and
runbook section under the fault that breaks it, and no other family disturbed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import PROFILE

ROOT = Path(__file__).resolve().parents[2]
ALL = {"smoke::health", "smoke::items", "smoke::home", "readiness::live", "readiness::ready"}


def test_healthy_service_passes_every_check_and_writes_three_reports(service, run_checks):
    run = run_checks("--base-url", service().base_url)
    assert run.ret == 0, run.output
    assert run.outcomes() == dict.fromkeys(ALL, "passed")
    assert {p.name for p in run.report_dir.iterdir()} >= {"report.html", "junit.xml", "results.json"}
    info = run.results["run"]
    assert info["service"] == "test-svc" and info["base_url"] == service().base_url
    assert info["exit_code"] == 0 and info["environment"] == "adhoc"
    assert "opscheck verdict: PASS" in run.stdout
    schema = json.loads((ROOT / "opscheck/results.schema.json").read_text())
    jsonschema.validate(run.results, schema)


def test_failed_results_match_the_published_schema(service, run_checks):
    run = run_checks("--base-url", service("not_ready", "unhealthy").base_url)
    schema = json.loads((ROOT / "opscheck/results.schema.json").read_text())
    jsonschema.validate(run.results, schema)
    assert run.results["run"]["counts"] == {"passed": 3, "degraded": 0, "flaky": 0, "failed": 2, "skipped": 0}


@pytest.mark.parametrize(
    ("fault", "check_id", "reason", "anchor", "in_message"),
    [
        ("not_ready", "readiness::ready", "status", "database-connection-issues", "status 503, expected 200; down: database"),
        ("unhealthy", "smoke::health", "status", "api-not-responding", "GET /health: status 500, expected 200"),
    ],
)
def test_fault_fails_exactly_its_check_with_reason_and_runbook(service, run_checks, fault, check_id, reason, anchor, in_message):
    run = run_checks("--base-url", service(fault).base_url)
    assert run.ret == 1
    failed = {cid for cid, outcome in run.outcomes().items() if outcome == "failed"}
    assert failed == {check_id}
    check = run.check(check_id)
    assert check["reason"] == reason
    assert in_message in check["message"]
    assert check["runbook"]["anchor"] == anchor
    assert check["runbook"]["link"].endswith(f"RUNBOOK.md#{anchor}")
    assert check["evidence"] and check["evidence"][0]["status"] in (500, 503)


def test_slow_fault_fails_latency_budgets_only(service, run_checks):
    run = run_checks("--base-url", service("slow").base_url)
    assert run.ret == 1
    check = run.check("smoke::health")
    assert check["outcome"] == "failed" and check["reason"] == "latency"
    assert "budget 400 ms" in check["message"]
    # The checks without a budget still pass: slow is not broken.
    assert run.check("smoke::items")["outcome"] == "passed"
    assert run.check("readiness::ready")["outcome"] == "passed"


def test_failure_reaches_terminal_junit_and_html(service, run_checks):
    run = run_checks("--base-url", service("not_ready").base_url)
    out = run.stdout
    assert "opscheck runbook summary" in out
    summary = out[out.index("opscheck runbook summary"):]
    assert "Database Connection Issues  ->  " in summary
    assert "| Check the database before restarting the service." in summary
    assert "critical  readiness::ready" in summary
    assert "[status] GET /health/ready: status 503" in out

    tree = ET.parse(run.report_dir / "junit.xml")
    case = next(tc for tc in tree.iter("testcase") if tc.get("name") == "test_readiness[ready]")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["severity"] == "critical" and props["reason"] == "status"
    assert props["runbook"].endswith("#database-connection-issues")
    assert case.find("failure").get("message").startswith("[status] GET /health/ready")

    html = (run.report_dir / "report.html").read_text()
    assert "#database-connection-issues" in html and "col-reason" in html
    assert "opscheck version" in html and "test-svc" in html


def test_mutating_checks_skip_unless_the_environment_allows_them(service, run_checks):
    adhoc = run_checks("--base-url", service().base_url, profile=_append_smoke(PROFILE, INGEST))
    ingest = adhoc.check("smoke::ingest")
    assert ingest["outcome"] == "skipped" and "does not allow mutating" in ingest["message"]
    assert adhoc.ret == 0

    allowed = run_checks("--env", "staging", "--base-url", service().base_url, profile=_append_smoke(PROFILE, INGEST))
    assert allowed.check("smoke::ingest")["outcome"] == "passed", allowed.output
    assert allowed.results["run"]["environment"] == "staging"


INGEST = "  - {name: ingest, method: POST, path: /api/ingest, json: [{id: 1, text: x}], expect: {status: 202}}\n"


def _append_smoke(profile: str, entry: str) -> str:
    head, tail = profile.split("readiness:", 1)
    return head + entry + "readiness:" + tail


def test_wait_ready_gives_up_with_reason_timeout_and_the_last_answer(service, run_checks):
    run = run_checks("--base-url", service("not_ready").base_url, "--wait-ready", "1.5")
    assert run.ret == 1
    assert set(run.outcomes().values()) == {"failed"}
    for check in run.results["checks"]:
        assert check["reason"] == "timeout"
        assert "service not ready after waiting" in check["message"]
        assert "last answer: status 503 (down: database)" in check["message"]
    assert "NOT READY:" in run.stdout


def test_wait_ready_passes_through_when_ready(service, run_checks):
    run = run_checks("--base-url", service().base_url, "--wait-ready", "10")
    assert run.ret == 0
    assert "opscheck: ready after" in run.stdout


def test_a_profile_without_checks_is_not_a_pass(service, run_checks):
    run = run_checks("--base-url", service().base_url, profile="service: empty\n")
    assert run.ret == 5
