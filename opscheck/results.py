"""The result record every sink consumes: one `CheckResult` per check, one `RunInfo` per run.

Records are plain data: no pytest objects, no HTTP client. results.json holds exactly what
`CheckResult.to_dict` returns, and `CheckResult.from_dict` reads it back, so a live run and a
results.json read later (history import, alert replay) feed a sink the same way.

How a check's phases and attempts become one verdict is decided in one place, `apply_phase`:

    record = CheckResult(id="smoke::health", nodeid="...", family="smoke", name="health", ...)
    apply_phase(record, PhaseResult(when="setup", outcome="passed", attempt=0))
    apply_phase(record, PhaseResult(when="call", outcome="failed", reason="status", attempt=0))
    apply_phase(record, PhaseResult(when="call", outcome="passed", attempt=1))   # a rerun
    record.outcome == "passed" and len(record.attempts) == 2

Within one attempt (setup, call, teardown):
- the first failure wins; a later phase's failure does not replace it;
- degraded or skipped replace only a pass (or no verdict yet);
- a pass is granted only by the call phase, and only when no phase has said otherwise.
Across attempts (pytest-rerunfailures): the last attempt's verdict is the check's verdict; every
attempt is kept in `attempts`, in order. A phase that pytest-rerunfailures marked `rerun` counts as
a failure of its attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

EXIT_HISTORY_UNAVAILABLE = 6  # exit code: every check passed, but --history could not take the run

OUTCOMES = ("passed", "degraded", "flaky", "failed", "skipped")  # flaky: passed only on a retry (the gate)
RESULTS_VERSION = 1
PHASES = ("setup", "call", "teardown")


@dataclass
class RunbookRef:
    """The runbook section a check's failure points to: title, anchor, absolute link, first lines."""

    section: str
    anchor: str
    link: str
    excerpt: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "anchor": self.anchor, "link": self.link, "excerpt": list(self.excerpt)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunbookRef | None:
        if data is None:
            return None
        return cls(data["section"], data["anchor"], data["link"], list(data.get("excerpt") or []))


@dataclass
class Attempt:
    """One run of a check's setup, call and teardown. `duration_ms` is the sum of its phases, in ms."""

    outcome: str | None = None  # None until a phase settles it
    reason: str | None = None
    message: str | None = None
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome or "failed", "reason": self.reason if self.outcome else "error",
                "message": self.message if self.outcome else "no verdict: the attempt never reported a result",
                "duration_ms": round(self.duration_ms, 3)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(data["outcome"], data.get("reason"), data.get("message"), float(data.get("duration_ms") or 0.0))


