"""The state of one opscheck run inside a pytest process: profile, target, client and results.

Under pytest-xdist there is one RunState per process. A worker runs checks (it has the client and
builds each phase's record); the controller merges the records that arrive on the test reports
(`merge`) and is the only one that writes results.json and the summary. A serial run is both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from opscheck.config.profile import Case, Profile
from opscheck.evidence.redact import Redactor
from opscheck.outcome import CheckFailed
from opscheck.results import CheckResult, PhaseResult, RunbookRef, RunInfo, Sink, apply_phase, mark_error
from opscheck.transport.http import HttpClient
from opscheck.transport.target import Target


@dataclass
class RunState:
    profile: Profile
    target: Target | None
    redactor: Redactor
    report_dir: Path | None
    wait_ready_s: float | None = None
    worker: bool = False  # a pytest-xdist worker: runs checks, writes nothing
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t0: float = field(default_factory=time.perf_counter)
    results: dict[str, CheckResult] = field(default_factory=dict)  # node id -> merged record (controller)
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (origin, message), redacted
    heard_unreachable: list[tuple[str, str, str]] = field(default_factory=list)  # (origin, message, node id) from workers
    unreachable_sent: int = 0  # how many of `unreachable` went out on a report already (worker)
    gate_failure: CheckFailed | None = None
    gate_note: str | None = None
    not_ready: str | None = None  # the readiness gate's failure, as the controller heard it
    exit_code: int | None = None
    internal_errors: list[str] = field(default_factory=list)  # crashes outside any one check, redacted
    session: Any = None  # the pytest.Session, once started
    cache: dict[str, Any] = field(default_factory=dict)  # shared by the run's checks
    sinks: list[Sink] = field(default_factory=list)  # fed by `merge` and `finish`, in order
    usage_error: str | None = None  # found by an xdist worker (no target); the controller ends the run with it
    order: list[str] = field(default_factory=list)  # node ids in collection order, as xdist's workers collected them
    finishing: bool = False  # results.json was written once; a later failure rewrites it
    # Top-level parts of results.json beside run and checks, filled by sinks in on_finish (before
    # the file is written): "rounds" (watch), "history", "notifications", "drill". JSON-able, redacted.
    sections: dict[str, Any] = field(default_factory=dict)
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
        self.unreachable.append((self.redactor.text(origin), failure.message))

    def runbook_ref(self, case: Case) -> RunbookRef | None:
        if case.section is None:
            return None
        return RunbookRef(case.section.title, case.section.anchor, self.profile.link(case.section), list(case.section.excerpt))

    def new_record(self, nodeid: str, case: Case) -> CheckResult:
        """A record naming the check, with no verdict yet."""
        return CheckResult(id=case.check_id, nodeid=nodeid, family=case.family, name=case.name,
                           severity=case.severity, runbook=self.runbook_ref(case),
                           profile_field=case.field, profile_line=case.line)

    def result_for(self, nodeid: str, case: Case) -> CheckResult:
        if nodeid not in self.results:
            self.results[nodeid] = self.new_record(nodeid, case)
        return self.results[nodeid]

    def merge(self, check: CheckResult | dict[str, Any], phase: PhaseResult) -> CheckResult:
        """Fold one phase into the check's record. `check` names the check: in a serial run the
        record built where it ran (kept as the merged record when it is the first phase heard),
        from an xdist worker its `identity()` dict."""
        if isinstance(check, CheckResult):
            record = self.results.get(check.nodeid)
            if record is None:
                record = self.results[check.nodeid] = check
        else:
            record = self.results.get(check["nodeid"])
            if record is None:
                record = self.results[check["nodeid"]] = CheckResult.from_identity(check)
        return apply_phase(record, phase)

    def mark_error(self, result: CheckResult, message: str) -> None:
        """Overrule whatever was recorded: the check failed with reason `error`."""
        mark_error(result, message)

    def run_info(self, exit_code: int | None) -> RunInfo:
        return RunInfo(
            service=self.profile.service,
            environment=self.target.environment if self.target else None,
            base_url=self.redactor.text(self.target.base_url) if self.target else None,
            profile=str(self.profile.path),
            started_at=self.started_at.isoformat(timespec="seconds"),
            duration_s=round(time.perf_counter() - self.t0, 3),
            exit_code=exit_code,
            report_dir=str(self.report_dir) if self.report_dir is not None else None,
            unreachable=list(self.unreachable),
            not_ready=self.not_ready,
            internal_errors=list(self.internal_errors),
        )

    def write_results(self) -> str | None:
        """Write results.json into the report dir (if any) with `exit_code`; returns None, or a
        one-line redacted error when it could not be written. Never on a worker."""
        if self.report_dir is None or self.worker:
            return None
        # Written even with no checks: a results.json left from an earlier run must not speak for this one.
        from opscheck.report.results import ResultsJsonSink

        return ResultsJsonSink(self.report_dir, self.redactor.text, self.sections).write(self.run_info(self.exit_code), list(self.results.values()))
