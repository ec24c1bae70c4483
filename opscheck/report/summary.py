"""The gate's CI outputs: summary.md (and $GITHUB_STEP_SUMMARY), and GitHub workflow annotations.

summary.md holds the verdict, a table of the failures (check, severity, reason, message, runbook
link) and the degraded and flaky checks. Under GitHub Actions each failure is also one workflow
command, `::error file=opscheck.yaml,line=N,title=...::message` (degraded and flaky ones are
`::warning`), so the pull request shows it on the profile line of the check. Format of the commands:
https://docs.github.com/en/actions/using-workflows/workflow-commands-for-github-actions

Reads result records only (opscheck.results). Every text here is already redacted by the plugin;
`redact` is applied once more to what leaves the machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from opscheck.results import CheckResult, RunInfo

MAX_ROWS = 200  # a run with thousands of failures still gives a summary GitHub accepts (1 MiB per step)
MAX_CELL = 300


def verdict_of(run: RunInfo, records: list[CheckResult]) -> str:
    """PASS, FAIL, or "PASS with degraded/flaky results"; FAIL whenever the exit code is not 0."""
    if run.exit_code not in (0, None) or any(r.outcome == "failed" for r in records):
        return "FAIL"
    soft = [o for o in ("degraded", "flaky") if any(r.outcome == o for r in records)]
    return f"PASS with {' and '.join(soft)} results" if soft else "PASS"


def markdown_cell(text: str | None) -> str:
    text = " ".join((text or "").split())
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL - 1] + "…"
    return text.replace("|", "\\|") or "-"


def _link(record: CheckResult) -> str:
    if record.runbook is None:
        return "-"
    link = record.runbook.link
    if "://" in link:
        return f"[{markdown_cell(record.runbook.section)}]({link})"
    return f"{markdown_cell(record.runbook.section)} (`{markdown_cell(link)}`)"


def render_markdown(run: RunInfo, records: list[CheckResult]) -> str:
    """The summary as GitHub-flavoured Markdown."""
    verdict = verdict_of(run, records)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
    count_text = ", ".join(f"{n} {o}" for o, n in counts.items()) or "no checks"
    icon = {"PASS": "✅"}.get(verdict, "❌" if verdict == "FAIL" else "⚠️")
    lines = [f"## {icon} opscheck: {verdict}", "",
             f"**{markdown_cell(run.service)}**, environment `{markdown_cell(run.environment)}`, `{markdown_cell(run.base_url)}`: "
             f"{count_text} of {len(records)} checks; exit code {run.exit_code}.", ""]
    for error in run.internal_errors:
        lines += [f"> **Internal error:** {markdown_cell(error)}", ""]
    if run.not_ready:
        lines += [f"> **Not ready:** {markdown_cell(run.not_ready)}", ""]
    for origin, message in run.unreachable[:1]:
        lines += [f"> **Target unreachable:** {markdown_cell(origin)}: {markdown_cell(message)}", ""]
    failed = [r for r in records if r.outcome == "failed"]
    if failed:
        lines += ["### Failures", "", "| check | severity | reason | message | runbook |", "|---|---|---|---|---|"]
        for r in failed[:MAX_ROWS]:
            lines.append(f"| `{r.id}` | {r.severity} | {r.reason or '-'} | {markdown_cell(r.message)} | {_link(r)} |")
        if len(failed) > MAX_ROWS:
            lines.append(f"| … | | | {len(failed) - MAX_ROWS} more in results.json | |")
        lines.append("")
    soft = [r for r in records if r.outcome in ("degraded", "flaky")]
    if soft:
        lines += ["### Degraded and flaky", "", "| check | outcome | reason | message | runbook |", "|---|---|---|---|---|"]
        for r in soft[:MAX_ROWS]:
            lines.append(f"| `{r.id}` | {r.outcome} | {r.reason or '-'} | {markdown_cell(r.message)} | {_link(r)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def escape_annotation_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return escape_annotation_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(run: RunInfo, records: list[CheckResult], workspace: str | None = None) -> list[str]:
    """One workflow command per failed, degraded or flaky check, pointing at its profile line.
    `workspace` ($GITHUB_WORKSPACE, else the cwd) is what the file path is made relative to."""
    base = workspace or os.getcwd()
    try:
        file = os.path.relpath(run.profile, base)
    except ValueError:  # another drive (Windows)
        file = run.profile
    if file.startswith(".."):
        file = run.profile
    out = []
    for r in records:
        if r.outcome not in ("failed", "degraded", "flaky"):
            continue
        level = "error" if r.outcome == "failed" else "warning"
        props = [f"file={_escape_property(file)}"]
        if r.profile_line:
            props.append(f"line={r.profile_line}")
        title = f"{r.id}: {r.outcome}" + (f" ({r.reason})" if r.reason else "")
        props.append(f"title={_escape_property(title)}")
        message = r.message or r.outcome
        if r.runbook is not None:
            message += f"\nrunbook: {r.runbook.section} -> {r.runbook.link}"
        out.append(f"::{level} {','.join(props)}::{escape_annotation_data(message)}")
    return out


class SummarySink:
    """Writes summary.md into the report dir at the end of the run, appends it to the step summary
    file when one is given, and keeps the annotation lines for the terminal (`annotation_lines`).
    Raises OSError when a file cannot be written (the plugin fails the run: exit 3)."""

    def __init__(self, report_dir: Path | None, *, github: bool, step_summary: str | None,
                 redact: Callable[[str], str] = lambda s: s) -> None:
        self.report_dir = report_dir
        self.github = github
        self.step_summary = step_summary
        self.redact = redact
        self.annotation_lines: list[str] = []

    def on_result(self, record: CheckResult) -> None:
        pass

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        text = self.redact(render_markdown(run, records))
        if self.report_dir is not None:
            (self.report_dir / "summary.md").write_text(text, encoding="utf-8")
        if self.step_summary:
            with open(self.step_summary, "a", encoding="utf-8") as handle:
                handle.write(text)
        if self.github:
            self.annotation_lines = [self.redact(line) for line in
                                     annotations(run, records, os.environ.get("GITHUB_WORKSPACE"))]