@dataclass
class PhaseResult:
    """What one pytest phase of one check says, as JSON-able data.

    The plugin builds it in `pytest_runtest_makereport` and puts `to_dict()` on the test report, so
    it travels from a pytest-xdist worker to the controller, where `apply_phase` merges it.
    `outcome` is passed, failed, skipped, degraded or rerun; `attempt` counts from 0 (the index
    pytest-rerunfailures gives the run); `duration_ms` in ms; `evidence` is a list of evidence dicts.
    """

    when: str
    outcome: str
    attempt: int = 0
    reason: str | None = None
    message: str | None = None
    duration_ms: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    measurements: dict[str, Any] | None = None
    plots: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # observed/limit/unit/fingerprint, when the failure has them

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class CheckResult:
    """One check's record, as results.json holds it (see opscheck/results.schema.json)."""

    id: str  # "family::name", stable across runs
    nodeid: str
    family: str
    name: str
    severity: str
    runbook: RunbookRef | None
    profile_field: str
    profile_line: int | None
    # Until a phase reports a verdict, a check counts as crashed: a run that stops mid-check
    # (internal error, a crashing hook) must never leave it looking passed.
    outcome: str = "failed"
    reason: str | None = "error"
    message: str | None = "no verdict: the check never reported a result"
    duration_ms: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    measurements: dict[str, Any] | None = None  # SLO / benchmark statistics
    facts: dict[str, Any] = field(default_factory=dict)  # observed, limit, unit, fingerprint of the verdict's failure
    attempts: list[Attempt] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)  # raw samples for report pictures; not in the JSON
    settled: bool = False  # a phase of the current attempt reported a verdict; not in the JSON
    finished: bool = False  # every phase was reported to all plugins; not in the JSON
    html_detail: str | None = None  # report.html's detail block, rendered once the verdict is final; not in the JSON
    html_cells: tuple[str, str] | None = None  # report.html's Reason and Runbook cells, likewise; not in the JSON

    _PRIVATE = ("plots", "settled", "finished", "html_detail", "html_cells", "facts", "attempts")

    def identity(self) -> dict[str, Any]:
        """What names the check (no verdict): sent with each phase so a controller can build the record."""
        return {"id": self.id, "nodeid": self.nodeid, "family": self.family, "name": self.name,
                "severity": self.severity, "runbook": self.runbook.to_dict() if self.runbook else None,
                "profile_field": self.profile_field, "profile_line": self.profile_line}

    @classmethod
    def from_identity(cls, data: dict[str, Any]) -> CheckResult:
        return cls(id=data["id"], nodeid=data["nodeid"], family=data["family"], name=data["name"],
                   severity=data["severity"], runbook=RunbookRef.from_dict(data.get("runbook")),
                   profile_field=data["profile_field"], profile_line=data.get("profile_line"))

    def to_dict(self) -> dict[str, Any]:
        """The results.json entry: JSON-able, durations in ms rounded to µs."""
        data = {k: v for k, v in self.__dict__.items() if k not in self._PRIVATE}
        if self.measurements is None:
            data.pop("measurements")
        data["duration_ms"] = round(self.duration_ms, 3)
        if self.runbook is not None:
            data["runbook"] = {"section": self.runbook.section, "anchor": self.runbook.anchor, "link": self.runbook.link}
        for key in FACT_FIELDS:  # null when the verdict's failure carried none (or the check passed)
            data[key] = self.facts.get(key)
        data["attempts"] = [a.to_dict() for a in self.attempts]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """A results.json entry -> the record (runbook excerpts are not in the file: they come back empty)."""
        record = cls.from_identity({**data, "nodeid": data.get("nodeid", data["id"]),
                                    "profile_field": data.get("profile_field", ""),
                                    "profile_line": data.get("profile_line")})
        record.outcome, record.reason, record.message = data["outcome"], data.get("reason"), data.get("message")
        record.duration_ms = float(data.get("duration_ms") or 0.0)
        record.evidence = list(data.get("evidence") or [])
        record.measurements = data.get("measurements")
        record.facts = {k: data[k] for k in FACT_FIELDS if k in data}
        record.attempts = [Attempt.from_dict(a) for a in data.get("attempts") or []]
        record.settled = record.finished = True
        return record


FACT_FIELDS = ("observed", "limit", "unit", "fingerprint")


def _replaces(when: str, outcome: str, current: str | None) -> bool:
    """The precedence rule within one attempt: does this phase's outcome replace the verdict so far
    (`current`, None when no phase has settled one)?"""
    if outcome == "failed":
        return current != "failed"  # the first failure wins
    if outcome in ("degraded", "skipped"):
        return current in (None, "passed")
    if outcome == "passed":
        return when == "call" and current is None
    return False


