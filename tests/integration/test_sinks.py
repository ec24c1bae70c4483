"""Result records and the sinks that consume them (issue 10 §5, §6), with plain records only.

The precedence rule that folds a check's phases and rerun attempts into one verdict is a pure
function, tested table-driven here without sockets. Each sink takes records and a RunInfo, never
pytest or HTTP objects, so a results.json read back feeds a sink exactly as a live run does.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from opscheck.report.html import HtmlHooks
from opscheck.report.junit import JunitProperties, fold_attempts, junit_properties
from opscheck.report.results import ResultsJsonSink
from opscheck.report.terminal import TerminalSink, write_summary
from opscheck.results import (
    OUTCOMES, CheckResult, PhaseResult, RunbookRef, RunInfo, Sink, apply_phase, count_outcomes, mark_error,
    read_payload, results_payload,
)

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "opscheck" / "results.schema.json").read_text())
EVIDENCE = {"kind": "http", "method": "GET", "url": "http://svc/health", "request_id": "r1", "status": 503, "elapsed_ms": 1.0}


def record(name: str = "health", family: str = "smoke") -> CheckResult:
    return CheckResult(id=f"{family}::{name}", nodeid=f"test_{family}.py::test_{family}[{name}]", family=family,
                       name=name, severity="critical",
                       runbook=RunbookRef("API Not Responding", "api-not-responding", "RUNBOOK.md#api-not-responding",
                                          ["Check the pods first."]),
                       profile_field=f"{family}[0]", profile_line=3)


def run_info(exit_code: int | None = 1) -> RunInfo:
    return RunInfo(service="svc", environment="staging", base_url="http://svc", profile="opscheck.yaml",
                   started_at="2026-01-01T00:00:00+00:00", duration_s=1.5, exit_code=exit_code)


def phases(*steps: tuple[str, str] | tuple[str, str, int]) -> CheckResult:
    """(when, outcome[, attempt]) ... folded into a fresh record."""
    result = record()
    for step in steps:
        when, outcome, attempt = (*step, 0) if len(step) == 2 else step
        reason = {"failed": "status", "degraded": "latency", "rerun": "status"}.get(outcome)
        apply_phase(result, PhaseResult(when=when, outcome=outcome, attempt=attempt, reason=reason,
                                        message=f"{when} {outcome}" if outcome != "passed" else None, duration_ms=1.0))
    return result


# --- the precedence rule ----------------------------------------------------------------------


@pytest.mark.parametrize(("steps", "outcome", "message"), [
    ([("setup", "passed"), ("call", "passed"), ("teardown", "passed")], "passed", None),
    ([("setup", "passed"), ("call", "failed"), ("teardown", "failed")], "failed", "call failed"),  # first failure wins
    ([("setup", "passed"), ("call", "passed"), ("teardown", "failed")], "failed", "teardown failed"),
    ([("setup", "passed"), ("call", "degraded"), ("teardown", "passed")], "degraded", "call degraded"),
    ([("setup", "passed"), ("call", "degraded"), ("teardown", "failed")], "failed", "teardown failed"),
    ([("setup", "skipped"), ("teardown", "passed")], "skipped", "setup skipped"),
    ([("setup", "failed"), ("teardown", "passed")], "failed", "setup failed"),
    ([("setup", "passed"), ("teardown", "passed")], "failed", "no verdict: the check never reported a result"),
])
def test_phases_of_one_attempt_combine_under_the_precedence_rule(steps, outcome, message):
    result = phases(*steps)
    assert (result.outcome, result.message) == (outcome, message)
    assert result.settled == (message != "no verdict: the check never reported a result")
    assert len(result.attempts) == 1


def test_a_pass_after_a_rerun_is_a_pass_with_both_attempts_kept():
    result = phases(("setup", "passed", 0), ("call", "rerun", 0), ("teardown", "passed", 0),
                    ("setup", "passed", 1), ("call", "passed", 1), ("teardown", "passed", 1))
    assert (result.outcome, result.reason, result.message) == ("passed", None, None)
    assert [(a.outcome, a.reason) for a in result.attempts] == [("failed", "status"), ("passed", None)]
    assert result.duration_ms == 6.0 and [a.duration_ms for a in result.attempts] == [3.0, 3.0]


def test_a_failure_on_every_attempt_is_the_last_attempts_failure():
    result = phases(("call", "rerun", 0), ("teardown", "passed", 0), ("call", "failed", 1), ("teardown", "passed", 1))
    assert (result.outcome, result.message) == ("failed", "call failed")
    assert [a.outcome for a in result.attempts] == ["failed", "failed"]


def test_a_rerun_starts_the_evidence_afresh():
    result = record()
    apply_phase(result, PhaseResult(when="call", outcome="rerun", reason="status", message="503", evidence=[EVIDENCE]))
    apply_phase(result, PhaseResult(when="call", outcome="passed", attempt=1, evidence=[{**EVIDENCE, "status": 200}]))
    assert [e["status"] for e in result.evidence] == [200]


def test_a_plugins_own_verdict_between_phases_stands_unless_a_later_phase_outranks_it():
    # The gate's `flaky` will be set on the record between phases; a passing teardown keeps it.
    result = phases(("setup", "passed"), ("call", "passed"))
    result.outcome = "flaky"
    apply_phase(result, PhaseResult(when="teardown", outcome="passed"))
    assert result.outcome == "flaky"
    apply_phase(result, PhaseResult(when="teardown", outcome="failed", reason="error", message="boom"))
    assert result.outcome == "failed"


def test_mark_error_overrules_the_verdict_and_its_attempt():
    result = phases(("call", "passed"))
    mark_error(result, "crashed")
    assert (result.outcome, result.reason, result.message) == ("failed", "error", "crashed")
    assert (result.attempts[-1].outcome, result.attempts[-1].reason) == ("failed", "error")


# --- records as JSON --------------------------------------------------------------------------


def test_results_payload_round_trips_and_fits_the_published_schema():
    failed = phases(("call", "rerun", 0), ("call", "failed", 1))
    failed.facts = {"observed": "503", "limit": "200", "unit": "status", "fingerprint": "0123456789abcdef"}
    passed = phases(("setup", "passed"), ("call", "passed"))
    passed.id, passed.nodeid = "smoke::home", "test_smoke.py::test_smoke[home]"
    payload = results_payload(run_info(), [failed, passed])
    jsonschema.Draft202012Validator(SCHEMA).validate(payload)
    assert payload["run"]["counts"] == {"passed": 1, "degraded": 0, "flaky": 0, "failed": 1, "skipped": 0}
    check = payload["checks"][0]
    assert check["observed"] == "503" and check["fingerprint"] == "0123456789abcdef"
    assert payload["checks"][1]["observed"] is None
    assert [a["outcome"] for a in check["attempts"]] == ["failed", "failed"]
    run, records = read_payload(json.loads(json.dumps(payload)))
    assert results_payload(run, records) == payload


def test_a_phase_result_survives_json_as_xdist_sends_it():
    phase = PhaseResult(when="call", outcome="degraded", reason="latency", message="slow", duration_ms=2.5,
                        evidence=[EVIDENCE], measurements={"p95_ms": 812.4}, facts={"unit": "ms"})
    assert PhaseResult.from_dict(json.loads(json.dumps(phase.to_dict()))) == phase
    identity = record().identity()
    assert CheckResult.from_identity(json.loads(json.dumps(identity))).identity() == identity


def test_outcome_counts_list_every_outcome():
    assert count_outcomes([]) == {o: 0 for o in OUTCOMES}


# --- sinks ------------------------------------------------------------------------------------


class Recorder:
    """A sink as a later one (history, alerts, export) will be: it sees records, nothing else."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.finished: tuple[RunInfo, list[CheckResult]] | None = None

    def on_result(self, record: CheckResult) -> None:
        self.seen.append(record.id)

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        self.finished = (run, records)


