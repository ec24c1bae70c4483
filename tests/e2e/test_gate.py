"""The post-deploy gate (issue 11): `opscheck run --mode gate` against the reference service, healthy
and under each fault; summary.md, $GITHUB_STEP_SUMMARY and workflow annotations; retries and
flaky checks; no checks selected; check ids instead of file paths; -n 2 against serial.

Each run is `opscheck run` in a subprocess, as a pipeline step types it.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opscheck.cli import checks_dir, demo_dir
from opscheck.demo.launcher import DemoService
from tests.conftest import API_KEY, API_KEY_2
from tests.e2e.test_fault_matrix import MATRIX
from tests.e2e.test_xdist_reruns import html_view, junit_view, results_view, summary_view

RUN_TIMEOUT_S = 120
REPO = demo_dir().parent.parent
DEMO_PROFILE = demo_dir() / "opscheck.yaml"
# The sampling families have their own fault tests (tests/e2e/test_perf_checks.py); the gate's
# own rules (exit code, summary, annotations) are the same for every family.
NOT_SAMPLED = ("-m", "not slo and not benchmark and not metrics")


@dataclass
class Gate:
    ret: int
    stdout: str
    report_dir: Path
    step_summary: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "results.json").read_text())

    def check(self, check_id: str) -> dict[str, Any]:
        return next(c for c in self.results["checks"] if c["id"] == check_id)

    @property
    def summary_md(self) -> str:
        return (self.report_dir / "summary.md").read_text()

    def annotations(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(("::error ", "::warning "))]


def run_gate(folder: Path, base_url: str, *args: str, profile: Path = DEMO_PROFILE, github: bool = True) -> Gate:
    folder.mkdir(parents=True, exist_ok=True)
    step_summary = folder / "step_summary.md"
    env = {**os.environ, "OPSCHECK_API_KEYS": f"{API_KEY};{API_KEY_2}"}
    for name in ("PYTEST_BASE_URL", "PYTEST_ADDOPTS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        env.pop(name, None)
    if github:
        env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(step_summary), GITHUB_WORKSPACE=str(REPO))
    if "--env" in args:  # the demo profile's `local` environment reads its URL from DEMO_BASE_URL
        env["DEMO_BASE_URL"] = base_url
        target = []
    else:
        target = ["--base-url", base_url]
    done = subprocess.run(
        [sys.executable, "-m", "opscheck", "run", "--profile", str(profile), *target,
         "--report-dir", str(folder / "reports"), *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    return Gate(done.returncode, done.stdout + done.stderr, folder / "reports", step_summary)


def _profile_line(number: int, profile: Path = DEMO_PROFILE) -> str:
    return profile.read_text().splitlines()[number - 1]


# --- the gate against the reference service --------------------------------------------------


def test_the_gate_passes_the_healthy_reference_service_and_says_so_in_every_output(service, tmp_path):
    gate = run_gate(tmp_path, service().base_url, "--mode", "gate", *NOT_SAMPLED)
    assert gate.ret == 0, gate.stdout[-3000:]
    assert "opscheck verdict: PASS (" in gate.stdout
    assert gate.annotations() == []
    assert gate.summary_md.startswith("## ✅ opscheck: PASS")
    assert "### Failures" not in gate.summary_md
    assert gate.step_summary.read_text() == gate.summary_md
    assert "opscheck reports: " in gate.stdout and "summary.md" in gate.stdout.split("opscheck reports: ", 1)[1].splitlines()[0]
    checks = gate.results["checks"]
    assert len(checks) > 10 and {c["outcome"] for c in checks} == {"passed"}
    # Gate mode leaves out what mutates unless the environment allows it: --base-url is adhoc.
    assert not any(c["id"] in ("limits::ingest-body:at-limit", "schema::openapi:bad-input") for c in checks)


# Every fault of the matrix, in groups whose faults break different checks, so one gate run per
# group shows each fault's failures (test_fault_matrix.py shows each fault alone).
FAULT_GROUPS = (
    ("unhealthy", "no_batch_limit", "auth_bypass", "version_mismatch", "drop_request_id", "stale_data"),
    ("chunked_bypass", "rotation_broken", "schema_drift", "crash_on_bad_input", "kpi_breach"),
    ("no_body_limit", "undocumented_route"),
    ("not_ready",),
)


def test_the_fault_groups_cover_the_matrix_and_never_share_a_check():
    assert sorted(f for group in FAULT_GROUPS for f in group) == sorted(MATRIX)
    for group in FAULT_GROUPS:
        ids = [check_id for fault in group for check_id in MATRIX[fault]]
        assert len(ids) == len(set(ids)), group


@pytest.mark.parametrize("faults", FAULT_GROUPS, ids="+".join)
def test_the_gate_fails_under_each_fault_with_a_summary_and_annotations_at_the_profile_line(service, tmp_path, faults):
    # --env local allows mutating checks, so the faults that only they catch are caught here too;
    # --wait-ready 0: not the mode's wait, so not_ready is caught by its own check (see the next test).
    gate = run_gate(tmp_path, service(*faults).base_url, "--mode", "gate", "--env", "local", "--wait-ready", "0", *NOT_SAMPLED)
    assert gate.ret == 1, gate.stdout[-3000:]
    expected = {check_id: row for fault in faults for check_id, row in MATRIX[fault].items()}
    failed = {c["id"] for c in gate.results["checks"] if c["outcome"] == "failed"}
    assert failed == set(expected), gate.stdout[-3000:]
    summary = gate.summary_md
    assert summary.startswith("## ❌ opscheck: FAIL")
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert len(rows) == len(expected)
    annotations = gate.annotations()
    assert len(annotations) == len(expected)
    for check_id, (reason, anchor, _text) in expected.items():
        row = next(r for r in rows if r.startswith(f"| `{check_id}` |"))
        assert f"| {reason} |" in row and f"RUNBOOK.md#{anchor}" in row
        line = gate.check(check_id)["profile_line"]
        title = f"title={check_id.replace(':', '%3A')}%3A failed ({reason})"
        note = next(a for a in annotations if title in a)
        assert note.startswith(f"::error file=opscheck/demo/opscheck.yaml,line={line},")
        # The line it points at is the check's entry in the profile.
        key = check_id.partition("::")[2].split(":")[0]  # the entry's name, or "openapi" for its probes
        assert key in _profile_line(line), (check_id, line, _profile_line(line))
    assert gate.step_summary.read_text() == summary
    # The annotations go out first; the runbook summary and the verdict are still the last of opscheck's lines.
    assert gate.stdout.index("::error ") < gate.stdout.index("opscheck runbook summary") < gate.stdout.index("opscheck verdict:")


def test_a_gate_whose_service_never_gets_ready_fails_at_once_without_retrying(service, tmp_path):
    # Outside GitHub Actions: summary.md, but no annotations and no step summary.
    gate = run_gate(tmp_path, service("not_ready").base_url, "--mode", "gate", "--wait-ready", "1", *NOT_SAMPLED,
                    github=False)
    assert gate.ret == 1
    checks = gate.results["checks"]
    assert {(c["outcome"], c["reason"], len(c["attempts"])) for c in checks} == {("failed", "timeout", 1)}
    assert "> **Not ready:** service not ready after waiting" in gate.summary_md
    assert "| `smoke::api-health` | critical | timeout | service not ready after waiting" in gate.summary_md
    assert gate.annotations() == [] and "::error" not in gate.stdout
    assert not gate.step_summary.exists()


def test_a_gate_that_selects_no_checks_is_a_usage_error(service, tmp_path):
    gate = run_gate(tmp_path / "serial", service().base_url, "--mode", "gate", "-m", "no_such_family")
    assert gate.ret == 4, gate.stdout[-2000:]
    assert "--mode gate: no checks selected" in gate.stdout
    assert "Traceback" not in gate.stdout
    parallel = run_gate(tmp_path / "parallel", service().base_url, "--mode", "gate", "-m", "no_such_family", "-n", "2")
    assert parallel.ret == 4, parallel.stdout[-2000:]
    assert "--mode gate: no checks selected" in parallel.stdout and "Traceback" not in parallel.stdout


# --- retries and flaky -----------------------------------------------------------------------


@pytest.fixture
def cut_service() -> Iterator[DemoService]:
    """A reference service of its own whose first answer on every path is cut off (fault
    first_request_cut): each test sees every path for the first time (but /health/live, which
    the launcher polls until the service is up)."""
    with DemoService(faults=["first_request_cut"], api_keys=[API_KEY, API_KEY_2]) as service:
        yield service


CUT_PROFILE = """\
service: cut
runbook: RUNBOOK.md
defaults:
  smoke: {runbook: "#api-not-responding", severity: critical}
