"""report.html's watch timeline: one row per check, one cell per round, coloured by outcome, with
the check's latency in that round drawn as a bar in its cell.

Rendered from results.json's `rounds` list (see opscheck/watch/rounds.py), so a results.json read
back later draws the same picture. Plain HTML and CSS, no script: the self-contained report keeps
working offline and under a strict Content Security Policy. Every cell carries its facts as data
attributes (`data-check`, `data-round`, `data-outcome`, `data-reason`, `data-latency-ms`) and as a
tooltip, so tests and tools read the page without parsing colours.

The section opens with the watch's own verdict (rounds passed and failed, window, interval, start)
and says which round the page's banner and results table describe (the last complete one, whose
pytest-html page this is); `label_banner` also prefixes that banner with "Round N of the watch".
Each cell and round header links to that round's own page (`rounds/NNN/report.html`). The table
takes the page's width, so cells are as wide as the rounds allow (at least 16 px: more rounds
than fit scroll sideways).

`insert_timeline(page, section)` puts the section into report.html's sections anchor (`<div
id="opscheck-sections">` right under the verdict banner, opscheck/report/html.py) when the page
has one, else just before pytest-html's results table (`ANCHOR`); a page with neither raises
`TimelineAnchorMissing` rather than dropping the timeline silently.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from opscheck.report.terminal import plural

ANCHOR = '<table id="results-table"'
SECTIONS_ANCHOR = 'id="opscheck-sections"'
SECTION_ID = "opscheck-watch"
_OPEN, _CLOSE = f'<section id="{SECTION_ID}">', "</section>\n"
_BANNER_VERDICT = re.compile(r'(<div class="opscheck-banner__verdict">)([^<]*)(</div>)')
MIN_CELL_PX = 16
CHECK_COLUMN_PX = 230
MAX_COLUMN_PX = 70

# Outcome -> cell colour; "missing" is a round in which the check did not run (stopped before it).
COLOURS = {"passed": "#cfe9d1", "degraded": "#f7e1a1", "flaky": "#e2cdf0", "skipped": "#e4e4e4",
           "failed": "#f4b4b0", "missing": "#ffffff"}
BAR = {"passed": "#2e7d32", "degraded": "#b36b00", "flaky": "#8e44ad", "skipped": "#777777",
       "failed": "#b71c1c", "missing": "#999999"}
STATUS_COLOURS = {"passed": "#2e7d32", "degraded": "#b36b00", "failed": "#b71c1c", "interrupted": "#b36b00",
                  "error": "#b71c1c"}

_STYLE = """
#opscheck-watch { margin: 1em 0 1.5em; }
#opscheck-watch .watch-box { border-left: 6px solid #999; background: #f6f6f6; padding: 8px 12px; margin-bottom: 10px; }
#opscheck-watch .watch-box h2 { margin: 0 0 4px; font-size: 22px; }
#opscheck-watch .watch-box p { margin: 2px 0; }
#opscheck-watch .watch-when { white-space: nowrap; }
#opscheck-watch .watch-scroll { overflow-x: auto; max-width: 100%; }
#opscheck-watch table.watch-timeline { border-collapse: separate; border-spacing: 2px; font-size: 13px;
  table-layout: fixed; width: 100%; }
#opscheck-watch th.watch-check { text-align: left; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  padding-right: 8px; font-weight: normal; }
#opscheck-watch th.watch-round { font-weight: normal; color: #555; text-align: center; overflow: hidden; }
#opscheck-watch th.watch-round a { color: inherit; text-decoration: none; }
#opscheck-watch th.watch-round span.watch-status { display: block; height: 5px; margin-top: 2px; }
#opscheck-watch td.watch-cell { height: 32px; padding: 0; position: relative;
  border: 1px solid rgba(0,0,0,0.08); vertical-align: bottom; }
