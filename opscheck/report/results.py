"""results.json: one record per check, with its reason, runbook section and evidence.

The file's shape is published as `opscheck/results.schema.json` and documented in the README.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "degraded", "failed", "skipped")
RESULTS_VERSION = 1


@dataclass
class RunbookRef:
    section: str
    anchor: str
    link: str
    excerpt: list[str] = field(default_factory=list)


@dataclass
class CheckResult:
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
    plots: list[dict[str, Any]] = field(default_factory=list)  # raw samples for report pictures; not in the JSON
    settled: bool = False  # a phase reported a verdict (pass, skip, fail or degrade); not in the JSON
    finished: bool = False  # every phase was reported to all plugins; not in the JSON
    html_detail: str | None = None  # report.html's detail block, rendered once the verdict is final; not in the JSON
    html_cells: tuple[str, str] | None = None  # report.html's Reason and Runbook cells, likewise; not in the JSON

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for private in ("plots", "settled", "finished", "html_detail", "html_cells"):
            data.pop(private)
        if self.measurements is None:
            data.pop("measurements")
        data["duration_ms"] = round(self.duration_ms, 3)
        if self.runbook is not None:
            data["runbook"] = {"section": self.runbook.section, "anchor": self.runbook.anchor, "link": self.runbook.link}
        return data


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write via a temp file and rename, so a crash never leaves a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # dumps without indent, not dump: only that path uses json's C encoder.
            handle.write(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from CI artifact uploaders
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def results_payload(run: dict[str, Any], checks: list[CheckResult]) -> dict[str, Any]:
    counts = {outcome: 0 for outcome in OUTCOMES}
    for check in checks:
        counts[check.outcome] = counts.get(check.outcome, 0) + 1
    return {"version": RESULTS_VERSION, "run": {**run, "counts": counts}, "checks": [c.to_dict() for c in checks]}