smoke:
  - {name: health, path: /health, expect: {status: 200, json: {status: ok}}}
  - {name: gone, path: /gone, expect: {status: 404}}
  - {name: teapot, path: /api/items/1, expect: {status: 418}}
"""


def _cut_profile(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "RUNBOOK.md").write_text("# Runbook\n\n## API Not Responding\nRoll back.\n")
    path = folder / "opscheck.yaml"
    path.write_text(CUT_PROFILE)
    return path


def test_a_check_that_passes_only_on_a_retry_is_flaky_everywhere(cut_service, tmp_path):
    profile = _cut_profile(tmp_path)
    gate = run_gate(tmp_path, cut_service.base_url, "--retries", "2", "-m", "smoke", "-k", "not teapot",
                    profile=profile, github=False)
    assert gate.ret == 0, gate.stdout[-3000:]
    for check_id in ("smoke::health", "smoke::gone"):
        check = gate.check(check_id)
        assert check["outcome"] == "flaky" and check["reason"] == "protocol", check
        assert [(a["outcome"], a["reason"]) for a in check["attempts"]] == [("failed", "protocol"), ("passed", None)]
        assert "passed on attempt 2 of 2" in check["message"] and "connection" in check["message"]
    assert gate.results["run"]["counts"]["flaky"] == 2
    # Terminal: its own letter and word, the runbook summary, the verdict.
    assert re.search(r"^smoke RLRL", gate.stdout, re.M), gate.stdout
    assert "FLAKY passed on attempt 2 of 2" in gate.stdout
    assert "opscheck verdict: PASS with flaky results (2 flaky of 2 checks; 2 rerun; exit code 0)" in gate.stdout
    # JUnit: one test case per check, with outcome=flaky and attempts=2.
    root = ET.parse(gate.report_dir / "junit.xml").getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == 2
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["outcome"] == "flaky" and props["attempts"] == "2" and props["reason"] == "protocol"
        assert case.find("failure") is None
    rows = html_view(gate)["rows"]
    assert len(rows) == 2
    for entries in rows.values():
        assert [entry[0] for entry in entries].count("Flaky") == 1 and "Passed" not in [entry[0] for entry in entries]


def test_strict_makes_a_flaky_check_fail(cut_service, tmp_path):
    profile = _cut_profile(tmp_path)
    gate = run_gate(tmp_path, cut_service.base_url, "--retries", "1", "--strict", "-m", "smoke", "-k", "health",
                    profile=profile, github=False)
    assert gate.ret == 1, gate.stdout[-3000:]
    check = gate.check("smoke::health")
    assert check["outcome"] == "failed" and check["reason"] == "protocol"
    assert check["message"].startswith("flaky (failing under --strict): passed on attempt 2 of 2")
    assert [a["outcome"] for a in check["attempts"]] == ["failed", "passed"]


def test_only_transport_reasons_are_retried_unless_retry_on_widens_them(cut_service, tmp_path):
    profile = _cut_profile(tmp_path)
    # /api/items/1 is cut once (protocol: retried), then answers 200 where 418 is expected (status: not retried).
    narrow = run_gate(tmp_path / "narrow", cut_service.base_url, "--retries", "3", "-k", "teapot",
                      profile=profile, github=False)
    assert narrow.ret == 1
    attempts = narrow.check("smoke::teapot")["attempts"]
    assert [(a["outcome"], a["reason"]) for a in attempts] == [("failed", "protocol"), ("failed", "status")]
    wide = run_gate(tmp_path / "wide", cut_service.base_url, "--retries", "3", "--retry-on", "status", "-k", "teapot",
                    profile=_cut_profile(tmp_path / "wide"), github=False)
    assert wide.ret == 1
    assert [a["reason"] for a in wide.check("smoke::teapot")["attempts"]] == ["status"] * 4


def test_without_retries_the_first_request_fault_fails_the_check(cut_service, tmp_path):
    gate = run_gate(tmp_path, cut_service.base_url, "-k", "health", profile=_cut_profile(tmp_path), github=False)
    assert gate.ret == 1
    check = gate.check("smoke::health")
    assert (check["outcome"], check["reason"], len(check["attempts"])) == ("failed", "protocol", 1)


def test_the_retries_section_of_the_profile_turns_retries_on(cut_service, tmp_path):
    profile = _cut_profile(tmp_path)
    profile.write_text(CUT_PROFILE + "retries: {count: 1, delay_s: 0}\n")
    gate = run_gate(tmp_path, cut_service.base_url, "-k", "gone", profile=profile, github=False)
    assert gate.ret == 0, gate.stdout[-3000:]
    assert gate.check("smoke::gone")["outcome"] == "flaky"


def test_an_unknown_reason_in_the_retries_section_is_a_profile_error_at_its_line(service, tmp_path):
    profile = _cut_profile(tmp_path)
    profile.write_text(CUT_PROFILE + "retries:\n  count: 1\n  on: [status, statsu]\n")
    gate = run_gate(tmp_path, service().base_url, profile=profile, github=False)
    assert gate.ret == 4
    assert f"opscheck.yaml:{len(CUT_PROFILE.splitlines()) + 3}: retries.on[1]: unknown reason" in gate.stdout


# --- the terminal and -n 2 -------------------------------------------------------------------


def test_opscheck_run_names_checks_by_family_and_id_never_by_installed_path(service, tmp_path):
    gate = run_gate(tmp_path, service("not_ready").base_url, *NOT_SAMPLED, github=False)
    assert gate.ret == 1
    out = gate.stdout
    assert "site-packages" not in out
    assert str(checks_dir()) not in out and "checks/test_" not in out and "test_smoke.py" not in out
    assert re.search(r"^readiness \.F", out, re.M) and re.search(r"^smoke \.\.\.\.\.", out, re.M), out
    assert "short test summary info" not in out and "= FAILURES =" not in out  # one summary of failures
    assert "readiness::ready" in out[out.index("opscheck runbook summary"):]
    verbose = run_gate(tmp_path / "v", service("not_ready").base_url, "-m", "readiness", "-v", github=False)
    assert re.search(r"^readiness::ready FAILED", verbose.stdout, re.M), verbose.stdout


def test_the_runbook_summary_is_printed_after_pytest_benchmarks_table(service, tmp_path):
    gate = run_gate(tmp_path, service("not_ready").base_url, "-m", "readiness or benchmark", github=False)
    assert gate.ret == 1, gate.stdout[-3000:]
    out = gate.stdout
    table = re.search(r"^-+ benchmark: 1 tests -+$", out, re.M)
    assert table is not None, out[-3000:]
    assert table.start() < out.index("opscheck runbook summary") < out.index("opscheck verdict: FAIL")


XDIST_PROFILE = CUT_PROFILE + "".join(
    f"  - {{name: gone-{n}, path: /gone/{n}, expect: {{status: 404}}}}\n" for n in range(1, 7)
) + "  - {name: missing, path: /missing, expect: {status: 200}, severity: major}\n"


def test_a_gate_under_two_xdist_workers_reports_what_a_serial_gate_reports(cut_service, tmp_path):
    # Every check has a path of its own, so which check meets a path first does not depend on the
    # order the workers run them in; the serial run meets every path first, so the parallel one
    # gets a service of its own.
    profile = _cut_profile(tmp_path)
    profile.write_text(XDIST_PROFILE)
    with DemoService(faults=["first_request_cut"], api_keys=[API_KEY, API_KEY_2]) as other:
        serial = run_gate(tmp_path / "serial", cut_service.base_url, "--mode", "gate", "--retry-delay", "0",
                          profile=profile)
        parallel = run_gate(tmp_path / "parallel", other.base_url, "--mode", "gate", "--retry-delay", "0",
                            "-n", "2", profile=profile)
    assert "2 workers" in parallel.stdout
    assert serial.ret == 1, serial.stdout[-3000:]
    assert parallel.ret == serial.ret, parallel.stdout[-3000:]
    outcomes = serial.results["run"]["counts"]
    assert (outcomes["flaky"], outcomes["failed"]) == (8, 2), serial.stdout[-3000:]

    # The two services differ only in their port.
    def same(view: Any) -> Any:
        return json.loads(json.dumps(view).replace(other.base_url, cut_service.base_url))

    for view in (results_view, junit_view, html_view, summary_view):
        assert same(view(parallel)) == same(view(serial)), view.__name__
    number = re.compile(r"\d+(?:\.\d+)?\s*(?:ms|s)\b|http://127\.0\.0\.1:\d+")
    assert number.sub("N", parallel.summary_md) == number.sub("N", serial.summary_md)
    assert number.sub("N", "\n".join(parallel.annotations())) == number.sub("N", "\n".join(serial.annotations()))
    assert parallel.stdout.count("opscheck verdict:") == 1
    assert len(serial.annotations()) == 10
    progress = parallel.stdout.split("2 workers [", 1)[1].splitlines()[2]  # after "10 items]" and a blank line
    assert progress.count("L") == 8 and progress.count("F") == 2, parallel.stdout


# --- SLO and benchmark checks under xdist ----------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """200 {"ok": true} to every GET, noting when each path was asked (monotonic seconds)."""

    protocol_version = "HTTP/1.1"
    seen: dict[str, list[float]]
    lock: threading.Lock

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with self.lock:
            self.seen.setdefault(self.path, []).append(time.monotonic())
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


SLO_PAIR = """\
service: pair
slo:
  - {name: a, path: /a, requests: 20, rate_per_s: 20, p95_ms: 1000}
  - {name: b, path: /b, requests: 20, rate_per_s: 20, p95_ms: 1000}
