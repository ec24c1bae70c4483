"""report.html's watch timeline: one row per check, one cell per round, coloured by outcome, with
the check's latency in that round drawn as a bar in its cell.

Rendered from results.json's `rounds` list (see opscheck/watch/rounds.py), so a results.json read
back later draws the same picture. Plain HTML and CSS, no script: the self-contained report keeps
working offline and under a strict Content Security Policy. Every cell carries its facts as data
attributes (`data-check`, `data-round`, `data-outcome`, `data-reason`, `data-latency-ms`) and as a
tooltip, so tests and tools read the page without parsing colours.

`insert_timeline(page, section)` puts the section into pytest-html's page just before its results
table (`ANCHOR`); a page without that anchor raises `TimelineAnchorMissing` rather than dropping the
timeline silently.
"""

from __future__ import annotations

from html import escape
from typing import Any

ANCHOR = '<table id="results-table"'
SECTION_ID = "opscheck-watch"

# Outcome -> cell colour; "missing" is a round in which the check did not run (stopped before it).
COLOURS = {"passed": "#cfe9d1", "degraded": "#f7e1a1", "flaky": "#e2cdf0", "skipped": "#e4e4e4",
           "failed": "#f4b4b0", "missing": "#ffffff"}
BAR = {"passed": "#2e7d32", "degraded": "#b36b00", "flaky": "#8e44ad", "skipped": "#777777",
       "failed": "#b71c1c", "missing": "#999999"}
STATUS_COLOURS = {"passed": "#2e7d32", "degraded": "#b36b00", "failed": "#b71c1c", "interrupted": "#b36b00",
                  "error": "#b71c1c"}

_STYLE = """
#opscheck-watch { margin: 1em 0 1.5em; }
#opscheck-watch .watch-verdict { font-weight: bold; }
#opscheck-watch .watch-scroll { overflow-x: auto; max-width: 100%; }
#opscheck-watch table.watch-timeline { border-collapse: separate; border-spacing: 2px; font-size: 12px; }
#opscheck-watch th.watch-check { text-align: left; white-space: nowrap; padding-right: 8px; font-weight: normal; }
#opscheck-watch th.watch-round { font-weight: normal; color: #555; min-width: 14px; text-align: center; }
#opscheck-watch th.watch-round span.watch-status { display: block; height: 4px; margin-top: 2px; }
#opscheck-watch td.watch-cell { width: 14px; min-width: 14px; height: 26px; padding: 0; position: relative;
  border: 1px solid rgba(0,0,0,0.08); vertical-align: bottom; }
#opscheck-watch td.watch-cell.outcome-missing { border-style: dashed; }
#opscheck-watch span.watch-bar { position: absolute; left: 3px; right: 3px; bottom: 0; min-height: 1px; }
#opscheck-watch td.watch-max { white-space: nowrap; color: #555; padding-left: 6px; }
#opscheck-watch .watch-legend span { display: inline-block; padding: 0 6px; margin-right: 4px; border: 1px solid rgba(0,0,0,0.1); }
"""


class TimelineAnchorMissing(Exception):
    """pytest-html's page no longer has the anchor the timeline is inserted at."""