def test_every_built_in_sink_fits_the_sink_protocol(tmp_path):
    sinks = [ResultsJsonSink(tmp_path), TerminalSink(), JunitProperties(),
             HtmlHooks(run_info(), {}, _NoRedactor(), lambda r, m: None, lambda m: None), Recorder()]
    for sink in sinks:
        assert isinstance(sink, Sink), type(sink).__name__


class _NoRedactor:
    def text(self, value: str) -> str:
        return value

    def data(self, value: Any) -> Any:
        return value


def test_the_results_json_sink_writes_what_read_payload_reads_back(tmp_path):
    sink = ResultsJsonSink(tmp_path / "reports")
    records = [phases(("call", "failed"))]
    sink.on_finish(run_info(), records)
    run, back = read_payload(json.loads((tmp_path / "reports" / "results.json").read_text()))
    assert [r.to_dict() for r in back] == [r.to_dict() for r in records] and run.exit_code == 1


def test_the_results_json_sink_reports_an_unwritable_file_in_one_line(tmp_path):
    (tmp_path / "results.json").mkdir()  # os.replace cannot overwrite a directory
    error = ResultsJsonSink(tmp_path).write(run_info(), [phases(("call", "passed"))])
    assert error is not None and error.startswith("results.json: cannot write ") and "\n" not in error