#opscheck-watch td.watch-cell.outcome-missing { border-style: dashed; }
#opscheck-watch td.watch-cell a.watch-link { position: absolute; inset: 0; display: block; }
#opscheck-watch td.watch-cell a.watch-link:hover, #opscheck-watch td.watch-cell a.watch-link:focus { outline: 2px solid #333; }
#opscheck-watch span.watch-bar { position: absolute; left: 20%; right: 20%; bottom: 0; min-height: 1px; }
#opscheck-watch td.watch-max { white-space: nowrap; color: #555; padding-left: 6px; }
#opscheck-watch .watch-legend span { display: inline-block; padding: 0 6px; margin-right: 4px; border: 1px solid rgba(0,0,0,0.1); }
"""


class TimelineAnchorMissing(Exception):
    """pytest-html's page no longer has the anchor the timeline is inserted at."""


def render_timeline(rounds: list[dict[str, Any]], headline: str, verdict: str = "", *,
                    window_s: float | None = None, interval_s: float | None = None, started_at: str | None = None,
                    final_round: int | None = None) -> str:
    """The watch section's HTML for results.json's `rounds` list (oldest first).

    `headline` is one sentence on the watch (how it ended); `verdict` (PASS, FAIL, INTERRUPTED, ...)
    heads and colours it; `window_s` and `interval_s` (seconds), `started_at` (ISO 8601) and
    `final_round` (the round whose page this is: the banner and results table describe it) are
    shown when given. Rows follow the checks' first appearance; the bar in each cell is the check's
    latency in that round over the highest latency of its row (shown at the row's end).
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
                    f'data-status="{escape(status)}" title="{escape(tip)}">{_link(rnd, str(rnd.get("round")))}'
                    f'<span class="watch-status" style="background:{STATUS_COLOURS.get(status, "#999")}"></span></th>')
    head.append('<th class="watch-check" scope="col">max</th>')
    rows = []
    for check_id in order:
        latencies = [r[check_id]["latency_ms"] for r in by_round
                     if check_id in r and isinstance(r[check_id].get("latency_ms"), (int, float))]
        top = max(latencies) if latencies else None
        cells = [f'<th class="watch-check" scope="row" title="{escape(check_id)}">{escape(check_id)}</th>']
        for rnd, checks in zip(rounds, by_round):
            cells.append(_cell(check_id, rnd, checks.get(check_id), top))
        cells.append(f'<td class="watch-max">{_ms(top)}</td>')
        rows.append(f'<tr data-check="{escape(check_id)}">{"".join(cells)}</tr>')
    legend = "".join(f'<span style="background:{COLOURS[o]}">{o if o != "missing" else "not run"}</span>'
                     for o in ("passed", "degraded", "flaky", "skipped", "failed", "missing"))
    colour = {"PASS": "#2e7d32", "FAIL": "#b71c1c"}.get(verdict, "#b36b00")
    columns = (f'<colgroup><col style="width:{CHECK_COLUMN_PX}px"><col span="{max(1, len(rounds))}">'
               f'<col style="width:{MAX_COLUMN_PX}px"></colgroup>')
    least = CHECK_COLUMN_PX + MAX_COLUMN_PX + len(rounds) * (MIN_CELL_PX + 2)
    return (f'{_OPEN}\n<style>{_STYLE}</style>\n'
            + _verdict_box(rounds, headline, verdict, colour, window_s, interval_s, started_at, final_round)
            + f'<h3>Timeline: a row per check, a column per round</h3>\n'
            f'<p class="watch-legend">{legend} &nbsp;Bars: the check\'s latency in the round, '
            f'scaled to the highest of its row. A cell opens that round\'s own report.</p>\n'
            f'<div class="watch-scroll"><table class="watch-timeline" style="min-width:{least}px">{columns}\n'
            f'<thead><tr>{"".join(head)}</tr></thead>\n'
            f'<tbody>\n' + "\n".join(rows) + f'\n</tbody></table></div>\n{_CLOSE}')


def _verdict_box(rounds: list[dict[str, Any]], headline: str, verdict: str, colour: str, window_s: float | None,
                 interval_s: float | None, started_at: str | None, final_round: int | None) -> str:
    if verdict and headline.startswith(f"{verdict}: "):
        headline = headline[len(verdict) + 2:]  # the box's heading says the verdict already
    counts: dict[str, int] = {}
    for rnd in rounds:
        counts[str(rnd.get("status"))] = counts.get(str(rnd.get("status")), 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in counts.items()) or "none finished"
    facts = [f"{plural(len(rounds), 'round')}: {tally}"]
    if window_s is not None:
        facts.append(f"window {_duration(window_s)}" + (f", a round every {_duration(interval_s)}" if interval_s else ""))
    if started_at:
        facts.append(f'started <span class="watch-when">{escape(_when(started_at))}</span>')
    which = ""
    final = next((r for r in rounds if r.get("round") == final_round), None)
    if final is not None:
        which = (f'<p>The banner above and the results table below show <b>round {escape(str(final_round))}</b> '
                 f'only (the last complete round; its own page: {_link(final, escape(str(final.get("report_dir", ""))) + "/report.html")}). '
                 f'Every round\'s page is linked from the timeline.</p>\n')
    return (f'<div class="watch-box" style="border-left-color:{colour}">\n'
            f'<h2 style="color:{colour}">Watch verdict: {escape(verdict or "?")}</h2>\n'
            f'<p class="watch-verdict">{escape(headline)}</p>\n'
            f'<p>{" · ".join(escape(f) if "<span" not in f else f for f in facts)}</p>\n{which}</div>\n')


def label_banner(page: str, final_round: int) -> str:
    """`page` with its verdict banner prefixed "Round N of the watch:", so the round's own verdict
    never reads as the watch's; unchanged when the page has no opscheck banner."""
    return _BANNER_VERDICT.sub(lambda m: f"{m.group(1)}Round {final_round} of the watch: {m.group(2)}{m.group(3)}",
                               page, count=1)


