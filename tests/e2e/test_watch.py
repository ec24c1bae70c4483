"""`opscheck run --watch` and `opscheck demo --watch` as a user runs them: real processes, real
services (the reference service with its run-time fault switch, and small loopback servers whose
answers the test controls), real signals and exit codes."""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS_SCHEMA = json.loads((ROOT / "opscheck/results.schema.json").read_text())
KEY = "watch-test-key-51c2"


class Cli:
    """One `opscheck` process with its stdout read line by line as it comes (bounded waits)."""

    def __init__(self, *args: str, cwd: Path, key: str = KEY, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, "OPSCHECK_API_KEYS": key, "TEST_API_KEYS": key, "PYTHONUNBUFFERED": "1"}
        for name in ("PYTEST_BASE_URL", "OPSCHECK_PROFILE", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
            environment.pop(name, None)
        env = {**environment, **(env or {})}
        self.process = subprocess.Popen([sys.executable, "-m", "opscheck", *args], cwd=cwd, env=env, text=True,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if predicate(line):
                return line
        self.stop()
        pytest.fail("line not seen in time; output so far:\n" + "\n".join(self.lines[-40:]))

    def finish(self, timeout_s: float) -> int:
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the watch did not end within {timeout_s} s:\n" + "\n".join(self.lines[-40:]))
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Timeline(HTMLParser):
    """The watch timeline of report.html: {check id: [(round, outcome, latency text), ...]}."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False
        self.cells: dict[str, list[tuple[int, str, str]]] = {}
        self.rounds: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id") == "opscheck-watch":
            self.found = True
        if tag == "td" and "watch-cell" in (a.get("class") or ""):
            self.cells.setdefault(a["data-check"] or "", []).append(
                (int(a["data-round"] or 0), a["data-outcome"] or "", a.get("data-latency-ms") or ""))
        if tag == "th" and "watch-round" in (a.get("class") or ""):
            self.rounds.append((int(a["data-round"] or 0), a["data-status"] or ""))


def timeline(report_dir: Path) -> Timeline:
    parser = Timeline()
    parser.feed((report_dir / "report.html").read_text(encoding="utf-8"))
    assert parser.found, "report.html has no watch timeline"
    return parser


def results(report_dir: Path) -> dict[str, Any]:
    payload = json.loads((report_dir / "results.json").read_text())
    jsonschema.validate(payload, RESULTS_SCHEMA)
    return payload


# --- small loopback services whose answers the test decides -----------------------------------


class Scripted(ThreadingHTTPServer):
    """/health answers `answer(n)` for the n-th request (1-based): (status, delay in s)."""

    daemon_threads = True

    def __init__(self, answer: Callable[[int], tuple[int, float]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.count = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        server: Scripted = self.server  # type: ignore[assignment]
        with server.lock:
            server.count += 1
            n = server.count
        status, delay = server.answer(n)
        time.sleep(delay)
        body = b'{"status":"ok"}' if status == 200 else b'{"status":"error"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the round was stopped while we slept

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[int], tuple[int, float]]], Scripted]]:
    servers: list[Scripted] = []

    def start(answer: Callable[[int], tuple[int, float]]) -> Scripted:
        server = Scripted(answer)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def one_check_profile(tmp_path: Path, extra: str = "", timeout_s: float = 5) -> Path:
    path = tmp_path / "opscheck.yaml"
    path.write_text(f"service: watched\nhttp: {{timeout_s: {timeout_s}, deadline_s: {timeout_s * 2}}}\n"
                    f"smoke:\n  - {{name: health, path: /health, expect: {{status: 200}}}}\n{extra}")
    return path


# --- the tests ---------------------------------------------------------------------------------


def test_a_demo_watch_stops_in_the_round_after_a_fault_is_switched_on_and_keeps_every_round(tmp_path):
    # A window longer than the test needs: the failure ends the watch, however slow the runner's rounds are.
    cli = Cli("demo", "--watch", "40s", "--interval", "1s", "--report-dir", "reports", cwd=tmp_path)
    base_url = cli.wait_for(lambda line: "reference service at" in line, 30).split(" at ")[1].split()[0]
    cli.wait_for(lambda line: line.startswith("opscheck watch: round 1/40 passed"), 30)
    request = urllib.request.Request(f"{base_url}/_demo/faults/not_ready", method="PUT")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert "not_ready" in json.loads(answer.read())["active"]
    switched_at = datetime.now(timezone.utc)
    assert cli.finish(60) == 1, cli.output

    report_dir = tmp_path / "reports"
    rounds = results(report_dir)["rounds"]
    started = [datetime.fromisoformat(r["started_at"]) for r in rounds]
    after = [r["round"] for r, at in zip(rounds, started) if at > switched_at]
    last = rounds[-1]
    # The watch stops at the first failed round: the one under way at the switch if it saw the
    # fault, else the first round that started after it.
    assert last["status"] == "failed" and (not after or last["round"] == after[0]), rounds
    assert all(r["status"] == "passed" for r in rounds[:-1]) and len(rounds) >= 2
    assert len(rounds) <= 3, "the watch ran on after a failed round"
    ready = {c["id"]: c for c in last["checks"]}["readiness::ready"]
    assert ready["outcome"] == "failed" and ready["reason"] == "status" and "503" in ready["message"]
    assert all(c["outcome"] == "passed" for r in rounds[:-1] for c in r["checks"])
    assert all(isinstance(c["latency_ms"], float) for r in rounds for c in r["checks"])
    payload = results(report_dir)
    assert payload["run"]["exit_code"] == 1
    assert {c["id"]: c["outcome"] for c in payload["checks"]}["readiness::ready"] == "failed"

    page = timeline(report_dir)
    assert page.rounds == [(r["round"], r["status"]) for r in rounds]
    ready_cells = page.cells["readiness::ready"]
    assert [outcome for _, outcome, _ in ready_cells] == ["passed"] * (len(rounds) - 1) + ["failed"]
    assert all(latency for _, _, latency in ready_cells)
    assert set(page.cells) == {c["id"] for c in last["checks"]}
    # The page says first that it is a watch, and which round its banner and table describe.
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    n = last["round"]
    assert html.index(f"Round {n} of the watch: FAIL") < html.index("Watch verdict: FAIL") < html.index('id="results-table"')
    assert f"show <b>round {n}</b> only" in html and f'href="rounds/{n:03d}/report.html"' in html
    assert all((report_dir / f"rounds/{r['round']:03d}/report.html").is_file() for r in rounds)  # every link opens

    assert "Database Connection Issues" in cli.output  # the failed round's runbook summary
    assert f"opscheck watch: FAIL: round {last['round']} failed" in cli.output
    assert "readiness::ready (status)" in cli.output
    for name in ("report.html", "junit.xml", "results.json", "summary.md"):
        assert (report_dir / name).is_file()
    assert (report_dir / "rounds" / f"{last['round']:03d}" / "results.json").is_file()
    assert "## opscheck watch: FAIL" in (report_dir / "summary.md").read_text()


def test_sigterm_ends_a_watch_with_the_reports_of_the_rounds_so_far_and_exit_code_2(tmp_path, service):
    from tests.conftest import API_KEY, PROFILE, RUNBOOK

    (tmp_path / "RUNBOOK.md").write_text(RUNBOOK)
    (tmp_path / "opscheck.yaml").write_text(PROFILE)
    cli = Cli("run", "--base-url", service().base_url, "--watch", "2m", "--interval", "1s", cwd=tmp_path, key=API_KEY)
    cli.wait_for(lambda line: line.startswith("opscheck watch: round 1/120 passed"), 40)
    sent = time.monotonic()
    cli.process.send_signal(signal.SIGTERM)
    assert cli.finish(30) == 2, cli.output
    assert time.monotonic() - sent < 20  # the running round gets SIGINT, and 10 s of grace at most

    report_dir = tmp_path / "reports"
    payload = results(report_dir)
    assert payload["run"]["exit_code"] == 2
    assert payload["rounds"][0]["status"] == "passed" and len(payload["checks"]) == 5
    assert {r["status"] for r in payload["rounds"][1:]} <= {"passed", "interrupted"}
    assert "INTERRUPTED: interrupted (SIGTERM)" in cli.output
    assert timeline(report_dir).rounds[0] == (1, "passed")
    assert "## opscheck watch: INTERRUPTED" in (report_dir / "summary.md").read_text()
    assert API_KEY not in (report_dir / "results.json").read_text() + cli.output


def test_a_round_that_overruns_its_interval_delays_the_next_and_rounds_never_overlap_or_catch_up(tmp_path, scripted):
    # Round 1 runs past the 2 s interval, round 2 is quick, round 3 fails and ends the watch: three
    # rounds on any runner, however slow its pytest start-up.
    server = scripted(lambda n: (500 if n == 3 else 200, 3.0 if n == 1 else 0))
    profile = one_check_profile(tmp_path)
    cli = Cli("run", "--profile", str(profile), "--base-url", server.url, "--watch", "2m", "--interval", "2s", cwd=tmp_path)
    assert cli.finish(90) == 1, cli.output
    rounds = results(tmp_path / "reports")["rounds"]
    assert [r["status"] for r in rounds] == ["passed", "passed", "failed"]
    for before, after in zip(rounds, rounds[1:]):
        assert after["offset_s"] >= before["offset_s"] + before["duration_s"]  # no overlap
        # The interval counts from the previous start, late or not: no round is squeezed in to catch up.
        assert after["offset_s"] >= before["offset_s"] + 2.0
    # That a late round's successor starts as soon as it ends is the schedule's rule, shown without
    # a clock in tests/unit/test_watch_rules.py: a wall-clock bound here would measure the runner.
    assert server.count == 3


def test_a_round_past_its_deadline_is_stopped_and_fails_with_reason_timeout(tmp_path, scripted):
    server = scripted(lambda n: (200, 30))  # the answer would come long after the round's deadline
    # The deadline leaves the round's pytest time to start even on a busy runner (1 s idle, 4 s at load 9).
    profile = one_check_profile(tmp_path, "watch: {round_timeout: 8s}\n", timeout_s=25)
    started = time.monotonic()
    cli = Cli("run", "--profile", str(profile), "--base-url", server.url, "--watch", "1m", "--interval", "2s", cwd=tmp_path)
    assert cli.finish(60) == 1, cli.output
    assert time.monotonic() - started < 35  # 8 s deadline + at most 10 s grace + start-up
    (rnd,) = results(tmp_path / "reports")["rounds"]
    assert rnd["status"] == "failed" and rnd["reason"] == "timeout" and "deadline of 8s" in rnd["message"]
    assert [(c["id"], c["outcome"], c["reason"]) for c in rnd["checks"]] == [("smoke::health", "failed", "timeout")]
    (check,) = results(tmp_path / "reports")["checks"]
    assert (check["reason"], check["message"]) == ("timeout", "no verdict before the round's deadline of 8s")


def test_fail_after_2_tolerates_one_failed_round_and_the_watch_passes_its_whole_window(tmp_path, scripted):
    server = scripted(lambda n: (500 if n == 2 else 200, 0))  # only the second round sees a failure
    profile = one_check_profile(tmp_path)
    step = tmp_path / "step-summary.md"
    # 3 rounds planned; even with a slow pytest start-up (~4 s a round) the second starts in the window.
    cli = Cli("run", "--profile", str(profile), "--base-url", server.url, "--watch", "9s", "--interval", "3s",
              "--fail-after", "2", cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(step)})
    assert cli.finish(60) == 0, cli.output
    rounds = results(tmp_path / "reports")["rounds"]
    assert [r["status"] for r in rounds][:2] == ["passed", "failed"]
    assert all(r["status"] == "passed" for r in rounds[2:])
    assert rounds[1]["checks"][0]["reason"] == "status"
    assert "PASS: the window of 9s ended for new rounds" in cli.output and "1 failed round tolerated" in cli.output
    assert [outcome for _, outcome, _ in timeline(tmp_path / "reports").cells["smoke::health"]][:2] == ["passed", "failed"]
    # The job summary gets the watch once, not a section per round.
    assert step.read_text().count("## opscheck watch: PASS") == 1 and "| 2 |" in step.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (("--watch", "0"), "opscheck run: --watch: must be longer than 0 s"),
    (("--watch", "15m", "--interval", "5x"), "opscheck run: --interval: not a duration: '5x': unknown unit 'x'"),
    (("--watch", "15m", "--interval", "0.5s"), "opscheck run: --interval: must be at least 1 s"),
    (("--watch", "10s", "--interval", "30s"), "opscheck run: --interval: the interval is longer than the window"),
    (("--watch", "15m", "--fail-after", "0"), "opscheck run: --fail-after: must be a whole number of rounds, 1 or more"),
    (("--watch", "2d"), "opscheck run: --watch: must be at most 24 h"),
    (("--interval", "30s"), "opscheck run: --interval: only with --watch"),
    (("--watch", "-5s"), "opscheck run: --watch: '-5s': a duration must be longer than 0 s"),
    (("--watch", "-5"), "opscheck run: --watch: '-5': a duration must be longer than 0 s"),
    (("--watch", "15m", "--interval", "-5s"), "opscheck run: error: argument --interval: expected one argument"),
    (("--watch", "15m", "--interval", "--fail-after", "2"), "opscheck run: error: argument --interval: expected one argument"),
    (("--watch", "15m", "--fail-after", "-1"), "opscheck run: --fail-after: must be a whole number of rounds"),
])
def test_bad_watch_values_are_a_usage_error_in_one_line(tmp_path, args, message):
    one_check_profile(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "opscheck", "run", "--base-url", "http://127.0.0.1:9", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()  # nothing ran


def test_a_watch_without_a_profile_or_with_a_broken_one_ends_before_any_round_with_exit_code_4(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "opscheck", "run", "--base-url", "http://127.0.0.1:9", "--watch", "1m",
                               *args], cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    missing = run()
    assert missing.returncode == 4 and missing.stderr.startswith("opscheck run: --watch: no profile: no opscheck.yaml here")
    (tmp_path / "opscheck.yaml").write_text("service: s\nsmoke: [{name: a, path: /}]\nwatch: {interval: 5x}\n")
    broken = run()
    assert broken.returncode == 4 and "opscheck.yaml:3: watch.interval: not a duration: '5x': unknown unit 'x'" in broken.stderr
    assert "Traceback" not in missing.stderr + broken.stderr and not (tmp_path / "reports").exists()


def test_a_bad_pytest_argument_in_a_watch_is_reported_once_without_pytests_usage_text(tmp_path):
    one_check_profile(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "opscheck", "run", "--base-url", "http://127.0.0.1:9", "--watch", "10s",
                           "--interval", "5s", "--no-such-pytest-option"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert out.count("--no-such-pytest-option") == 1, out
    assert "opscheck watch: ERROR: pytest argument: unrecognized arguments: --no-such-pytest-option;" in out
    assert "ERROR: ERROR" not in out and "usage: pytest.main()" not in out and "rootdir" not in out


def test_a_window_without_a_unit_is_read_as_seconds_and_the_header_says_so(tmp_path):
    from opscheck.watch.command import unit_notes

    notes = unit_notes(argparse.Namespace(watch="15", interval="30s"))
    assert notes == ["--watch 15 has no unit: read as 15 seconds (as in the profile; e.g. 15m for minutes)"]
    assert unit_notes(argparse.Namespace(watch="15m", interval=None)) == []
