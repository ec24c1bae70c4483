"""One watch round as results.json's `rounds` list keeps it, read from that round's own results.json.

A round entry (see `$defs/rounds` in opscheck/results.schema.json):

    {"round": 3, "started_at": "2026-11-30T04:01:05.120+00:00", "offset_s": 60.002, "duration_s": 1.05,
     "status": "failed", "exit_code": 1, "reason": null, "message": null, "report_dir": "rounds/003",
     "checks": [{"id": "readiness::ready", "outcome": "failed", "reason": "status",
                 "message": "GET /health/ready: status 503, expected 200; down: database", "latency_ms": 2.1}]}

`status` is the round's verdict: passed, degraded (it passed with degraded or flaky checks), failed
(a check failed, or the round passed its deadline: `reason` "timeout"), interrupted (Ctrl-C or
SIGTERM during the round: only the checks that reached a verdict are listed) or error (the round
could not run: usage error, no checks selected, internal error; `message` says which).
`latency_ms` is the slowest HTTP exchange of the check in that round (ms), or for a sampled check
(SLO, benchmark) its p95; null when the check timed nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscheck.files import FileReadError, read_bounded

STATUSES = ("passed", "degraded", "failed", "interrupted", "error")
RESULTS_LIMIT = 64 * 1024 * 1024  # a round's results.json; the --baseline bound, for the same file
NO_VERDICT = "no verdict"  # how opscheck.results words a check that never reported one


@dataclass
class RoundCheck:
    id: str
    outcome: str
    reason: str | None
    message: str | None
    latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "outcome": self.outcome, "reason": self.reason, "message": self.message,
                "latency_ms": self.latency_ms}


@dataclass
class Round:
    """One round: its place in time (`offset_s` from the watch's start, `duration_s`, both s) and verdict."""

    number: int
    started_at: str
    offset_s: float
    duration_s: float = 0.0
    status: str = "error"
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    report_dir: str = ""
    checks: list[RoundCheck] = field(default_factory=list)
    payload: dict[str, Any] | None = None  # the round's whole results.json; not in the rounds list

    @property
    def failing(self) -> list[RoundCheck]:
        return [c for c in self.checks if c.outcome == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.number, "started_at": self.started_at, "offset_s": round(self.offset_s, 3),
                "duration_s": round(self.duration_s, 3), "status": self.status, "exit_code": self.exit_code,
                "reason": self.reason, "message": self.message, "report_dir": self.report_dir,
                "checks": [c.to_dict() for c in self.checks]}


def latency_ms(evidence: list[dict[str, Any]]) -> float | None:
    """The slowest HTTP exchange among evidence dicts (ms), else a sample summary's p95, else None."""
    slowest: float | None = None
    for item in evidence or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("kind", "http")
        value: Any = None
        if kind == "http":
            value = item.get("elapsed_ms")
        elif kind == "sample_summary":
            value = (item.get("percentiles") or {}).get("p95_ms")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (slowest is None or value > slowest):
            slowest = float(value)
    return None if slowest is None else round(slowest, 3)


def read_results(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(payload, None) for a readable results.json with `run` and `checks`, else (None, why)."""
    try:
        text = read_bounded(path, RESULTS_LIMIT, "the round's results.json")
    except FileReadError as exc:
        return None, "the round wrote no results.json" if exc.not_found else f"cannot read the round's results.json: {exc.cause}"
    except OSError as exc:
        return None, f"cannot read the round's results.json: {exc.strerror or exc}"
    try:
        payload = json.loads(text)
    except ValueError as exc:
        return None, f"the round's results.json is not JSON: {exc}"
    if not isinstance(payload, dict) or not isinstance(payload.get("checks"), list) or not isinstance(payload.get("run"), dict):
        return None, "the round's results.json has no run and checks"
    return payload, None


def round_checks(payload: dict[str, Any], *, drop_unsettled: bool = False,
                 unsettled_reason: str | None = None, unsettled_message: str | None = None) -> list[RoundCheck]:
    """The checks of a round's results.json. A check that never reached a verdict (the round was
    stopped under it) is left out with `drop_unsettled`, else relabelled with `unsettled_reason`
    and `unsettled_message` when given (a round stopped at its deadline: `timeout`)."""
    checks = []
    for check in payload.get("checks", []):
        if not isinstance(check, dict) or not isinstance(check.get("id"), str):
            continue
        outcome, reason, message = check.get("outcome") or "failed", check.get("reason"), check.get("message")
        unsettled = outcome == "failed" and reason == "error" and str(message or "").startswith(NO_VERDICT)
        if unsettled and drop_unsettled:
            continue
        if unsettled and unsettled_reason is not None:
            reason, message = unsettled_reason, unsettled_message or message
        checks.append(RoundCheck(check["id"], outcome, reason, message, latency_ms(check.get("evidence") or [])))
    return checks


def status_of(exit_code: int, checks: list[RoundCheck]) -> str:
    """A finished round's status from the pytest exit code of its process and its checks."""
    if exit_code == 0:
        return "degraded" if any(c.outcome in ("degraded", "flaky") for c in checks) else "passed"
    if exit_code == 1:
        return "failed"
    if exit_code == 2:
        return "interrupted"
    return "error"
