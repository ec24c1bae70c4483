"""The state of one opscheck run inside a pytest session: profile, target, client and results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from opscheck.evidence.kinds import Evidence
from opscheck.transport.http import HttpClient
from opscheck.outcome import CheckFailed
from opscheck.config.profile import Case, Profile
from opscheck.evidence.redact import Redactor
from opscheck.report.results import CheckResult, RunbookRef
from opscheck.transport.target import Target


@dataclass
class RunState:
    profile: Profile
    target: Target | None
    redactor: Redactor
    report_dir: Path | None
    wait_ready_s: float | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t0: float = field(default_factory=time.perf_counter)
    results: dict[str, CheckResult] = field(default_factory=dict)
    unreachable: list[tuple[str, CheckFailed]] = field(default_factory=list)
    gate_failure: CheckFailed | None = None
    gate_note: str | None = None
    exit_code: int | None = None
    internal_errors: list[str] = field(default_factory=list)  # crashes outside any one check, redacted
    session: Any = None  # the pytest.Session, once started
    cache: dict[str, Any] = field(default_factory=dict)  # shared by the run's checks
    _client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(self.profile.http, self.redactor)
            self._client.on_unreachable = self._note_unreachable
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _note_unreachable(self, origin: str, failure: CheckFailed) -> None:
        self.unreachable.append((origin, failure))

    def runbook_ref(self, case: Case) -> RunbookRef | None:
        if case.section is None:
            return None
        return RunbookRef(case.section.title, case.section.anchor, self.profile.link(case.section), list(case.section.excerpt))

    def result_for(self, nodeid: str, case: Case) -> CheckResult:
        if nodeid not in self.results:
            self.results[nodeid] = CheckResult(
                id=case.check_id,
                nodeid=nodeid,
                family=case.family,
                name=case.name,
                severity=case.severity,
                runbook=self.runbook_ref(case),
                profile_field=case.field,
                profile_line=case.line,
            )
        return self.results[nodeid]

    def record(
        self, nodeid: str, case: Case, when: str, outcome: str, duration_s: float,
        reason: str | None, message: str | None, evidence: list[Evidence],
    ) -> CheckResult:
        result = self.result_for(nodeid, case)
        result.duration_ms += duration_s * 1000
        # The first failure wins; a pass is only ever granted by the call phase.
        if outcome == "failed" and (not result.settled or result.outcome != "failed"):
            result.outcome, result.reason, result.message = "failed", reason, message
            result.settled = True
        elif outcome == "degraded" and (not result.settled or result.outcome == "passed"):
            result.outcome, result.reason, result.message = "degraded", reason, message
            result.settled = True
        elif outcome == "skipped" and (not result.settled or result.outcome == "passed"):
            result.outcome, result.reason, result.message = "skipped", None, message
            result.settled = True
        elif outcome == "passed" and when == "call" and not result.settled:
            result.outcome, result.reason, result.message = "passed", None, None
            result.settled = True
        if when == "call" or (outcome != "passed" and not result.evidence):
            result.evidence = [e.to_dict() for e in evidence]
        return result

    def mark_error(self, result: CheckResult, message: str) -> None:
        """Overrule whatever was recorded: the check failed with reason `error`."""
        result.outcome, result.reason, result.message, result.settled = "failed", "error", message, True

    def write_results(self) -> str | None:
        """Write results.json into the report dir (if any) with `exit_code`; returns None, or a
        one-line redacted error when it could not be written."""
        if self.report_dir is None:
            return None
        # Written even with no checks: a results.json left from an earlier run must not speak for this one.
        from opscheck.report.results import results_payload, write_json_atomic

        path = self.report_dir / "results.json"
        try:
            write_json_atomic(path, results_payload(self.run_info(self.exit_code), list(self.results.values())))
        except Exception as exc:  # noqa: BLE001 - the caller fails the run with this line
            return self.redactor.text(f"results.json: cannot write {path}: {type(exc).__name__}: {exc}")
        return None

    def run_info(self, exit_code: int | None) -> dict[str, Any]:
        return {
            "service": self.profile.service,
            "environment": self.target.environment if self.target else None,
            "base_url": self.redactor.text(self.target.base_url) if self.target else None,
            "profile": str(self.profile.path),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - self.t0, 3),
            "exit_code": exit_code,
        }
