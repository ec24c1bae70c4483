"""The end-of-run terminal section: what failed, grouped by the runbook section to read, and the verdict.

Reads result records and the run's `RunInfo` only (see opscheck.results), never the plugin's state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from opscheck.results import EXIT_HISTORY_UNAVAILABLE, OUTCOMES, CheckResult, RunInfo

def plural(count: int, word: str) -> str:
    """1 round, 2 rounds: a count and its noun, for messages people read."""
    return f"{count} {word}" + ("" if count == 1 else "s")


SHOWN = ("failed", "degraded", "flaky")
FLAGS = {"degraded": "DEGRADED ", "flaky": "FLAKY "}


def shown_link(link: str, cwd: str | None = None) -> str:
    """A runbook link as the terminal shows it: a URL as it is; a file path (with its #anchor)
    relative to the working directory when that is shorter."""
    if "://" in link:
        return link
    path, sep, anchor = link.partition("#")
    try:
        relative = os.path.relpath(path, cwd or os.getcwd())
    except ValueError:  # another drive (Windows)
        return link
    return relative + sep + anchor if len(relative) < len(path) else link


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
            tr.write_line(f"{first.runbook.section}  ->  {shown_link(first.runbook.link)}", bold=True)
            for line in first.runbook.excerpt:
                tr.write_line(f"  | {line}")
        for r in group:
            flag = FLAGS.get(r.outcome, "")
            tr.write_line(f"  {r.severity:<9} {r.id:<32} {r.reason or '-':<9} {flag}{r.message or ''}",
                          yellow=bool(flag))
    outcomes = list(OUTCOMES) + sorted({r.outcome for r in results} - set(OUTCOMES))
    counts = {o: sum(1 for r in results if r.outcome == o) for o in outcomes}
    verdict = "PASS" if exit_code == 0 else "FAIL"
    if exit_code == EXIT_HISTORY_UNAVAILABLE and not any(r.outcome == "failed" for r in results):
        # The service is fine; the run's record is what went wrong. "FAIL" here would page the wrong team.
        verdict = "checks PASS, history NOT STORED"
    soft = [o for o in ("degraded", "flaky") if exit_code in (0, EXIT_HISTORY_UNAVAILABLE) and any(r.outcome == o for r in results)]
    if soft:
        verdict += f" with {' and '.join(soft)} results"
    parts = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    reruns = sum(1 for r in results if len(r.attempts) > 1)
    rerun_note = f"; {reruns} rerun" if reruns else ""
    tr.write_line(f"opscheck verdict: {verdict} ({parts} of {len(results)} checks{rerun_note}; exit code {exit_code})",
                  green=verdict.startswith("PASS"), yellow=verdict.startswith("checks PASS"),
                  red=verdict.startswith("FAIL"), bold=True)
    if run.report_dir is not None:
        folder = Path(run.report_dir)
        # benchmark.json: pytest-benchmark's, written here when the profile has benchmark checks.
        names = [n for n in ("report.html", "junit.xml", "results.json", "summary.md", "benchmark.json") if _written(folder / n, run)]
        tr.write_line("opscheck reports: " + ", ".join(str(folder / n) for n in names))


def _written(path: Path, run: RunInfo) -> bool:
    """The file exists and was written by this run, not left by an earlier one (summary.md is
    written only in some modes)."""
    from datetime import datetime

    try:
        mtime = path.stat().st_mtime
        started = datetime.fromisoformat(run.started_at).timestamp()
    except (OSError, ValueError):
        return path.exists()
    return mtime >= started - 1  # started_at has whole seconds


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


def check_label(nodeid: str, family_by_file: dict[str, str]) -> tuple[str, str] | None:
    """A bundled check's node id -> (family, check id), e.g. "test_smoke.py::test_smoke[api-health]"
    -> ("smoke", "smoke::api-health"); None for any other test."""
    path, _, rest = str(nodeid).partition("::")
    family = family_by_file.get(path)
    if family is None or "[" not in rest or not rest.endswith("]"):
        return None
    return family, f"{family}::{rest[rest.index('[') + 1:-1]}"


def show_check_ids(tr: Any, checks_dir: Path, family_by_file: dict[str, str]) -> None:
    """Make pytest's terminal reporter `tr` name bundled checks by family and check id instead of
    their installed file paths (`opscheck run`, `opscheck demo`): a progress line per family
    (`smoke .....`), and check ids with -v. Any other test keeps pytest's usual line.

    pytest has no hook for the progress line's prefix, so the reporter's two methods that write it
    are wrapped on this one instance, as plugins that restyle the progress lines do. Only node ids
    under the bundled checks' rootdir (`checks_dir`) are relabelled.
    """
    if Path(tr.config.rootpath).resolve() != Path(checks_dir).resolve():
        return  # the node ids are not the bundled ones' short form
    write_result: Callable[..., None] = tr.write_fspath_result
    location_line = getattr(tr, "_locationline", None)

    def write_fspath_result(nodeid: Any, res: str, **markup: bool) -> None:
        label = check_label(nodeid, family_by_file)
        if label is None:
            write_result(nodeid, res, **markup)
            return
        key = Path(f"<opscheck {label[0]}>")
        if tr.currentfspath != key:
            filler = getattr(tr, "_write_progress_information_filling_space", None)
            if tr.currentfspath is not None and getattr(tr, "_show_progress_info", False) and filler is not None:
                filler()
            tr.currentfspath = key
            tw = getattr(tr, "_tw", None)
            if tw is not None:
                tw.line()
            tr.write(f"{label[0]} ")
        tr.write(res, flush=True, **markup)

    tr.write_fspath_result = write_fspath_result
    if location_line is not None:
        def locationline(nodeid: Any, fspath: str, lineno: int | None, domain: str) -> str:
            label = check_label(nodeid, family_by_file)
            return label[1] + " " if label is not None else location_line(nodeid, fspath, lineno, domain)

        tr._locationline = locationline
