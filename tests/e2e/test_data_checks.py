"""Freshness and KPI bands against real files, through the plugin: ok, degraded (warning band), failed."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import RUNBOOK

PROFILE = """\
service: pipeline
runbook: RUNBOOK.md
defaults:
  freshness: {runbook: "Database Connection Issues", severity: major}
  thresholds: {runbook: "Monitoring & Alerts"}
freshness:
  - {name: summary, file: summary.json, field: finished_at, target: 6h, warn_after: 8h, fail_after: 12h}
  - {name: summary-file, file: summary.json, mtime: true, warn_after: 8h, fail_after: 12h}
thresholds:
  - {name: par-90, file: summary.json, field: summary.par_90, unit: "%", target: 3, warn: 3, critical: 5}
"""


def write_summary(folder, hours_old: float, par_90: str) -> None:
    finished = datetime.now(timezone.utc) - timedelta(hours=hours_old)
    path = folder / "summary.json"
    path.write_text(json.dumps({"finished_at": finished.isoformat(), "summary": {"par_90": json.loads(par_90)}}))
    stamp = time.time() - hours_old * 3600
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize(
    ("hours", "par", "outcomes"),
    [
        (5, "2.9", {"freshness::summary": "passed", "freshness::summary-file": "passed", "thresholds::par-90": "passed"}),
        (9, "3.4", {"freshness::summary": "degraded", "freshness::summary-file": "degraded", "thresholds::par-90": "degraded"}),
        (13, "5.01", {"freshness::summary": "failed", "freshness::summary-file": "failed", "thresholds::par-90": "failed"}),
    ],
)
def test_bands_pass_degrade_and_fail(service, run_checks, pytester, hours, par, outcomes):
    write_summary(pytester.path, hours, par)
    run = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    assert run.outcomes() == outcomes
    # Degraded never fails the gate; failed does.
    assert run.ret == (1 if "failed" in outcomes.values() else 0)
    kpi = run.check("thresholds::par-90")
    if kpi["outcome"] != "passed":
        assert kpi["reason"] == "threshold"
        assert f"summary.par_90 = {par} % >" in kpi["message"]
        assert "(critical > 5 %" in kpi["message"] or "critical 5 %" in kpi["message"]
    fresh = run.check("freshness::summary")
    if fresh["outcome"] != "passed":
        assert fresh["reason"] == "stale"
        assert ("> warning 8 h" if hours == 9 else "> critical 12 h") in fresh["message"]


def test_degraded_is_shown_everywhere_and_fails_under_strict(service, run_checks, pytester):
    write_summary(pytester.path, 9, "3.4")
    run = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    assert run.ret == 0
    assert "opscheck runbook summary" in run.stdout and "DEGRADED" in run.stdout
    assert "3 degraded" in run.stdout
    html = (run.report_dir / "report.html").read_text()
    assert "Degraded" in html
    strict = run_checks("--base-url", service().base_url, "--strict", profile=PROFILE, runbook=RUNBOOK)
    assert strict.ret == 1
    assert set(strict.outcomes().values()) == {"failed"}
    assert "failing under --strict" in strict.check("thresholds::par-90")["message"]


def test_missing_field_and_missing_file_are_clear(service, run_checks, pytester):
    pytester.path.joinpath("summary.json").write_text(json.dumps({"summary": {"par_30": 1}}))
    profile = PROFILE.replace("finished_at", "finished").replace("mtime: true", "mtime: true, file: nope.json").replace(
        "{name: summary-file, file: summary.json, mtime: true, file: nope.json", "{name: summary-file, mtime: true, file: nope.json")
    run = run_checks("--base-url", service().base_url, profile=profile, runbook=RUNBOOK)
    # Nothing to measure is its own reason (issue 8 §1h), never `body` and never `stale`.
    kpi = run.check("thresholds::par-90")
    assert (kpi["outcome"], kpi["reason"]) == ("failed", "no_data")
    assert "summary.par_90: field absent in the file (have: par_30)" in kpi["message"]
    assert run.check("freshness::summary")["reason"] == "no_data"
    assert run.check("freshness::summary-file")["reason"] == "no_data"
    assert "no data to measure" in run.check("freshness::summary-file")["message"]


def test_profile_errors_for_data_checks(run_checks):
    bad = "service: s\nfreshness:\n  - {name: a, file: x.json, field: t, warn_after: 6x}\n"
    run = run_checks("--base-url", "http://127.0.0.1:9", profile=bad)
    assert run.ret == 4
    assert "opscheck.yaml:3: freshness[0].warn_after: not a duration: '6x'" in run.output


def test_a_file_modified_hours_in_the_future_fails_freshness(service, run_checks, pytester):
    write_summary(pytester.path, 5, "2.9")
    ahead = time.time() + 5 * 3600 + 30  # written by a host whose clock runs 5 h ahead
    os.utime(pytester.path / "summary.json", (ahead, ahead))
    run = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    check = run.check("freshness::summary-file")
    assert (check["outcome"], check["reason"]) == ("failed", "stale")
    assert "the modification time is 5 h in the future: a clock error on the host that wrote it?" in check["message"]
    assert run.check("freshness::summary")["outcome"] == "passed"  # the field inside is 5 h old


def test_local_files_are_read_bounded_and_parsed_like_bodies(service, run_checks, pytester):
    pytester.path.joinpath("deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    pytester.path.joinpath("huge.json").write_text('{"v": 1e999999999}')
    os.mkfifo(pytester.path / "pipe.json")  # nobody writes: opening it for reading must not block
    profile = """\
service: pipeline
thresholds:
  - {name: deep, file: deep.json, field: v, critical: 5}
  - {name: huge, file: huge.json, field: v, critical: 5}
  - {name: pipe, file: pipe.json, field: v, critical: 5}
  - {name: gone, file: gone.json, field: v, critical: 5}
"""
    started = time.monotonic()
    run = run_checks("--base-url", service().base_url, profile=profile)
    assert time.monotonic() - started < 60
    found = {c["id"]: (c["outcome"], c["reason"]) for c in run.results["checks"]}
    assert found == {"thresholds::deep": ("failed", "body"), "thresholds::huge": ("failed", "body"),
                     "thresholds::pipe": ("failed", "body"), "thresholds::gone": ("failed", "no_data")}
    assert "JSON nested too deeply (more than 256 levels)" in run.check("thresholds::deep")["message"]
    assert "number out of range: 1e999999999" in run.check("thresholds::huge")["message"]
    assert "not a regular file" in run.check("thresholds::pipe")["message"]
    assert "no such file, no data to measure" in run.check("thresholds::gone")["message"]
    assert "Traceback" not in run.output
