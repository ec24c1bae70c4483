"""The end-of-run terminal section: what failed, grouped by the runbook section to read, and the verdict."""

from __future__ import annotations

from typing import Any

from opscheck.report.results import OUTCOMES, CheckResult
from opscheck.plugin.session import RunState

SHOWN = ("failed", "degraded")


def write_summary(tr: Any, state: RunState, exit_code: int) -> None:
    results = list(state.results.values())
    flagged = [r for r in results if r.outcome in SHOWN]
    if flagged or state.unreachable or state.gate_failure or state.internal_errors:
        failing = any(r.outcome == "failed" for r in flagged) or bool(state.internal_errors)
        tr.write_sep("=", "opscheck runbook summary", red=failing, yellow=not failing, bold=True)
    for error in state.internal_errors:
        tr.write_line(f"INTERNAL ERROR: {error}", red=True, bold=True)
    if state.gate_failure is not None:
        tr.write_line(f"NOT READY: {state.gate_failure.message}", red=True, bold=True)
    for origin, failure in state.unreachable[:1]:
        others = sum(1 for r in results if r.reason in ("connect", "dns"))
        tr.write_line(
            f"TARGET UNREACHABLE: {state.redactor.text(origin)}: {failure.message} "
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
    tr.write_line(f"opscheck verdict: {verdict} ({parts} of {len(results)} checks; exit code {exit_code})",
                  green=verdict == "PASS", red=verdict != "PASS", bold=True)
    if state.report_dir is not None:
        names = [n for n in ("report.html", "junit.xml", "results.json") if (state.report_dir / n).exists()]
        tr.write_line("opscheck reports: " + ", ".join(str(state.report_dir / n) for n in names))


def _by_section(results: list[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for r in results:
        groups.setdefault(r.runbook.anchor if r.runbook else "", []).append(r)
    return list(groups.items())
