"""Results survive pytest-xdist and pytest-rerunfailures (issue 10 §5).

Each check's record travels on its test report and is merged on the controller under one
precedence rule, so `opscheck run -n 2` says what a serial run says, and a rerun check appears once
with every attempt kept. The four outputs are compared: the terminal's runbook summary and verdict,
results.json, junit.xml and report.html (pytest-html's data blob), each without timing fields.
"""

from __future__ import annotations

import html
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opscheck.cli import demo_dir
from tests.conftest import API_KEY, API_KEY_2

RUN_TIMEOUT_S = 240

# Fields that differ between any two runs, serial or not: timings, measured values, and the
# exchanges themselves (request ids, counters in bodies; and each xdist worker fetches a document
# the run caches, e.g. the OpenAPI document, once for itself, so evidence lists may differ too).
TIMING = {"duration_ms", "duration_s", "started_at", "time", "timestamp", "measurements", "observed", "evidence"}
_NUMBER_WITH_UNIT = re.compile(r"\d+(?:\.\d+)?\s*(?:ms|s)\b")


@dataclass
class Outputs:
    ret: int
    stdout: str
    report_dir: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "results.json").read_text())


def opscheck_run(folder: Path, *args: str, profile: Path, base_url: str) -> Outputs:
    """`opscheck run` in a subprocess, as a user types it; reports into folder/reports."""
    report_dir = folder / "reports"
    env = {**os.environ, "OPSCHECK_API_KEYS": f"{API_KEY};{API_KEY_2}"}
    env.pop("PYTEST_BASE_URL", None)
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "opscheck", "run", "--profile", str(profile), "--base-url", base_url,
         "--report-dir", str(report_dir), *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    return Outputs(done.returncode, done.stdout + done.stderr, report_dir)


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str):
        return _NUMBER_WITH_UNIT.sub("N", value)
    return value


def results_view(out: Outputs) -> dict[str, Any]:
    data = out.results
    return {"run": _norm(data["run"]), "checks": [_norm(c) for c in data["checks"]]}


def junit_view(out: Outputs) -> dict[str, Any]:
    root = ET.parse(out.report_dir / "junit.xml").getroot()
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    assert suite is not None
    cases: dict[str, Any] = {}
    for case in suite.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        assert name not in cases, f"{name} is written more than once"
        verdicts = [(child.tag, _NUMBER_WITH_UNIT.sub("N", child.get("message") or ""))
                    for child in case if child.tag in ("failure", "error", "skipped")]
        props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
        cases[name] = {"verdicts": verdicts, "properties": props}
    counts = {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")}
    return {"counts": counts, "cases": cases}


def html_view(out: Outputs) -> dict[str, Any]:
    page = (out.report_dir / "report.html").read_text()
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    rows: dict[str, Any] = {}
    for nodeid, entries in blob["tests"].items():
        rows[nodeid] = sorted(
            (entry["result"], *[re.sub(r"<[^>]+>", "", cell) for cell in entry["resultsTableRow"]
                                if 'class="col-reason"' in cell or 'class="col-runbook"' in cell])
            for entry in entries)
    filters = re.findall(r'<span class="(\w+)">(\d+) ', page)
    return {"rows": rows, "filters": sorted(filters)}


def summary_view(out: Outputs) -> list[str]:
    """The runbook summary and the verdict line, without the report paths and timings."""
    text = out.stdout
    start = text.find("opscheck runbook summary")
    lines = text[start if start >= 0 else text.index("opscheck verdict:"):].splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("opscheck verdict:"))
    return [_NUMBER_WITH_UNIT.sub("N", line) for line in lines[:end + 1]]


def assert_same_everywhere(serial: Outputs, parallel: Outputs) -> None:
    assert parallel.ret == serial.ret, parallel.stdout[-3000:]
    assert summary_view(parallel) == summary_view(serial)
    assert results_view(parallel) == results_view(serial)
    assert junit_view(parallel) == junit_view(serial)
    assert html_view(parallel) == html_view(serial)


# --- pytest-xdist -----------------------------------------------------------------------------

# pytest-benchmark turns itself off under xdist (its own rule: timings from parallel workers are
# not comparable), so the comparison leaves the benchmark family out of both runs.
NO_BENCHMARK = ("-m", "not benchmark")