class Terminal:
    """pytest's terminal reporter's two writing methods, keeping the lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_sep(self, sep: str, title: str, **markup: Any) -> None:
        self.lines.append(f"== {title} ==")

    def write_line(self, line: str, **markup: Any) -> None:
        self.lines.append(line)


def test_the_terminal_summary_reads_records_and_counts_reruns():
    flaky = phases(("call", "rerun", 0), ("call", "passed", 1))
    broken = phases(("call", "failed"))
    broken.id = "smoke::broken"
    terminal = Terminal()
    sink = TerminalSink()
    sink.on_finish(run_info(), [flaky, broken])
    sink.write(terminal, 1)
    assert terminal.lines[0] == "== opscheck runbook summary =="
    assert "API Not Responding  ->  RUNBOOK.md#api-not-responding" in terminal.lines
    assert any("smoke::broken" in line and "status" in line for line in terminal.lines)
    assert not any("smoke::health " in line for line in terminal.lines[:-1])  # passed on its rerun: not flagged
    assert terminal.lines[-1] == "opscheck verdict: FAIL (1 passed, 1 failed of 2 checks; 1 rerun; exit code 1)"


def test_the_terminal_summary_names_an_unreachable_target_and_a_failed_readiness_gate():
    run = run_info()
    run.unreachable, run.not_ready = [("http://svc", "connection refused")], "GET /ready: 503 after 3 polls"
    terminal = Terminal()
    down = phases(("call", "failed"))
    down.reason = "connect"
    write_summary(terminal, run, [down], 1)
    assert "NOT READY: GET /ready: 503 after 3 polls" in terminal.lines
    assert "TARGET UNREACHABLE: http://svc: connection refused (1 check(s) failed at once without waiting)" in terminal.lines


def test_junit_properties_come_from_the_record_once():
    passed_on_rerun = phases(("call", "rerun", 0), ("call", "passed", 1))
    assert junit_properties(passed_on_rerun) == [
        ("check", "smoke::health"), ("family", "smoke"), ("severity", "critical"),
        ("runbook", "RUNBOOK.md#api-not-responding"), ("runbook_section", "API Not Responding"), ("attempts", "2")]
    degraded = phases(("call", "degraded"))
    assert junit_properties(degraded)[-2:] == [("reason", "latency"), ("outcome", "degraded")]


def test_fold_attempts_keeps_one_test_case_per_test_with_the_summed_time(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2" failures="1">'
        '<testcase classname="test_smoke" name="test_smoke[a]" time="0.500" />'
        '<testcase classname="test_smoke" name="test_smoke[a]" time="0.250"><failure message="[status] 503" /></testcase>'
        '<testcase classname="test_smoke" name="test_smoke[b]" time="0.100" />'
        "</testsuite></testsuites>")
    assert fold_attempts(path) == 1
    text = path.read_text()
    assert text.count('name="test_smoke[a]"') == 1 and 'time="0.750"' in text and "[status] 503" in text
    assert fold_attempts(path) == 0  # idempotent


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback webhook receiver, as an alert sink will post to: (url, bodies received)."""
    bodies: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class WebhookSink:
    """The shape an alert receiver takes: failed checks, posted as JSON when the run ends."""

    def __init__(self, url: str) -> None:
        self.url = url

    def on_result(self, record: CheckResult) -> None:
        pass

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        body = {"service": run.service, "failed": [r.to_dict() for r in records if r.outcome == "failed"]}
        request = urllib.request.Request(self.url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5):
            pass


def test_a_sink_fed_from_a_live_run_and_from_results_json_read_back_sends_the_same(receiver, tmp_path):
    url, bodies = receiver
    records = [phases(("call", "failed")), phases(("call", "passed"))]
    records[1].id = "smoke::home"
    ResultsJsonSink(tmp_path).on_finish(run_info(), records)
    WebhookSink(url).on_finish(run_info(), records)  # live
    WebhookSink(url).on_finish(*read_payload(json.loads((tmp_path / "results.json").read_text())))  # imported
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert [c["id"] for c in bodies[0]["failed"]] == ["smoke::health"]
