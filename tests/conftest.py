"""Shared fixtures: real reference services under uvicorn, and a runner for opscheck checks.

httpcore is imported here on purpose: `pytester` restores sys.modules after each test, and httpx
imports httpcore lazily; a re-imported httpcore raises exception classes httpx no longer maps.
"""

from __future__ import annotations

import json
import textwrap
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpcore  # noqa: F401
import pytest

from opscheck.cli import checks_dir
from opscheck.demo.launcher import DemoService

API_KEY = "k3y-0f-the-test-suite-5e1f"
API_KEY_2 = "r0tated-k3y-of-the-suite-77c0"  # a second key, as during a rotation
SLOW_MS = 700

RUNBOOK = """\
# Test Service Runbook

## API Not Responding
Check the pods first: `kubectl get pods -l app=test`.
Roll back the last deploy if it started after it.

## Database Connection Issues
Check the database before restarting the service.

## Health Checks
The frontend and health routes must answer 200.

## Monitoring & Alerts
Scrape /metrics.
"""

PROFILE = """\
service: test-svc
runbook: RUNBOOK.md
http: {timeout_s: 2, deadline_s: 5}
auth: {header: X-API-Key, keys_env: TEST_API_KEYS}
environments:
  staging: {base_url: "http://127.0.0.1:9", allow_mutating: true}
defaults:
  smoke: {runbook: "#api-not-responding", severity: critical}
smoke:
  - {name: health, path: /health, expect: {status: 200, json: {status: ok}, max_ms: 400}}
  - {name: items, path: "/api/items?limit=2", expect: {status: 200, json: {count: 2}}}
  - {name: home, path: /, expect: {status: 200, content_type: text/html}, runbook: "Health Checks", severity: major}
readiness: {live: /health/live, ready: /health/ready, runbook: "#database-connection-issues", severity: critical}
"""


@pytest.fixture(scope="session")
def service() -> Iterator[Callable[..., DemoService]]:
    """start(*faults) -> a running reference service; one per fault set, shared by the session."""
    running: dict[tuple[str, ...], DemoService] = {}
    with ExitStack() as stack:

        def start(*faults: str) -> DemoService:
            key = tuple(sorted(faults))
            if key not in running:
                running[key] = stack.enter_context(DemoService(faults=key, api_keys=[API_KEY, API_KEY_2], slow_ms=SLOW_MS))
            return running[key]

        yield start


@dataclass
class Run:
    ret: int
    stdout: str
    stderr: str
    report_dir: Path
    pytester: pytest.Pytester

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    results_text: str | None = None  # read at once: a later run in the same directory overwrites the file

    @property
    def results(self) -> dict[str, Any]:
        assert self.results_text is not None, "this run wrote no results.json"
        return json.loads(self.results_text)

    def check(self, check_id: str) -> dict[str, Any]:
        matches = [c for c in self.results["checks"] if c["id"] == check_id]
        assert matches, f"{check_id} not in results.json"
        return matches[0]

    def outcomes(self) -> dict[str, str]:
        return {c["id"]: c["outcome"] for c in self.results["checks"]}


@pytest.fixture
def run_checks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Write a profile and runbook into a fresh directory, run the bundled checks in-process."""
    monkeypatch.setenv("TEST_API_KEYS", API_KEY)
    monkeypatch.delenv("PYTEST_BASE_URL", raising=False)
    monkeypatch.delenv("OPSCHECK_PROFILE", raising=False)

    def run(*args: str, profile: str = PROFILE, runbook: str = RUNBOOK) -> Run:
        pytester.path.joinpath("opscheck.yaml").write_text(textwrap.dedent(profile))
        pytester.path.joinpath("RUNBOOK.md").write_text(runbook)
        report_dir = pytester.path / "reports"
        result = pytester.runpytest_subprocess(
            str(checks_dir()), "--profile", str(pytester.path / "opscheck.yaml"),
            "--report-dir", str(report_dir), "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args,
        )
        results = report_dir / "results.json"
        text = results.read_text() if results.exists() else None
        return Run(int(result.ret), result.stdout.str(), result.stderr.str(), report_dir, pytester, text)

    return run


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster on loopback (tests/pgcluster.py), shared by the session.
    Skips when PostgreSQL is not installed, unless OPSCHECK_REQUIRE_SERVERS=1 (CI), where it fails."""
    import os

    from tests.pgcluster import pg_bindir, start_cluster

    if pg_bindir() is None:
        if os.environ.get("OPSCHECK_REQUIRE_SERVERS") == "1":
            pytest.fail("PostgreSQL is required here (OPSCHECK_REQUIRE_SERVERS=1) but initdb was not found")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