def test_a_run_with_two_xdist_workers_reports_what_a_serial_run_reports(service, tmp_path):
    base_url = service("not_ready").base_url
    profile = demo_dir() / "opscheck.yaml"
    (tmp_path / "serial").mkdir()
    (tmp_path / "parallel").mkdir()
    serial = opscheck_run(tmp_path / "serial", *NO_BENCHMARK, profile=profile, base_url=base_url)
    parallel = opscheck_run(tmp_path / "parallel", *NO_BENCHMARK, "-n", "2", profile=profile, base_url=base_url)
    assert serial.ret == 1, serial.stdout[-3000:]
    assert "no checks ran" not in parallel.stdout and "defines none" not in parallel.stdout
    assert len(serial.results["checks"]) > 10
    assert any(c["outcome"] == "failed" for c in serial.results["checks"])
    assert "2 workers" in parallel.stdout  # it really ran under xdist
    assert_same_everywhere(serial, parallel)


def test_only_the_xdist_controller_writes_results_json_and_the_summary(service, tmp_path):
    profile = tmp_path / "opscheck.yaml"
    profile.write_text("service: tiny\nsmoke:\n"
                       "  - {name: health, path: /health, expect: {status: 200}}\n"
                       "  - {name: gone, path: /nope, expect: {status: 200}}\n")
    out = opscheck_run(tmp_path, "-n", "2", profile=profile, base_url=service().base_url)
    assert out.ret == 1, out.stdout[-3000:]
    assert out.stdout.count("opscheck verdict:") == 1
    assert "opscheck verdict: FAIL (1 passed, 1 failed of 2 checks; exit code 1)" in out.stdout
    assert [c["id"] for c in out.results["checks"]] == ["smoke::health", "smoke::gone"]  # collection order
    assert sorted(p.name for p in out.report_dir.iterdir()) == ["junit.xml", "report.html", "results.json"]


# --- pytest-rerunfailures ---------------------------------------------------------------------


