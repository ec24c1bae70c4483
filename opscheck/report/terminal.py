"""The end-of-run terminal section: what failed, grouped by the runbook section to read, and the verdict.

Reads result records and the run's `RunInfo` only (see opscheck.results), never the plugin's state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opscheck.results import OUTCOMES, CheckResult, RunInfo

SHOWN = ("failed", "degraded")


def write_summary(tr: Any, run: RunInfo, results: list[CheckResult], exit_code: int) -> None:
    """Write the runbook summary and the verdict line to `tr` (pytest's terminal reporter, or
    anything with write_sep/write_line). `exit_code` is the one the run ends with."""
    flagged = [r for r in results if r.outcome in SHOWN]
    if flagged or run.unreachable or run.not_ready or run.internal_errors:
        failing = any(r.outcome == "failed" for r in flagged) or bool(run.internal_errors)
        tr.write_sep("=", "opscheck runbook summary", red=failing, yellow=not failing, bold=True)
    for error in run.internal_errors:
        tr.write_line(f"INTERNAL ERROR: {error}", red=True, bold=True)
    if run.not_ready is not None:
        tr.write_line(f"NOT READY: {run.not_ready}", red=True, bold=True)
    for origin, message in run.unreachable[:1]:
        others = sum(1 for r in results if r.reason in ("connect", "dns"))
        tr.write_line(
            f"TARGET UNREACHABLE: {origin}: {message} "
            f"({others} check(s) failed at once without waiting)", red=True, bold=True,
        )
    for _, group in _by_section(flagged):
        first = group[0]
        if first.runbook is None:
            tr.write_line("(no runbook section)", bold=True)
        else:
            tr.write_line(f"{first.runbook.section}  ->  {first.runbook.link}", bold=True)
            for line in first.runbook.excerpt:
                tr.write_line(f"  | {line}")
        for r in group:
            flag = "DEGRADED " if r.outcome == "degraded" else ""
            tr.write_line(f"  {r.severity:<9} {r.id:<32} {r.reason or '-':<9} {flag}{r.message or ''}",
                          yellow=bool(flag))
    outcomes = list(OUTCOMES) + sorted({r.outcome for r in results} - set(OUTCOMES))
    counts = {o: sum(1 for r in results if r.outcome == o) for o in outcomes}
    verdict = "PASS" if exit_code == 0 else "FAIL"
    parts = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    reruns = sum(1 for r in results if len(r.attempts) > 1)
    rerun_note = f"; {reruns} rerun" if reruns else ""
    tr.write_line(f"opscheck verdict: {verdict} ({parts} of {len(results)} checks{rerun_note}; exit code {exit_code})",
                  green=verdict == "PASS", red=verdict != "PASS", bold=True)
    if run.report_dir is not None:
        folder = Path(run.report_dir)
        names = [n for n in ("report.html", "junit.xml", "results.json") if (folder / n).exists()]
        tr.write_line("opscheck reports: " + ", ".join(str(folder / n) for n in names))


def _by_section(results: list[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for r in results:
        groups.setdefault(r.runbook.anchor if r.runbook else "", []).append(r)
    return list(groups.items())


class TerminalSink:
    """The terminal runbook summary as a sink: `on_finish` keeps the run's records, `write(tr,
    exit_code)` writes them when pytest asks for its terminal summary (raises what formatting raised)."""

    def __init__(self) -> None:
        self.run: RunInfo | None = None
        self.records: list[CheckResult] = []

    def on_result(self, record: CheckResult) -> None:
        pass

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        self.run, self.records = run, list(records)

    def write(self, tr: Any, exit_code: int) -> None:
        if self.run is not None:
            write_summary(tr, self.run, self.records, exit_code)
