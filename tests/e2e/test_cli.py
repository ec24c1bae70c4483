"""The `opscheck` command as a user runs it: a real process, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "cli-test-key-7f3a9"


def opscheck(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "OPSCHECK_API_KEYS": KEY, **(env or {})}
    full_env.pop("PYTEST_BASE_URL", None)
    full_env.pop("OPSCHECK_PROFILE", None)
    return subprocess.run([sys.executable, "-m", "opscheck", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_lint_accepts_the_example_profile():
    proc = opscheck("lint", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "opscheck.yaml: ok: service inventory-api; checks: 2 readiness, 5 smoke, 4 limits, 3 auth, 1 headers, 5 schema" in proc.stdout


def test_lint_reports_every_problem_with_file_and_line(tmp_path):
    (tmp_path / "RUNBOOK.md").write_text("# R\n## Health Checks\nx\n")
    (tmp_path / "opscheck.yaml").write_text(
        "service: s\nrunbook: RUNBOOK.md\nsmoke:\n  - {name: a, path: /, runbok: '#x'}\n  - {name: b, path: nope}\n")
    proc = opscheck("lint", cwd=tmp_path)
    assert proc.returncode == 4
    assert "opscheck.yaml:4: smoke[0].runbok: unknown field; did you mean 'runbook'?" in proc.stderr
    assert "opscheck.yaml:5: smoke[1].path: must match the pattern '^/'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Once the shape is right, the runbook references are checked too.
    (tmp_path / "opscheck.yaml").write_text("service: s\nrunbook: RUNBOOK.md\nsmoke: [{name: a, path: /, runbook: '#helth-checks'}]\n")
    proc = opscheck("lint", cwd=tmp_path)
    assert proc.returncode == 4
    assert "opscheck.yaml:3: smoke[0].runbook: unknown runbook section '#helth-checks'" in proc.stderr
    assert "closest: '#health-checks'" in proc.stderr


def test_lint_without_a_profile(tmp_path):
    proc = opscheck("lint", cwd=tmp_path)
    assert proc.returncode == 4 and "no opscheck.yaml here" in proc.stderr


def test_runbook_lists_sections_with_levels_and_anchors(tmp_path):
    proc = opscheck("runbook", str(ROOT / "opscheck/demo/RUNBOOK.md"), cwd=tmp_path)
    assert proc.returncode == 0
    assert "##     Monitoring & Alerts  #monitoring--alerts" in proc.stdout.splitlines()
    assert "###    Rotate API Keys  #rotate-api-keys" in proc.stdout.splitlines()
    missing = opscheck("runbook", "NOPE.md", cwd=tmp_path)
    assert missing.returncode == 4 and "NOPE.md" in missing.stderr and "Traceback" not in missing.stderr


def test_demo_passes_against_the_healthy_reference_service(tmp_path):
    proc = opscheck("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "opscheck verdict: PASS" in proc.stdout
    reports = next(line for line in proc.stdout.splitlines() if line.startswith("opscheck reports: "))
    # Every file the run wrote in the report folder, pytest-benchmark's too (the demo has a benchmark check).
    assert reports == "opscheck reports: reports/report.html, reports/junit.xml, reports/results.json, reports/benchmark.json"
    results = json.loads((tmp_path / "reports/results.json").read_text())
    assert results["run"]["exit_code"] == 0 and results["run"]["service"] == "inventory-api"
    assert KEY not in proc.stdout + proc.stderr + (tmp_path / "reports/report.html").read_text()
    # The service's framework (anyio, via FastAPI) is never imported in this process before pytest starts.
    assert "warnings summary" not in proc.stdout and "PytestAssertRewriteWarning" not in proc.stdout + proc.stderr


def test_demo_with_a_fault_fails_with_its_runbook_section(tmp_path):
    proc = opscheck("demo", "--fault", "not_ready", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Database Connection Issues  ->  " in proc.stdout
    results = json.loads((tmp_path / "reports/results.json").read_text())
    failed = [c["id"] for c in results["checks"] if c["outcome"] == "failed"]
    assert failed == ["readiness::ready"]


def test_demo_unknown_fault_and_list(tmp_path):
    proc = opscheck("demo", "--fault", "nope", cwd=tmp_path)
    assert proc.returncode == 4 and "unknown fault 'nope'" in proc.stderr
    listing = opscheck("demo", "--list-faults", cwd=tmp_path)
    assert listing.returncode == 0 and "not_ready" in listing.stdout


@pytest.fixture
def profile_dir(tmp_path):
    (tmp_path / "opscheck.yaml").write_text(
        "service: tiny\nreadiness: {live: /health/live, ready: /health/ready}\nsmoke: [{name: h, path: /health}]\n")
    return tmp_path


def test_run_from_any_directory_with_base_url(service, profile_dir):
    proc = opscheck("run", "--base-url", service().base_url, "--report-dir", "out", cwd=profile_dir)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert json.loads((profile_dir / "out/results.json").read_text())["run"]["counts"]["passed"] == 3


def test_run_wait_ready_gate_against_a_service_that_never_gets_ready(service, profile_dir):
    proc = opscheck("run", "--base-url", service("not_ready").base_url, "--wait-ready", "1", cwd=profile_dir)
    assert proc.returncode == 1
    assert "NOT READY: service not ready after waiting" in proc.stdout


def _installed_like_a_wheel(folder: Path) -> dict[str, str]:
    """An environment where pytest marks the `opscheck` package for assertion rewriting, as it does
    for a wheel install (whose file list names opscheck/__init__.py); an editable install of the
    checkout may list no files, and then pytest marks nothing."""
    info = folder / "opscheck_wheel_layout-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: opscheck-wheel-layout\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nopscheck = opscheck.plugin\n")
    (info / "RECORD").write_text("opscheck/__init__.py,,\nopscheck/plugin.py,,\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))}


def test_run_ends_without_pytest_warnings(service, profile_dir, tmp_path):
    # Every run used to end with "PytestAssertRewriteWarning: Module already imported so cannot be
    # rewritten: opscheck" and "1 warning": the command imports opscheck before pytest starts.
    env = _installed_like_a_wheel(tmp_path / "site")
    proc = opscheck("run", "--base-url", service().base_url, "-W", "error::pytest.PytestAssertRewriteWarning",
                    cwd=profile_dir, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "PytestAssertRewriteWarning" not in proc.stdout + proc.stderr
    assert "warning" not in proc.stdout.splitlines()[-1]


def test_run_leaves_out_the_hypothesis_and_anyio_plugins_unless_asked(service, profile_dir):
    # The bundled checks use hypothesis as a library and synchronous HTTP: the two plugins would
    # cost 0.15-0.4 s of every run.
    def plugins(*extra: str) -> str:
        proc = opscheck("run", "--base-url", service().base_url, "--co", *extra, cwd=profile_dir)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return next(line for line in proc.stdout.splitlines() if line.startswith("plugins:"))

    assert "hypothesis" not in plugins() and "anyio" not in plugins()
    assert "hypothesis" in plugins("--hypothesis-show-statistics")
    assert "anyio" in plugins("-m", "not anyio")