class _FirstRequestFails(http.server.BaseHTTPRequestHandler):
    """503 to the first request for each path, 200 to every later one; `fail_always` paths always 503."""

    seen: set[str]
    fail_always: set[str]
    lock: threading.Lock

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        with self.lock:
            first = self.path not in self.seen
            self.seen.add(self.path)
        status = 503 if first or self.path in self.fail_always else 200
        body = json.dumps({"status": "ok" if status == 200 else "warming up"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def wobbly() -> Iterator[str]:
    """A loopback service whose every path fails once, then answers; /down never answers 200."""
    handler = type("Handler", (_FirstRequestFails,), {"seen": set(), "fail_always": {"/down"}, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


WOBBLY_PROFILE = """\
service: wobbly
smoke:
  - {name: first, path: /first, expect: {status: 200}}
  - {name: second, path: /second, expect: {status: 200}}
"""


def test_a_check_that_passes_on_its_rerun_is_flaky_once_everywhere_with_both_attempts(wobbly, tmp_path):
    profile = tmp_path / "opscheck.yaml"
    profile.write_text(WOBBLY_PROFILE)
    out = opscheck_run(tmp_path, "--reruns", "1", profile=profile, base_url=wobbly)
    assert out.ret == 0, out.stdout[-3000:]
    # A pass on a rerun is flaky, never plain green (issue 11): shown in the summary, not failing the run.
    assert "opscheck verdict: PASS with flaky results (2 flaky of 2 checks; 2 rerun; exit code 0)" in out.stdout
    assert "FLAKY passed on attempt 2 of 2" in out.stdout
    checks = out.results["checks"]
    assert [c["id"] for c in checks] == ["smoke::first", "smoke::second"]
    assert out.results["run"]["counts"]["flaky"] == 2 and out.results["run"]["counts"]["failed"] == 0
    for check in checks:
        assert (check["outcome"], check["reason"]) == ("flaky", "status")
        assert check["message"].startswith("passed on attempt 2 of 2")
        attempts = check["attempts"]
        assert [(a["outcome"], a["reason"]) for a in attempts] == [("failed", "status"), ("passed", None)]
        assert "status 503" in attempts[0]["message"] and attempts[1]["message"] is None
        assert all(a["duration_ms"] >= 0 for a in attempts)
        assert check["evidence"][-1]["status"] == 200  # the evidence is the verdict's own attempt
    junit = junit_view(out)
    assert junit["counts"] == {"tests": "2", "failures": "0", "errors": "0", "skipped": "0"}
    assert len(junit["cases"]) == 2  # one test case per check, not one per attempt
    for case in junit["cases"].values():
        assert case["verdicts"] == [] and ("attempts", "2") in case["properties"]
        assert ("outcome", "flaky") in case["properties"] and ("reason", "status") in case["properties"]
    rows = html_view(out)["rows"]
    for nodeid, entries in rows.items():
        results = [entry[0] for entry in entries]
        assert results.count("Flaky") == 1 and "Failed" not in results, (nodeid, entries)
        assert ("Rerun", "status", "") in entries  # the first attempt is shown as what it was


def test_a_check_that_fails_every_attempt_fails_once_everywhere(wobbly, tmp_path):
    profile = tmp_path / "opscheck.yaml"
    profile.write_text("service: wobbly\nsmoke:\n  - {name: down, path: /down, expect: {status: 200}}\n")
    out = opscheck_run(tmp_path, "--reruns", "2", profile=profile, base_url=wobbly)
    assert out.ret == 1, out.stdout[-3000:]
    assert "opscheck verdict: FAIL (1 failed of 1 checks; 1 rerun; exit code 1)" in out.stdout
    check = out.results["checks"][0]
    assert (check["outcome"], check["reason"]) == ("failed", "status")
    assert [a["outcome"] for a in check["attempts"]] == ["failed", "failed", "failed"]
    junit = junit_view(out)
    assert junit["counts"]["failures"] == "1" and len(junit["cases"]) == 1
    (case,) = junit["cases"].values()
    assert [tag for tag, _ in case["verdicts"]] == ["failure"] and ("reason", "status") in case["properties"]


def test_reruns_under_xdist_report_what_a_serial_run_with_reruns_reports(tmp_path):
    outputs = []
    profile = tmp_path / "opscheck.yaml"
    profile.write_text(WOBBLY_PROFILE + "  - {name: down, path: /down, expect: {status: 200}}\n")
    for name, extra in (("serial", ()), ("parallel", ("-n", "2"))):
        handler = type("Handler", (_FirstRequestFails,), {"seen": set(), "fail_always": {"/down"}, "lock": threading.Lock()})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            folder = tmp_path / name
            folder.mkdir()
            outputs.append(opscheck_run(folder, "--reruns", "1", *extra,
                                        profile=profile, base_url=f"http://127.0.0.1:{server.server_address[1]}"))
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    serial, parallel = outputs
    assert serial.ret == 1 and "1 failed" in serial.stdout
    # The base URL (a fresh port per run) is in results.json's run and in each evidence URL.
    port = re.compile(r"127\.0\.0\.1:\d+")
    for out in outputs:
        text = (out.report_dir / "results.json").read_text()
        (out.report_dir / "results.json").write_text(port.sub("127.0.0.1:PORT", text))
    assert_same_everywhere(serial, parallel)


def test_no_target_under_xdist_is_the_same_usage_error_without_a_traceback(tmp_path):
    profile = tmp_path / "opscheck.yaml"
    profile.write_text(WOBBLY_PROFILE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_BASE_URL", "PYTEST_ADDOPTS")}
    done = subprocess.run([sys.executable, "-m", "opscheck", "run", "--profile", str(profile), "-n", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-3000:]
    assert "no target: pass --base-url URL (or PYTEST_BASE_URL) or --env NAME" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_an_unreachable_target_under_xdist_is_named_as_a_serial_run_names_it(tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port with nothing listening once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = tmp_path / "opscheck.yaml"
    profile.write_text(WOBBLY_PROFILE)
    outputs = []
    for name, extra in (("serial", ()), ("parallel", ("-n", "2"))):
        (tmp_path / name).mkdir()
        outputs.append(opscheck_run(tmp_path / name, *extra, profile=profile, base_url=f"http://127.0.0.1:{port}"))
    serial, parallel = outputs
    line = f"TARGET UNREACHABLE: http://127.0.0.1:{port}: GET /first: connection refused"
    assert line in serial.stdout and line in parallel.stdout
    assert parallel.ret == serial.ret == 1
    assert summary_view(parallel)[-1] == summary_view(serial)[-1]  # the verdict line
    # The unreachable memo is per process: a check on the other worker meets the refusal itself
    # ("connection refused" instead of "target unreachable, not retried"), with the same reason.
    def verdicts(out: Outputs) -> list[tuple[str, str, str | None]]:
        return [(c["id"], c["outcome"], c["reason"]) for c in out.results["checks"]]
    assert verdicts(parallel) == verdicts(serial) == [("smoke::first", "failed", "connect"),
                                                      ("smoke::second", "failed", "connect")]
    assert junit_view(parallel)["counts"] == junit_view(serial)["counts"]