def render_timeline(rounds: list[dict[str, Any]], headline: str, verdict: str = "") -> str:
    """The timeline section's HTML for results.json's `rounds` list (oldest first).

    `headline` is one sentence on the watch (window, interval, how it ended); `verdict` (PASS, FAIL,
    INTERRUPTED, ...) colours it. Rows follow the checks' first appearance; the bar in each cell is
    the check's latency in that round over the highest latency of its row (shown at the row's end).
    """
    order: list[str] = []
    for rnd in rounds:
        for check in rnd.get("checks", []):
            if check["id"] not in order:
                order.append(check["id"])
    by_round = [{c["id"]: c for c in rnd.get("checks", [])} for rnd in rounds]
    head = ['<th class="watch-check" scope="col">check \\ round</th>']
    for rnd in rounds:
        status = str(rnd.get("status", ""))
        tip = f"round {rnd.get('round')}: {status}, started {rnd.get('started_at', '')}, {rnd.get('duration_s', 0)} s"
        if rnd.get("message"):
            tip += f"; {rnd['message']}"
        head.append(f'<th class="watch-round" scope="col" data-round="{escape(str(rnd.get("round")))}" '
                    f'data-status="{escape(status)}" title="{escape(tip)}">{escape(str(rnd.get("round")))}'
                    f'<span class="watch-status" style="background:{STATUS_COLOURS.get(status, "#999")}"></span></th>')
    head.append('<th class="watch-check" scope="col">max</th>')
    rows = []
    for check_id in order:
        latencies = [r[check_id]["latency_ms"] for r in by_round
                     if check_id in r and isinstance(r[check_id].get("latency_ms"), (int, float))]
        top = max(latencies) if latencies else None
        cells = [f'<th class="watch-check" scope="row">{escape(check_id)}</th>']
        for rnd, checks in zip(rounds, by_round):
            cells.append(_cell(check_id, rnd, checks.get(check_id), top))
        cells.append(f'<td class="watch-max">{_ms(top)}</td>')
        rows.append(f'<tr data-check="{escape(check_id)}">{"".join(cells)}</tr>')
    legend = "".join(f'<span style="background:{COLOURS[o]}">{o if o != "missing" else "not run"}</span>'
                     for o in ("passed", "degraded", "flaky", "skipped", "failed", "missing"))
    colour = {"PASS": "#2e7d32", "FAIL": "#b71c1c"}.get(verdict, "#b36b00")
    return (f'<section id="{SECTION_ID}">\n<style>{_STYLE}</style>\n<h2>Watch timeline</h2>\n'
            f'<p class="watch-verdict" style="color:{colour}">{escape(headline)}</p>\n'
            f'<p class="watch-legend">{legend} &nbsp;Bars: the check\'s latency in the round, '
            f'scaled to the highest of its row.</p>\n'
            f'<div class="watch-scroll"><table class="watch-timeline">\n<thead><tr>{"".join(head)}</tr></thead>\n'
            f'<tbody>\n' + "\n".join(rows) + '\n</tbody></table></div>\n</section>\n')


def _cell(check_id: str, rnd: dict[str, Any], check: dict[str, Any] | None, top: float | None) -> str:
    number = escape(str(rnd.get("round")))
    if check is None:
        tip = f"{check_id}, round {rnd.get('round')}: not run in this round"
        return (f'<td class="watch-cell outcome-missing" data-check="{escape(check_id)}" data-round="{number}" '
                f'data-outcome="missing" title="{escape(tip)}"></td>')
    outcome = str(check.get("outcome") or "failed")
    latency = check.get("latency_ms")
    tip = f"{check_id}, round {rnd.get('round')}: {outcome}"
    if check.get("reason"):
        tip += f" ({check['reason']})"
    if isinstance(latency, (int, float)):
        tip += f", {_ms(latency)}"
    if check.get("message"):
        tip += f": {check['message']}"
    bar = ""
    if isinstance(latency, (int, float)) and top:
        height = max(4.0, min(100.0, 100.0 * latency / top))
        bar = f'<span class="watch-bar" style="height:{height:.0f}%;background:{BAR.get(outcome, "#555")}"></span>'
    return (f'<td class="watch-cell outcome-{escape(outcome)}" style="background:{COLOURS.get(outcome, "#ddd")}" '
            f'data-check="{escape(check_id)}" data-round="{number}" data-outcome="{escape(outcome)}" '
            f'data-reason="{escape(str(check.get("reason") or ""))}" '
            f'data-latency-ms="{"" if latency is None else escape(str(latency))}" title="{escape(tip[:600])}">{bar}</td>')


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def insert_timeline(page: str, section: str) -> str:
    """`page` with `section` inserted just before pytest-html's results table.

    Raises TimelineAnchorMissing when the page has no `<table id="results-table"` (a pytest-html
    that changed its page): the caller fails the run instead of writing a report without it.
    """
    at = page.find(ANCHOR)
    if at < 0:
        raise TimelineAnchorMissing(f"report.html has no {ANCHOR}...> to insert the watch timeline before "
                                    "(has pytest-html changed its page?)")
    return page[:at] + section + page[at:]