"""


def test_two_slo_checks_on_two_xdist_workers_never_sample_at_the_same_time(tmp_path):
    handler = type("Handler", (_Recorder,), {"seen": {}, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        profile = tmp_path / "opscheck.yaml"
        profile.write_text(SLO_PAIR)
        gate = run_gate(tmp_path, f"http://127.0.0.1:{server.server_address[1]}", "-n", "2", profile=profile, github=False)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert gate.ret == 0, gate.stdout[-3000:]
    assert "2 workers" in gate.stdout
    assert "site-packages" not in gate.stdout  # pytest-benchmark's warning from each worker, with its path
    a, b = handler.seen.get("/a", []), handler.seen.get("/b", [])
    assert len(a) >= 20 and len(b) >= 20, gate.stdout[-3000:]
    # One worker each (two items, two workers), yet one check's samples all come before the other's.
    assert max(a) < min(b) or max(b) < min(a), (min(a), max(a), min(b), max(b))


def test_a_run_whose_k_selects_nothing_says_so_instead_of_blaming_the_profile(run_checks, service):
    run = run_checks("--base-url", service().base_url, "-k", "nosuchcheck")
    assert run.ret == 5, run.output
    assert 'opscheck: no checks ran: -k "nosuchcheck" selects none of the profile\'s' in run.output, run.output
    assert "the profile defines no checks" not in run.output


def test_a_profile_found_in_the_working_directory_gives_runbook_links_relative_to_it(service, tmp_path):
    # As a CI step runs it: `opscheck run --mode gate` next to opscheck.yaml, no --profile. A link
    # into the runner's absolute checkout path would open nowhere for the reader of the job summary.
    (tmp_path / "RUNBOOK.md").write_text("# Runbook\n\n## API Not Responding\n\nRestart it.\n")
    (tmp_path / "opscheck.yaml").write_text(
        "service: s\nrunbook: RUNBOOK.md\nsmoke:\n  - {name: gone, path: /nope, runbook: 'API Not Responding'}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_BASE_URL", "PYTEST_ADDOPTS", "OPSCHECK_PROFILE",
                                                            "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")}
    done = subprocess.run([sys.executable, "-m", "opscheck", "run", "--mode", "gate", "--base-url", service().base_url,
                           "--wait-ready", "0"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 1, done.stdout + done.stderr
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "RUNBOOK.md#api-not-responding" in summary and str(tmp_path) not in summary, summary
    check = json.loads((tmp_path / "reports" / "results.json").read_text())["checks"][0]
    assert check["runbook"]["link"] == "RUNBOOK.md#api-not-responding", check["runbook"]