def _link(rnd: dict[str, Any], text: str) -> str:
    """`text` (already escaped) linking to the round's own report.html, or plain without a report_dir."""
    folder = str(rnd.get("report_dir") or "")
    if not re.fullmatch(r"rounds/\d+", folder):
        return text
    return f'<a href="{escape(folder)}/report.html">{text}</a>'


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def _when(iso: str) -> str:
    """2026-11-30T04:00:00+00:00 -> 2026-11-30 04:00:00 UTC (kept on one line by the page style)."""
    text = iso.replace("T", " ", 1)
    for suffix in ("+00:00", "Z"):
        if text.endswith(suffix):
            return text[: -len(suffix)] + " UTC"
    return text


def _cell(check_id: str, rnd: dict[str, Any], check: dict[str, Any] | None, top: float | None) -> str:
    number = escape(str(rnd.get("round")))
    if check is None:
        tip = f"{check_id}, round {rnd.get('round')}: not run in this round"
        return (f'<td class="watch-cell outcome-missing" data-check="{escape(check_id)}" data-round="{number}" '
                f'data-outcome="missing" title="{escape(tip)}">{_cell_link(rnd, "")}</td>')
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
            f'data-latency-ms="{"" if latency is None else escape(str(latency))}" title="{escape(tip[:600])}">'
            f'{_cell_link(rnd, bar)}</td>')


def _cell_link(rnd: dict[str, Any], inner: str) -> str:
    folder = str(rnd.get("report_dir") or "")
    if not re.fullmatch(r"rounds/\d+", folder):
        return inner
    label = escape(f"round {rnd.get('round')}: open its report")
    return f'<a class="watch-link" href="{escape(folder)}/report.html" aria-label="{label}">{inner}</a>'


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def insert_timeline(page: str, section: str) -> str:
    """`page` with `section` (as `render_timeline` returns it) inserted: into the report's sections
    anchor (`<div id="opscheck-sections">`, under the banner; a watch section already there is
    replaced) when the page has one, else just before pytest-html's results table.

    Raises TimelineAnchorMissing when the page has neither (a pytest-html that changed its page):
    the caller fails the run instead of writing a report without it.
    """
    if SECTIONS_ANCHOR in page and section.startswith(_OPEN) and section.endswith(_CLOSE):
        from opscheck.report.html import ReportLayoutError, insert_section

        try:
            return insert_section(page, SECTION_ID, section[len(_OPEN):-len(_CLOSE)])
        except ReportLayoutError:
            pass  # an anchor without its closing marker: the results table below still works
    at = page.find(ANCHOR)
    if at < 0:
        raise TimelineAnchorMissing(f"report.html has no <div {SECTIONS_ANCHOR}> nor {ANCHOR}...> to insert the "
                                    "watch timeline at (has pytest-html changed its page?)")
    return page[:at] + section + page[at:]
