"""The drill record on paper: `drill.md` (the runbook's "document results" step) and the drill
section of report.html with a timeline of the steps (inline SVG, no script, no external asset).

Both render the `drill` object of results.json; every value in it is already redacted. HTML
escapes every text it shows.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from opscheck.drill.run import fmt_s

SECTION_ID = "opscheck-drill"  # report.html: the drill section, in the report's sections anchor
_COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "skipped": "#9e9e9e"}


class AnchorMissing(Exception):
    """report.html has no sections anchor to put the drill section in (not an opscheck report.html)."""


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(record: dict[str, Any]) -> str:
    """drill.md: the outcome, the findings, RTO/RPO against targets, the steps, files, tables,
    the restore command with its output tail, canaries and smoke."""
    outcome = record.get("outcome", "failed").upper()
    lines = [f"# Restore drill: {_md(record.get('service'))} ({_md(record.get('environment'))}): {outcome}", ""]
    manifest = record.get("manifest") or {}
    lines += [
        f"- Started: {record.get('started_at')}, took {fmt_s(record.get('duration_s'))}",
        f"- Target: {record.get('base_url')}",
        f"- Manifest: `{_md(manifest.get('path'))}` ({manifest.get('checksum', '')[:20]}...), "
        f"backup time {manifest.get('backup_time')}",
    ]
    age = record.get("backup_age")
    if age:
        lines.append(f"- Backup age: {fmt_s(age['age_s'])} (max {fmt_s(age['max_s'])}): {age['status']}")
    lines.append("")
    findings = record.get("findings") or []
    lines += ["## Findings", ""]
    lines += [f"- {_md(f)}" for f in findings] if findings else ["None: every step passed."]
    lines.append("")
    if record.get("rto") or record.get("rpo"):
        lines += ["## RTO and RPO", "", "| objective | component | target | achieved | result |", "|---|---|---|---|---|"]
        for r in record.get("rto") or []:
            lines.append(f"| RTO (until {r['until']}) | {_md(r['component'])} | {fmt_s(r['target_s'])} | {fmt_s(r['achieved_s'])} | {r['status']} |")
        for r in record.get("rpo") or []:
            lines.append(f"| RPO | {_md(r['component'])} | {fmt_s(r['target_s'])} | {fmt_s(r['achieved_s'])} | {r['status']} |")
        lines.append("")
    lines += ["## Steps", "", "| step | result | from | to | detail |", "|---|---|---|---|---|"]
    for s in record.get("steps") or []:
        lines.append(f"| {s['name']} | {s['status']} | {fmt_s(s['start_s'])} | {fmt_s(s['end_s'])} | {_md(s['message'])} |")
    lines.append("")
    restore = record.get("restore")
    if restore and restore.get("command"):
        lines += ["## Restore command", "", f"`{_md(restore['command'])}`: exit code {restore.get('exit_code')}, "
                  f"{fmt_s(restore.get('duration_s'))}" + (", timed out (process tree killed)" if restore.get("timed_out") else ""), ""]
        if restore.get("output_tail"):
            lines += ["Output (last lines, redacted):", "", "```", *restore["output_tail"], "```", ""]
    files = record.get("files")
    if files:
        lines += ["## Files", "", f"Root: `{_md(files['root'])}`", "", "| file | result | detail |", "|---|---|---|"]
        for f in files["entries"]:
            lines.append(f"| {_md(f['path'])} | {f['status']} | {_md(f['message'])} |")
        for extra in files.get("extra") or []:
            lines.append(f"| {_md(extra)} | extra | not in the manifest |")
        lines.append("")
    if record.get("tables"):
        lines += ["## Database tables", "", "| table | rows (manifest) | newest | checksum | result |", "|---|---|---|---|---|"]
        for t in record["tables"]:
            checksum = (t.get("checksum") or {}).get("status", "-")
            lines.append(f"| {_md(t['table'])} | {t.get('rows')} ({t.get('expected_rows')}) | {t.get('newest') or '-'} | "
                         f"{checksum} | {t['status']} |")
        lines.append("")
    if record.get("canaries"):
        lines += ["## Canaries", "", "| canary | path | result | detail |", "|---|---|---|---|"]
        for c in record["canaries"]:
            lines.append(f"| {_md(c['name'])} | `{_md(c['path'])}` | {c['status']} | {_md(c['message'])} |")
        lines.append("")
    smoke = record.get("smoke")
    if smoke:
        lines += ["## Smoke and readiness", "", f"{_md(smoke['message'])} (exit code {smoke.get('exit_code')})", ""]
        if smoke.get("checks"):
            lines += ["| check | outcome | reason | message |", "|---|---|---|---|"]
            for c in smoke["checks"]:
                lines.append(f"| {_md(c['id'])} | {c['outcome']} | {c.get('reason') or ''} | {_md(c.get('message') or '')} |")
            lines.append("")
    return "\n".join(lines)


def timeline_svg(steps: list[dict[str, Any]], width: int = 720) -> str:
    """One bar per step on a shared time axis (seconds since the drill started)."""
    if not steps:
        return ""
    end = max(max(float(s["end_s"]) for s in steps), 0.001)
    label_w, row_h, top = 110, 22, 18
    plot_w = width - label_w - 90
    height = top + row_h * len(steps) + 6
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="drill timeline" style="font:12px sans-serif">',
           f'<text x="{label_w}" y="12" fill="#555">0 s</text>',
           f'<text x="{label_w + plot_w}" y="12" fill="#555" text-anchor="end">{html.escape(fmt_s(end))}</text>']
    for i, s in enumerate(steps):
        y = top + i * row_h
        x0 = label_w + plot_w * float(s["start_s"]) / end
        w = max(plot_w * (float(s["end_s"]) - float(s["start_s"])) / end, 2.0)
        colour = _COLOURS.get(s["status"], "#9e9e9e")
        title = html.escape(f"{s['name']}: {s['status']}, {fmt_s(s['start_s'])} to {fmt_s(s['end_s'])}: {s['message']}")
        out.append(f'<text x="0" y="{y + 14}">{html.escape(s["name"])}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"><title>{title}</title></rect>')
        out.append(f'<text x="{x0 + w + 4:.1f}" y="{y + 14}" fill="#333">{html.escape(s["status"])} '
                   f'{html.escape(fmt_s(float(s["end_s"]) - float(s["start_s"])))}</text>')
    out.append("</svg>")
    return "".join(out)


def html_section(record: dict[str, Any]) -> str:
    """The drill section as a page of its own would hold it: `<section id="opscheck-drill">`."""
    return f'<section id="{SECTION_ID}">{html_body(record)}</section>'


def html_body(record: dict[str, Any]) -> str:
    """The drill section's content: outcome, findings, RTO/RPO table, timeline, and the per-file and
    per-table results in collapsed details."""
    e = html.escape
    outcome = record.get("outcome", "failed")
    colour = _COLOURS.get(outcome, "#c62828")
    parts = [f'<div class="opscheck-drill" style="border:2px solid {colour};padding:8px 12px;margin:12px 0">',
             f"<style>#{SECTION_ID} td, #{SECTION_ID} th {{padding:1px 14px 1px 0;text-align:left}}</style>",
             f'<h2 style="margin:0 0 6px 0">Restore drill: <span style="color:{colour}">{e(outcome.upper())}</span></h2>',
             f"<p>{e(str(record.get('service')))} ({e(str(record.get('environment')))}), started {e(str(record.get('started_at')))}, "
             f"took {e(fmt_s(record.get('duration_s')))}; backup time {e(str((record.get('manifest') or {}).get('backup_time')))}</p>"]
    findings = record.get("findings") or []
    if findings:
        parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in findings) + "</ul>")
    rows = [(f"RTO until {r['until']}", r) for r in record.get("rto") or []] + [("RPO", r) for r in record.get("rpo") or []]
    if rows:
        parts.append('<table class="opscheck-drill-objectives"><tr><th>objective</th><th>component</th><th>target</th>'
                     "<th>achieved</th><th>result</th></tr>")
        for kind, r in rows:
            parts.append(f"<tr><td>{e(kind)}</td><td>{e(r['component'])}</td><td>{e(fmt_s(r['target_s']))}</td>"
                         f"<td>{e(fmt_s(r['achieved_s']))}</td><td style=\"color:{_COLOURS.get(r['status'], '#000')}\">"
                         f"{e(r['status'])}</td></tr>")
        parts.append("</table>")
    parts.append('<h3>Timeline</h3>' + timeline_svg(record.get("steps") or []))
    files = record.get("files")
    if files:
        bad = [f for f in files["entries"] if f["status"] != "ok"]
        parts.append(f"<details{' open' if bad else ''}><summary>Files: {len(files['entries'])} checked, {len(bad)} not ok, "
                     f"{len(files.get('extra') or [])} extra</summary><ul>")
        parts += [f"<li>{e(f['status'])}: {e(f['message'])}</li>" for f in files["entries"]]
        parts += [f"<li>extra: {e(x)}</li>" for x in files.get("extra") or []]
        parts.append("</ul></details>")
    if record.get("tables"):
        parts.append("<details open><summary>Database tables</summary><ul>")
        parts += [f"<li>{e(t['status'])}: {e(t['message'])}</li>" for t in record["tables"]]
        parts.append("</ul></details>")
    restore = record.get("restore") or {}
    if restore.get("output_tail"):
        parts.append(f"<details><summary>Restore output (last lines, redacted): exit code {e(str(restore.get('exit_code')))}"
                     f"</summary><pre>{e(chr(10).join(restore['output_tail']))}</pre></details>")
    parts.append("</div>")
    return "".join(parts)


def insert_section(report: Path, record: dict[str, Any]) -> None:
    """Put the drill section at the top of report.html, replacing one put there before, through
    the report's own sections anchor (opscheck.report.html.add_section, right after the verdict
    banner). Raises AnchorMissing when the page has no anchor (not an opscheck report.html),
    OSError when it cannot be read or written."""
    from opscheck.report.html import ReportLayoutError, add_section

    try:
        add_section(report, SECTION_ID, html_body(record))
    except ReportLayoutError as exc:
        raise AnchorMissing(f"{report}: {exc}") from None


def standalone_html(record: dict[str, Any]) -> str:
    title = html.escape(f"Restore drill: {record.get('service')} ({record.get('environment')})")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"/><title>{title}</title></head>'
            f'<body style="font-family:sans-serif"><h1 id="title">{title}</h1>{html_section(record)}</body></html>\n')
