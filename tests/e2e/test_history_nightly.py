"""The nightly history sink in whole runs: --history stores each run once; a duplicate run key is
a no-op that says so; an unreachable or locked store never fails the checks, exits 6 on an
otherwise green run, and keeps results.json for a later `opscheck history import`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema

from opscheck.history.store import open_store

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "opscheck" / "results.schema.json").read_text())

PROFILE_OK = """\
service: test-svc
runbook: RUNBOOK.md
http: {timeout_s: 2, deadline_s: 5}
environments:
  staging: {base_url: "http://127.0.0.1:9"}
smoke:
  - {name: health, path: /health, expect: {status: 200}, runbook: "#api-not-responding", severity: critical}
  - {name: live, path: /health/live, expect: {status: 200}, runbook: "#health-checks"}
"""


def test_a_run_with_history_is_stored_once_and_a_second_start_of_the_same_slot_is_a_duplicate(run_checks, service, tmp_path):
    url = str(tmp_path / "history.db")
    demo = service()
    args = ("--base-url", demo.base_url, "--history", url, "--location", "eu-west", "--release", "1.2.3",
            "--run-key", "nightly-1")
    first = run_checks(*args, profile=PROFILE_OK)
    assert first.ret == 0, first.output
    assert first.results["history"]["stored"] is True
    assert first.results["history"]["run_key"] == "nightly-1"
    assert "opscheck history: stored run" in first.output
    second = run_checks(*args, profile=PROFILE_OK)
    assert second.ret == 0, second.output
    assert second.results["history"]["duplicate"] is True and second.results["history"]["stored"] is False
    assert "DUPLICATE run key nightly-1" in second.output
    store = open_store(url)
    runs = store.runs()
    assert len(runs) == 1 and runs[0]["location"] == "eu-west" and runs[0]["release"] == "1.2.3"
    assert [r.outcome for r in store.check_runs("test-svc", "adhoc", "smoke::health")] == ["passed"]


def test_a_locked_store_fails_no_check_exits_6_and_results_json_can_be_imported_later(run_checks, service, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("OPSCHECK_HISTORY_TIMEOUT_S", "2")
    url = str(tmp_path / "history.db")
    open_store(url).close()
    # Another process holds SQLite's write lock for longer than the store's bounded wait.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({url!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        run = run_checks("--base-url", service().base_url, "--history", url, profile=PROFILE_OK)
    finally:
        holder.kill()
        holder.wait(10)
    assert run.ret == 6, run.output
    # The service is fine; only its record failed: the verdict must not read as a failed service.
    assert "opscheck verdict: checks PASS, history NOT STORED" in run.output, run.output
    assert all(c["outcome"] == "passed" for c in run.results["checks"])
    history = run.results["history"]
    assert history["stored"] is False and "locked" in history["error"]
    jsonschema.validate(run.results, SCHEMA)
    assert run.results["run"]["exit_code"] == 6
    assert "HISTORY NOT STORED" in run.output and "opscheck history import" in run.output
    imported = subprocess.run([sys.executable, "-m", "opscheck", "history", "import",
                               str(run.report_dir / "results.json"), "--history", url],
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    runs = open_store(url).runs()
    assert len(runs) == 1 and runs[0]["run_key"] == history["run_key"] and runs[0]["source"] == "import"
    again = subprocess.run([sys.executable, "-m", "opscheck", "history", "import",
                            str(run.report_dir / "results.json"), "--history", url],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "DUPLICATE run key" in again.stdout, again.stdout + again.stderr
    assert sqlite3.connect(url).execute("select count(*) from opscheck_check_results").fetchone() == (2,)


def test_an_unreachable_postgresql_store_keeps_the_failing_exit_code_and_hides_its_password(run_checks, service, tmp_path):
    url = "postgresql+psycopg://opscheck:s3cret-pw-0042@127.0.0.1:9/history"
    profile = PROFILE_OK.replace("expect: {status: 200}, runbook: \"#api", "expect: {status: 299}, runbook: \"#api")
    run = run_checks("--base-url", service().base_url, "--history", url, profile=profile)
    assert run.ret == 1, run.output
    assert run.results["history"]["stored"] is False and run.results["history"]["error"]
    assert "s3cret-pw-0042" not in run.output and "s3cret-pw-0042" not in run.results_text
    assert "HISTORY NOT STORED" in run.output


def test_a_nightly_sequence_with_a_fault_switched_on_and_off_gives_one_incident_with_its_timeline(run_checks, service,
                                                                                                    tmp_path):
    url = str(tmp_path / "history.db")
    healthy, broken = service(), service("unhealthy")
    sequence = [healthy, broken, broken, healthy]
    started = []
    for i, target in enumerate(sequence):
        run = run_checks("--base-url", target.base_url, "--history", url, "--location", "eu-west",
                         "--run-key", f"nightly-{i}", profile=PROFILE_OK)
        assert run.ret == (1 if target is broken else 0), run.output
        assert run.results["history"]["stored"] is True
        jsonschema.validate(run.results, SCHEMA)
        started.append(run.results["run"]["started_at"])
    out = subprocess.run([sys.executable, "-m", "opscheck", "history", "incidents", "--json", "--history", url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (incident,) = json.loads(out.stdout)["incidents"]
    assert incident["check"] == "smoke::health" and incident["location"] == "eu-west"
    assert incident["start"] == started[1] and incident["end"] == started[3] and incident["failing_runs"] == 2
    assert incident["reason"] == "status" and incident["runbook"]["anchor"] == "api-not-responding"
    assert incident["last_good"] == started[0] and incident["open"] is False
    failing = [r for r in open_store(url).check_runs("test-svc", "adhoc", "smoke::health") if r.outcome == "failed"]
    assert [(r.reason, r.runbook_anchor, r.location) for r in failing] == [("status", "api-not-responding", "eu-west")] * 2
    assert all(r.latency_ms is not None and r.message for r in failing)
    report = subprocess.run([sys.executable, "-m", "opscheck", "history", "--json", "--history", url],
                            capture_output=True, text=True, timeout=60)
    health = next(c for c in json.loads(report.stdout)["checks"] if c["check"] == "smoke::health")
    assert health["uptime"]["1d"] == {"method": "runs", "window_s": 86400, "percent": "50", "good": 2, "bad": 2,
                                      "runs": 4, "unknown_runs": 0, "maintenance_runs": 0}
    assert health["state"] == "good" and health["since"] == started[3]