def apply_phase(record: CheckResult, phase: PhaseResult) -> CheckResult:
    """Merge one phase into its check's record, under the precedence rule in the module docstring.

    Incremental on purpose: a plugin that adjusts the record between phases (the gate's `flaky`)
    keeps its verdict unless a later phase outranks it. Returns `record`.
    """
    outcome = "failed" if phase.outcome == "rerun" else phase.outcome
    while len(record.attempts) <= phase.attempt:
        if record.attempts:  # a rerun: the new attempt's verdict starts afresh
            record.settled, record.evidence, record.plots, record.measurements, record.facts = False, [], [], None, {}
            record.outcome, record.reason, record.message = (
                "failed", "error", "no verdict: the check never reported a result")
        record.attempts.append(Attempt())
    attempt = record.attempts[phase.attempt]
    attempt.duration_ms += phase.duration_ms
    record.duration_ms += phase.duration_ms
    if phase.attempt != len(record.attempts) - 1:
        return record  # a late phase of a superseded attempt never changes the verdict
    if _replaces(phase.when, outcome, record.outcome if record.settled else None):
        reason = phase.reason if outcome in ("failed", "degraded") else None
        message = None if outcome == "passed" else phase.message
        record.outcome, record.reason, record.message, record.settled = outcome, reason, message, True
        record.facts = dict(phase.facts)
    if _replaces(phase.when, outcome, attempt.outcome):
        attempt.outcome = outcome
        attempt.reason = phase.reason if outcome in ("failed", "degraded") else None
        attempt.message = None if outcome == "passed" else phase.message
    if phase.when == "call" or (outcome != "passed" and not record.evidence):
        record.evidence = list(phase.evidence)
    if phase.measurements is not None:
        record.measurements = phase.measurements
    record.plots.extend(phase.plots)
    return record


def mark_error(record: CheckResult, message: str) -> None:
    """Overrule whatever was recorded: the check failed with reason `error` (its last attempt too)."""
    record.outcome, record.reason, record.message, record.settled = "failed", "error", message, True
    if record.attempts:
        record.attempts[-1].outcome, record.attempts[-1].reason, record.attempts[-1].message = "failed", "error", message


def count_outcomes(records: list[CheckResult]) -> dict[str, int]:
    """outcome -> number of checks; every outcome in OUTCOMES is present (0 when none)."""
    counts = {outcome: 0 for outcome in OUTCOMES}
    for record in records:
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
    return counts


@dataclass
class RunInfo:
    """One run, as results.json's `run` holds it. `started_at` is ISO 8601 (UTC, seconds);
    `duration_s` in seconds; `exit_code` is pytest's (None while the run goes on); `counts` maps an
    outcome to its number of checks. `report_dir`, `unreachable`, `not_ready` and `internal_errors`
    are for the terminal summary, not in the JSON."""

    service: str
    environment: str | None
    base_url: str | None
    profile: str
    started_at: str
    duration_s: float = 0.0
    exit_code: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    report_dir: str | None = None
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (origin, message), redacted
    not_ready: str | None = None
    internal_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "environment": self.environment, "base_url": self.base_url,
                "profile": self.profile, "started_at": self.started_at, "duration_s": self.duration_s,
                "exit_code": self.exit_code, "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInfo:
        return cls(service=data["service"], environment=data.get("environment"), base_url=data.get("base_url"),
                   profile=data.get("profile", ""), started_at=data["started_at"],
                   duration_s=float(data.get("duration_s") or 0.0), exit_code=data.get("exit_code"),
                   counts=dict(data.get("counts") or {}))


def results_payload(run: RunInfo, checks: list[CheckResult], sections: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole results.json document; `run.counts` is recomputed from `checks`. `sections` adds
    top-level parts beside `run` and `checks` (`rounds`, `history`, `notifications`, `drill`: see
    results.schema.json), JSON-able values only."""
    run.counts = count_outcomes(checks)
    payload = {"version": RESULTS_VERSION, "run": run.to_dict(), "checks": [c.to_dict() for c in checks]}
    for name, value in (sections or {}).items():
        if name not in payload:
            payload[name] = value
    return payload


def read_payload(payload: dict[str, Any]) -> tuple[RunInfo, list[CheckResult]]:
    """A results.json document -> (RunInfo, records): the inverse of `results_payload`."""
    return RunInfo.from_dict(payload["run"]), [CheckResult.from_dict(c) for c in payload["checks"]]


@runtime_checkable
class Sink(Protocol):
    """Anything that consumes result records: results.json, the terminal summary, report.html,
    junit properties; later the history store, alert receivers and Prometheus export.

    `on_result(record)` is called on the controller once a check's last phase was merged (with
    reruns: once per attempt; the record then holds every attempt so far). `on_finish(run, records)`
    is called once, at the end, with every check's final record. Sinks never see pytest or HTTP
    objects, so a results.json read back with `read_payload` feeds them the same way.
    """

    def on_result(self, record: CheckResult) -> None: ...

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None: ...
