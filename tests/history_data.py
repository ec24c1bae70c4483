"""A deterministic mixed run history for the history tests: passes, failures, unknown, flaky,
degraded and maintenance runs at two locations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from opscheck.results import Attempt, CheckResult, RunbookRef, RunInfo

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def record(check: str, outcome: str, reason: str | None = None, latency: float | None = None,
           attempts: int = 1, limit: str | None = None) -> CheckResult:
    r = CheckResult(id=check, nodeid=check, family=check.split("::")[0], name=check.split("::")[1], severity="critical",
                    runbook=RunbookRef("API Not Responding", "api-not-responding", "RUNBOOK.md#api-not-responding"),
                    profile_field="smoke", profile_line=3, outcome=outcome, reason=reason,
                    message=None if outcome == "passed" else f"{reason}: it broke")
    if latency is not None:
        r.evidence = [{"kind": "http", "elapsed_ms": latency}]
    if limit is not None:
        r.facts = {"observed": str(latency), "limit": limit, "unit": "ms", "fingerprint": "f" * 16}
    r.attempts = [Attempt("failed")] * (attempts - 1) + [Attempt(outcome)]
    return r


def fill(store: Any, runs: int = 300, step_min: int = 10, locations=("eu", "us")) -> None:
    """A deterministic mixed history: passes, failures, unknown, flaky, maintenance, two locations."""
    for i in range(runs):
        for location in locations:
            started = T0 + timedelta(minutes=step_min * i)
            run = RunInfo("svc", "prod", "http://svc", "p.yaml", started.isoformat(), 2.5, 0)
            outcome_a = "failed" if 100 <= i < 110 and location == "eu" else "passed"
            recs = [record("smoke::health", outcome_a, "status" if outcome_a == "failed" else None,
                           latency=10.0 + (i % 7) * 1.25, limit="400"),
                    record("slo::search", "failed" if i % 37 == 0 else ("flaky" if i % 11 == 0 else "passed"),
                           "no_data" if i % 37 == 0 else None, latency=100.0 + i % 13, attempts=2 if i % 11 == 0 else 1),
                    record("data::fresh", "failed" if i % 5 == 0 else "degraded", "stale" if i % 5 == 0 else "threshold")]
            store.record_run(run, recs, location=location, release="1.0", run_key=f"{location}-{i}",
                             profile_path="p.yaml", profile_hash="h", maintenance=(200 <= i < 205))
