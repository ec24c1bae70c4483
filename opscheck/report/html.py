"""report.html: pytest-html's page made readable for an on-call engineer at 1366 px.

What opscheck adds to pytest-html 4's self-contained page, and where:

- per check, in pytest-html's hooks (cheap: a few escaped strings; the detail block is rendered once
  per check in `on_result`): the Check column shows the check id (`readiness::ready`, the pytest
  node id is its tooltip), and Severity, Reason and Runbook columns; the detail block under the row
  (`detail_html`) holds the verdict, runbook excerpt, latency plots and the evidence as request and
  response. pytest-html puts that block in its log box (fixed 230 px, scrolling, monospace); the
  page style lets a box that holds an opscheck detail grow to its content, so plots are shown whole.
- once per run, after pytest-html wrote the file (`finish_page`): the verdict banner, the sections
  anchor, the outcome filters pytest-html lacks (`add_outcome_filters`) and the page style (fixed
  table layout: no row is wider than the page; long values wrap in the details, clip with an
  ellipsis in the row cells).
- the environment table is reordered at session start: service, environment, base URL, profile,
  opscheck version first; Python, platform, packages and plugins last.

Other parts of opscheck add whole sections (the watch timeline) with `insert_section` /
`add_section`: they go into `<div id="opscheck-sections">`, right after the banner.
"""

from __future__ import annotations

import json
import os
import re
from html import escape
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import pytest

from opscheck import __version__
from opscheck.results import CheckResult, RunInfo, count_outcomes

if TYPE_CHECKING:
    from opscheck.evidence.redact import Redactor


class HtmlHooks:
    """The report.html sink: pytest-html hooks fed with result records.

    Registered only when pytest-html is active, so its hook names always exist. `records` is the
    controller's live map node id -> record; `mark_error(record, message)` fails a check whose row
    could not be rendered, `fail_run(message)` fails the run when report.html could not be finished
    (both are the plugin's, so this sink never touches pytest's session or the run state).
    """

    def __init__(self, run: RunInfo, records: dict[str, CheckResult], redactor: Redactor,
                 mark_error: Callable[[CheckResult, str], None], fail_run: Callable[[str], None]) -> None:
        self.run = run
        self.records = records
        self.redactor = redactor
        self.mark_error = mark_error
        self.fail_run = fail_run

    def register(self, config: pytest.Config) -> None:
        config.pluginmanager.register(self, "opscheck-html")
        # pytest-metadata fills its table in a tryfirst configure too; whichever of us ran first,
        # the table ends up with our rows (now if it exists, else through its hook).
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        metadata = config.stash.get(metadata_key, None)
        if metadata is not None:
            self.pytest_metadata(metadata, config)

    # --- the Sink protocol -----------------------------------------------------------------

    def on_result(self, record: CheckResult) -> None:
        """Render the check's cells and detail block now, while a crash can still fail the check
        in every report (raises what rendering raised)."""
        record.html_detail = detail_html(record, self.redactor)
        record.html_cells = row_cells(record)

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        self.run = run  # the banner's service, environment and base URL; pytest_sessionfinish writes it

    # --- pytest-html's hooks -----------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_metadata(self, metadata: dict[str, Any], config: pytest.Config) -> None:
        """pytest-metadata's environment table, shown at the top of report.html."""
        # pytest-html puts each value into the page as HTML: escaped, a name like "a<b" stays text.
        metadata["Service"] = escape(self.run.service)
        metadata["Environment"] = escape(self.run.environment or "-")
        metadata["Base URL"] = escape(self.run.base_url or "-")
        metadata["Profile"] = escape(_shorter_path(self.run.profile))
        metadata["opscheck version"] = __version__

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # pytest-html copies the table in its trylast sessionstart: ours go first, the interpreter's last.
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        metadata = session.config.stash.get(metadata_key, None)
        if metadata is not None:
            self.pytest_metadata(metadata, session.config)  # again: pytest-base-url may have overwritten Base URL
            order_environment(metadata)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        where = f" ({self.run.environment})" if self.run.environment else ""
        report.title = f"opscheck: {self.run.service}{where}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for index, cell in enumerate(cells):
            if 'data-column-type="testId"' in cell:
                cells[index] = '<th class="sortable col-testId" data-column-type="testId">Check</th>'
            elif cell == "<th>Links</th>":
                cells[index] = '<th class="col-links">Links</th>'
        cells.insert(2, '<th class="sortable col-severity" data-column-type="severity">Severity</th>')
        cells.insert(3, '<th class="sortable col-reason" data-column-type="reason">Reason</th>')
        cells.insert(4, '<th class="col-runbook">Runbook</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        if report.when != "call" and report.passed:
            # pytest-html keeps no row for a passed setup or teardown (its add_test). Emptying the
            # cells (its documented way to drop a row) also spares it building and escaping one:
            # ~0.05 ms a check. A teardown that captured output keeps its cells, so pytest-html
            # still appends that output to the check's row.
            if report.when == "setup" or not any("teardown" in title for title, _ in report.sections):
                cells.clear()
            return
        result = self.records.get(report.nodeid)
        severity = ""
        try:
            # Rendered by the plugin at teardown, while a crash could still fail the check everywhere.
            reason, link = result.html_cells if result is not None and result.html_cells else row_cells(result)
            attempt = getattr(report, "rerun", None)
            if result is not None and report.outcome == "rerun" and isinstance(attempt, int) and attempt < len(result.attempts):
                reason = escape(result.attempts[attempt].reason or "")  # a rerun row tells its own attempt's reason
            if result is not None and report.when == "call" and report.outcome != "rerun":
                # The call row carries the check's verdict. pytest-html files a row under its Result
                # text; add_outcome_filters gives the outcomes pytest lacks a filter and a count.
                if result.outcome in EXTRA_OUTCOMES:
                    cells[0] = f'<td class="col-result">{EXTRA_OUTCOMES[result.outcome]}</td>'
                elif result.outcome == "failed" and report.passed:  # failed later: teardown, a hook
                    cells[0] = '<td class="col-result">Failed</td>'
            if result is not None:
                cells[1] = check_cell(result, report.nodeid, report.when, attempt if report.outcome == "rerun" else None)
                severity = escape(result.severity)
        except Exception as exc:  # noqa: BLE001 - a crash here must fail the check, not pass it by omission
            self._crashed(result, "the report.html row", exc)
            reason, link = "error", ""
            cells[0] = '<td class="col-result">Failed</td>'
        cells.insert(2, f'<td class="col-severity sev-{severity}">{severity}</td>')
        cells.insert(3, f'<td class="col-reason">{reason}</td>')
        cells.insert(4, f'<td class="col-runbook">{link}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        result = self.records.get(report.nodeid)
        # pytest-html calls this for setup, call and teardown; the check's story is told once.
        if result is None or report.when == "teardown" or (report.when == "setup" and report.passed):
            return
        if getattr(report, "outcome", None) == "rerun":
            return  # an attempt that was run again: its row says so, the story is the last attempt's
        if result.html_detail:  # rendered by the plugin while the check's own phase could still fail
            # pytest's own text (the same failure in terminal form, captured output) stays, folded.
            raw = [item for item in data if item != _NO_LOG]
            data[:] = [result.html_detail]
            if raw:
                data.append(_RAW_OPEN + "\n".join(raw) + _RAW_CLOSE)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        # pytest-html writes report.html in its own (trylast) sessionfinish; this wrapper runs after it.
        outcome = yield
        path = _html_path(session.config)
        try:
            if path is not None and path.is_file():
                records = list(self.records.values())
                failed = {r.nodeid: (r.reason or "error", r.message or "") for r in records if r.outcome == "failed"}
                banner = banner_html(self.run, records, int(session.exitstatus))
                path.write_text(finish_page(path.read_text(encoding="utf-8"), banner, failed), encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - reported, and the run fails: rows could be hidden
            self.fail_run(self.redactor.text(f"report.html: cannot add the opscheck outcomes: {type(exc).__name__}: {exc}"))
        return outcome

    def _crashed(self, result: CheckResult | None, what: str, exc: Exception) -> None:
        try:
            message = self.redactor.text(f"opscheck crashed while writing {what}: {type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - never show an unredacted text
            message = f"opscheck crashed while writing {what}: {type(exc).__name__}"
        if result is not None:
            self.mark_error(result, message)
        self.fail_run(message)


_NO_LOG = "No log output captured."  # pytest-html's placeholder for a phase with no output
# pytest-html's script colours each log line that starts with "E"; these markers start lines with "<".
_RAW_OPEN = '<details class="opscheck-raw"><summary>pytest output</summary><pre>\n'
_RAW_CLOSE = "\n</pre></details>"

# The environment table: what identifies the run first, the interpreter's details last.
ENVIRONMENT_FIRST = ("Service", "Environment", "Base URL", "Profile", "opscheck version")
ENVIRONMENT_LAST = ("Python", "Platform", "Packages", "Plugins")


def order_environment(metadata: dict[str, Any]) -> None:
    """Reorder pytest-metadata's table in place: ENVIRONMENT_FIRST, then any other rows in their
    order, then ENVIRONMENT_LAST."""
    def rank(key: str) -> int:
        if key in ENVIRONMENT_FIRST:
            return ENVIRONMENT_FIRST.index(key)
        if key in ENVIRONMENT_LAST:
            return len(ENVIRONMENT_FIRST) + 1 + ENVIRONMENT_LAST.index(key)
        return len(ENVIRONMENT_FIRST)

    items = sorted(metadata.items(), key=lambda kv: rank(kv[0]))  # stable: other rows keep their order
    metadata.clear()
    metadata.update(items)


def check_cell(result: CheckResult, nodeid: str, when: str, rerun: int | None = None) -> str:
    """The Check cell: the check id, with the phase or attempt a row is about; the node id as tooltip."""
    suffix = f" ({when})" if when != "call" else ""
    if rerun is not None:
        suffix += f" (attempt {rerun + 1})"
    return f'<td class="col-testId" title="{escape(nodeid, quote=True)}">{escape(result.id)}{suffix}</td>'


def row_cells(result: CheckResult | None) -> tuple[str, str]:
    """The Reason and Runbook cells' HTML for a check's rows in report.html."""
    if result is None:
        return "", ""
    link = ""
    if result.runbook is not None:
        section = escape(result.runbook.section)
        link = f'<a href="{escape(result.runbook.link, quote=True)}" target="_blank" title="{section}">{section}</a>'
    return escape(result.reason or ""), link


def detail_html(result: CheckResult, redactor: Redactor) -> str | None:
    """The block under a check's row in report.html: verdict, the check's facts, runbook, plots and
    evidence (each HTTP exchange as a request and a response). One line of HTML: pytest-html's
    script colours every log line that starts with "E", so line breaks are written as `&#10;`."""
    blocks = []
    if result.message and result.outcome != "passed":
        blocks.append(f'<div class="opscheck-verdict"><b>[{escape(result.reason or result.outcome)}]</b> {escape(result.message)}</div>')
    if result.outcome != "passed":  # a pass has its id and severity in the row, its node id as the tooltip
        blocks.append(_facts_html(result))
    if result.runbook is not None and result.outcome not in ("passed", "skipped"):
        excerpt = "".join(f"<li>{escape(line)}</li>" for line in result.runbook.excerpt)
        blocks.append(
            f'<div class="opscheck-runbook"><b>Runbook:</b> <a href="{escape(result.runbook.link, quote=True)}">'
            f"{escape(result.runbook.section)}</a><ul>{excerpt}</ul></div>"
        )
    for plot in result.plots:
        blocks.append(_plot_html(plot))
    if result.outcome == "passed":
        # A passing check needs only each exchange in one line; full evidence is in results.json.
        lines = "".join(f"<li>{escape(_summary(e))}</li>" for e in result.evidence)
        if lines:
            blocks.append(f'<div class="opscheck-evidence"><ul class="opscheck-summaries">{lines}</ul></div>')
    elif result.evidence:
        blocks.append(evidence_html(redactor.data(result.evidence), redactor))
    return '<div class="opscheck-detail">' + "".join(blocks).replace("\n", "&#10;") + "</div>"


def _facts_html(result: CheckResult) -> str:
    where = (f"line {result.profile_line} ({result.profile_field})" if result.profile_line
             else result.profile_field)
    facts = [f"check <code>{escape(result.id)}</code>", f"severity {escape(result.severity)}",
             f"profile {escape(where)}"]
    if len(result.attempts) > 1:
        tried = ", ".join(f"{i + 1}: {escape(a.outcome or 'failed')}" + (f" [{escape(a.reason)}]" if a.reason else "")
                          for i, a in enumerate(result.attempts))
        facts.append(f"attempts {tried}")
    facts.append(f"pytest <code>{escape(result.nodeid)}</code>")
    return f'<div class="opscheck-facts">{" · ".join(facts)}</div>'


FULL_EXCHANGES = 3  # the last ones, shown open; earlier exchanges are folded (all are kept)


def evidence_html(items: list[dict[str, Any]], redactor: Redactor) -> str:
    """The Evidence block: each item by its kind; HTTP exchanges as request and response.

    `items` are results.json evidence dicts, already redacted; bodies are pretty-printed and
    redacted again (decoding JSON escapes can spell out a secret the raw text hid)."""
    rendered = [_evidence_item_html(item, redactor) for item in items]
    head, tail = rendered[:-FULL_EXCHANGES], rendered[-FULL_EXCHANGES:]
    folded = (f'<details class="opscheck-earlier"><summary>{len(head)} earlier exchange{"s" if len(head) != 1 else ""}'
              f'</summary>{"".join(head)}</details>') if head else ""
    return f'<div class="opscheck-evidence"><b>Evidence</b>{folded}{"".join(tail)}</div>'


def _evidence_item_html(item: dict[str, Any], redactor: Redactor) -> str:
    kind = item.get("kind", "http")
    try:
        if kind == "http":
            return _exchange_html(item, redactor)
        if kind == "sample_summary":
            return _sample_html(item)
        if kind == "tls_handshake":
            return _tls_html(item)
    except (KeyError, TypeError, ValueError, AttributeError):
        pass  # an item of an unexpected shape: shown as data below, never dropped
    return f'<pre class="opscheck-body">{escape(json.dumps(item, indent=2, default=str))}</pre>'


def _exchange_html(e: dict[str, Any], redactor: Redactor) -> str:
    parts = [f'<div class="opscheck-exchange"><div class="opscheck-line"><span class="opscheck-tag">Request</span> '
             f'<b>{escape(str(e["method"]))}</b> <span class="opscheck-url">{escape(str(e["url"]))}</span></div>']
    request_headers = e.get("request_headers") or {}
    if request_headers:  # folded: what was sent matters less than what came back, and the redaction shows
        parts.append(f'<details class="opscheck-sent"><summary>{len(request_headers)} request headers</summary>'
                     f'{_headers_html(request_headers)}</details>')
    for hop in e.get("redirects") or []:
        parts.append(f'<div class="opscheck-line"><span class="opscheck-tag">Redirect</span> {escape(str(hop.get("status")))}'
                     f' → <span class="opscheck-url">{escape(str(hop.get("location")))}</span></div>')
    status = e.get("status")
    if status is None:
        answer = '<b class="opscheck-status s0">no answer</b>' + (f" ({escape(str(e['error']))})" if e.get("error") else "")
    else:
        try:
            phrase = HTTPStatus(int(status)).phrase
        except ValueError:
            phrase = ""
        answer = f'<b class="opscheck-status s{int(status) // 100}">{escape(str(status))} {escape(phrase)}</b>'
    figures = []
    if e.get("elapsed_ms") is not None:
        figures.append(f"in {float(e['elapsed_ms']):.1f} ms")
    if e.get("ttfb_ms") is not None:
        figures.append(f"TTFB {float(e['ttfb_ms']):.1f} ms")
    if status is not None:
        size = f"{int(e.get('body_bytes') or 0):,} bytes"
        figures.append(size + (", excerpt below truncated" if e.get("truncated") else ""))
    if e.get("request_id"):
        figures.append(f"request id {escape(str(e['request_id']))}")
    parts.append(f'<div class="opscheck-line"><span class="opscheck-tag">Response</span> {answer} {" · ".join(figures)}</div>')
    parts.append(_headers_html(e.get("response_headers") or {}))
    body = e.get("body_excerpt") or ""
    if body:
        cut = f"&#10;… the excerpt ends here; the body had {int(e.get('body_bytes') or 0):,} bytes" if e.get("truncated") else ""
        parts.append(f'<pre class="opscheck-body">{escape(pretty_body(body, redactor))}{cut}</pre>')
    parts.append("</div>")
    return "".join(parts)


def pretty_body(text: str, redactor: Redactor) -> str:
    """A body excerpt for reading: JSON indented by 2 (then redacted again), anything else as it is."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return text
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):  # an excerpt cut mid-document, or not JSON after all
        return text
    return redactor.text(json.dumps(value, indent=2, ensure_ascii=False))


def _headers_html(headers: dict[str, Any]) -> str:
    if not headers:
        return ""
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in headers.items())
    return f'<table class="opscheck-headers">{rows}</table>'


def _kv_html(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows if v not in (None, "", {}, []))
    return f'<table class="opscheck-headers">{body}</table>'


def _sample_html(s: dict[str, Any]) -> str:
    statuses = ", ".join(f"{count} × {key}" for key, count in (s.get("statuses") or {}).items()) or "none"
    shown = ", ".join(f"{k.removesuffix('_ms')} {v:.1f} ms" for k, v in (s.get("percentiles") or {}).items() if v is not None)
    details = [(str(k), v) for k, v in (s.get("details") or {}).items()]
    head = (f'<div class="opscheck-line"><span class="opscheck-tag">Samples</span> <b>{escape(str(s["method"]))}</b> '
            f'<span class="opscheck-url">{escape(str(s["url"]))}</span> ({escape(str(s.get("mode", "")))})</div>')
    table = _kv_html([("samples", f"{s['n']} of {s['requested']} planned"), ("answers", statuses),
                      ("latency", f"{shown} (over the {s.get('n_ok', 0)} answers with an expected status)" if shown
                       else "not measured: no answer with an expected status"), *details])
    return f'<div class="opscheck-exchange">{head}{table}</div>'


def _tls_html(t: dict[str, Any]) -> str:
    from opscheck.evidence.kinds import summary_of

    rows = [(k, t.get(k)) for k in ("protocol", "cipher", "subject", "issuer", "not_after", "days_left", "error")]
    rows.append(("names", ", ".join(t.get("san") or [])))
    return (f'<div class="opscheck-exchange"><div class="opscheck-line"><span class="opscheck-tag">TLS</span> '
            f'{escape(summary_of(t))}</div>{_kv_html(rows)}</div>')


# --- the verdict banner and the page's own sections ----------------------------------------

EXIT_NOTES = {2: "the run was interrupted", 3: "opscheck or pytest hit an internal error (see the terminal output)",
              4: "usage error", 5: "no checks ran"}
BANNER_ORDER = ("failed", "degraded", "flaky", "passed", "skipped")
BANNER_LISTED = 8  # failed, degraded and flaky checks named in the banner; all are in the table


def verdict(counts: dict[str, int], exit_code: int | None) -> tuple[str, str]:
    """(verdict text, css class) for a run's outcome counts and pytest exit code.

    FAIL when any check failed or the run exits non-zero (an internal error, no checks, --strict);
    "PASS with degraded and flaky results" (or either one) when every check passed but some only
    degraded or only on a retry; else PASS."""
    if counts.get("failed", 0) or exit_code not in (0, None) or not any(counts.values()):
        return "FAIL", "fail"
    warned = [name for name in ("degraded", "flaky") if counts.get(name, 0)]
    if warned:
        return f"PASS with {' and '.join(warned)} results", "warn"
    return "PASS", "pass"


def banner_html(run: RunInfo, records: list[CheckResult], exit_code: int | None) -> str:
    """The banner at the top of report.html: verdict, counts, service, environment, base URL, and
    the checks that failed, degraded or were flaky (up to BANNER_LISTED, linked to their rows)."""
    counts = count_outcomes(records)
    text, css = verdict(counts, exit_code)
    total = sum(counts.values())
    order = [k for k in BANNER_ORDER if k in counts] + [k for k in counts if k not in BANNER_ORDER]
    shown = ", ".join(f"{counts[k]} {k}" for k in order if counts[k])
    tally = f"{total} check{'s' if total != 1 else ''}: {shown}" if total else "no checks ran"
    note = f" · exit code {exit_code}: {EXIT_NOTES[exit_code]}" if exit_code in EXIT_NOTES else (
        f" · exit code {exit_code}" if exit_code not in (0, 1, None) else "")
    target = [f"service <b>{escape(run.service)}</b>", f"environment <b>{escape(run.environment or '-')}</b>",
              f'<span class="opscheck-url">{escape(run.base_url or "-")}</span>']
    if run.started_at:
        target.append(f"started {escape(run.started_at)}" + (f", took {run.duration_s:.1f} s" if run.duration_s else ""))
    named = sorted((r for r in records if r.outcome in ("failed", "degraded", "flaky")),
                   key=lambda r: ("failed", "degraded", "flaky").index(r.outcome))  # stable: run order within
    listed = "".join(
        f'<li><a href="#{escape(r.id, quote=True)}">{escape(r.id)}</a> {escape(r.outcome)}'
        f'{f" [{escape(r.reason)}]" if r.reason and r.outcome != "flaky" else ""}</li>' for r in named[:BANNER_LISTED])
    if len(named) > BANNER_LISTED:
        listed += f"<li>and {len(named) - BANNER_LISTED} more in the table below</li>"
    return (f'<div id="opscheck-verdict" class="opscheck-banner {css}" data-verdict="{escape(text, quote=True)}">'
            f'<div class="opscheck-banner__verdict">{escape(text)}</div>'
            f'<div class="opscheck-banner__counts">{escape(tally + note)}</div>'
            f'<div class="opscheck-banner__target">{" · ".join(target)}</div>'
            f'{f"<ul class=opscheck-banner__checks>{listed}</ul>" if listed else ""}</div>')


SECTIONS_ID = "opscheck-sections"
_SECTIONS_OPEN = f'<div id="{SECTIONS_ID}">'
_SECTIONS_CLOSE = f"</div><!-- /{SECTIONS_ID} -->"
_BANNER_START, _BANNER_END = "<!-- opscheck-banner -->", "<!-- /opscheck-banner -->"
_SECTION_ID = re.compile(r"[a-z][a-z0-9-]{0,63}")
_SORT_ORDER = "const initialOrder = ['Error', 'Failed', 'Rerun',"
_SORT_ORDER_OURS = "const initialOrder = ['Error', 'Failed', 'Degraded', 'Flaky', 'Rerun',"
_TITLE_END = re.compile(r'<h1 id="title">.*?</h1>', re.S)


def insert_section(page: str, section_id: str, html: str) -> str:
    """report.html with `html` as a section of its own in the sections anchor (`<div
    id="opscheck-sections">`, right after the verdict banner), wrapped as `<section
    id="{section_id}" class="opscheck-section">`. A section already there with that id is
    replaced; new ones go after the others. `html` is inserted as it is: escape what it quotes.

    Raises ValueError for a section id that is not `[a-z][a-z0-9-]*` (at most 64 characters) and
    ReportLayoutError for a page without the anchor (not an opscheck report.html)."""
    if not _SECTION_ID.fullmatch(section_id):
        raise ValueError(f"section id {section_id!r}: use lower-case letters, digits and '-'")
    if _SECTIONS_OPEN not in page or _SECTIONS_CLOSE not in page:
        raise ReportLayoutError(f'report.html has no <div id="{SECTIONS_ID}"> to add a section to')
    start, end = f"<!-- opscheck-section:{section_id} -->", f"<!-- /opscheck-section:{section_id} -->"
    block = f'{start}<section id="{section_id}" class="opscheck-section">{html}</section>{end}'
    if start in page and end in page:
        i = page.index(start)
        return page[:i] + block + page[page.index(end, i) + len(end):]
    i = page.index(_SECTIONS_CLOSE)
    return page[:i] + block + page[i:]


def add_section(path: Path, section_id: str, html: str) -> None:
    """`insert_section` on the report.html file at `path`, rewritten in place (UTF-8).
    Raises OSError, ValueError and ReportLayoutError as reading, writing and `insert_section` do."""
    path.write_text(insert_section(path.read_text(encoding="utf-8"), section_id, html), encoding="utf-8")


def finish_page(page: str, banner: str, failed: dict[str, tuple[str, str]] | None = None) -> str:
    """report.html as pytest-html wrote it -> the page opscheck ships: the outcome filters
    (`add_outcome_filters`), the style, and the banner followed by the empty sections anchor
    right under the title. Idempotent (banner and style are replaced, sections kept).
    Raises ReportLayoutError when pytest-html's page lacks what this relies on."""
    page = add_outcome_filters(page, failed)
    title = _TITLE_END.search(page)
    if title is None or "</head>" not in page:
        raise ReportLayoutError('pytest-html\'s page layout changed: no <h1 id="title"> or </head>')
    if _BANNER_START in page:
        i = page.index(_BANNER_START)
        page = page[:i] + _BANNER_START + banner + page[page.index(_BANNER_END, i):]
    else:
        page = (page[:title.end()] + f"\n{_BANNER_START}{banner}{_BANNER_END}\n{_SECTIONS_OPEN}{_SECTIONS_CLOSE}\n"
                + page[title.end():])
    # pytest-html sorts by Result in a fixed order that lacks our outcomes (they would come first,
    # above the failures): a failure leads, then degraded and flaky. Cosmetic: skipped if not found.
    if _SORT_ORDER in page:
        page = page.replace(_SORT_ORDER, _SORT_ORDER_OURS, 1)
    style = f'<style id="opscheck-style">{PAGE_CSS}</style>'
    if '<style id="opscheck-style">' in page:
        i = page.index('<style id="opscheck-style">')
        page = page[:i] + style + page[page.index("</style>", i) + len("</style>"):]
    else:
        page = page.replace("</head>", style + "\n</head>", 1)
    return page


# Fixed table layout: the header row sets the column widths, so no cell can widen the table; row
# cells clip with an ellipsis (the whole value is in the details and the tooltip), the details
# wrap anywhere. pytest-html's log box is 230 px high and scrolls: a box with an opscheck detail
# grows to fit it instead, so plots are shown whole (:has() is in every current browser).
PAGE_CSS = """
body { color: #444; }
#results-table { table-layout: fixed; width: 100%; color: #333; }
#results-table th, #results-table .collapsible td { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#results-table th.col-result, #results-table th[data-column-type="result"] { width: 90px; }
#results-table th.col-severity { width: 70px; }
#results-table th.col-reason { width: 100px; }
#results-table th.col-runbook { width: 22%; }
#results-table th[data-column-type="duration"] { width: 80px; }
#results-table th.col-links { width: 50px; }
.sev-critical { color: #b00020; font-weight: bold; }
.sev-major { color: #c0392b; }
#results-table td.extra { overflow-wrap: anywhere; }
.logwrapper:has(.opscheck-detail) { max-height: none; overflow: visible; background: none; }
.logwrapper:has(.opscheck-detail) .logexpander { display: none; }
.logwrapper:has(.opscheck-detail) .log { top: 0; height: auto; padding: 4px; border: none; font-family: inherit; }
.log { overflow-wrap: anywhere; }
.opscheck-detail { white-space: normal; color: #222; font-size: 13px; line-height: 1.4; }
.opscheck-detail > div { margin: 4px 0 10px; }
.opscheck-verdict { white-space: pre-wrap; font-size: 14px; }
.opscheck-facts { color: #555; }
.opscheck-detail code, .opscheck-url { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.opscheck-runbook ul { margin: 4px 0; }
.opscheck-plot { display: flex; flex-wrap: wrap; gap: 8px; }
.opscheck-plot svg { max-width: 100%; height: auto; }
.opscheck-exchange { border-left: 3px solid #ccd; padding: 2px 0 2px 8px; margin: 6px 0 12px; }
.opscheck-line { margin: 3px 0; }
.opscheck-tag { display: inline-block; min-width: 70px; color: #666; font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; }
.opscheck-status { padding: 0 4px; border-radius: 3px; background: #eee; }
.opscheck-status.s2 { background: #dff0d8; } .opscheck-status.s3 { background: #e8eef8; }
.opscheck-status.s4 { background: #fcf0d4; } .opscheck-status.s5, .opscheck-status.s0 { background: #f8d7da; }
table.opscheck-headers { border-collapse: collapse; margin: 2px 0 4px 78px; font-size: 12px; max-width: calc(100% - 78px); }
#results-table table.opscheck-headers th, #results-table table.opscheck-headers td { border: none; padding: 0 10px 0 0; vertical-align: top; text-align: left; }
#results-table table.opscheck-headers th { color: #666; font-weight: normal; white-space: nowrap; }
#results-table table.opscheck-headers td { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; overflow-wrap: anywhere; }
pre.opscheck-body, .opscheck-raw pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 6px; margin: 4px 0 4px 78px; max-height: 420px; overflow-y: auto; font-size: 12px; }
.opscheck-raw pre { margin-left: 0; max-height: none; }
.opscheck-raw summary, .opscheck-earlier summary, .opscheck-sent summary { cursor: pointer; color: #555; }
.opscheck-sent { margin: 0 0 2px 78px; font-size: 12px; }
.opscheck-sent table.opscheck-headers { margin-left: 0; }
ul.opscheck-summaries { margin: 0; padding-left: 18px; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.opscheck-banner { margin: 6px 0 14px; padding: 12px 16px; border-radius: 4px; color: #fff; font-size: 14px; overflow-wrap: anywhere; }
.opscheck-banner.pass { background: #1e7e34; } .opscheck-banner.fail { background: #b52b27; } .opscheck-banner.warn { background: #9a5a00; }
.opscheck-banner__verdict { font-size: 24px; font-weight: bold; }
.opscheck-banner__counts { font-size: 16px; margin: 2px 0 4px; }
.opscheck-banner a { color: #fff; }
.opscheck-banner ul { margin: 6px 0 0; padding-left: 20px; columns: 2; }
.opscheck-section { max-width: 100%; overflow-x: auto; margin: 0 0 14px; }
#environment { max-width: 100%; }
#environment td { overflow-wrap: anywhere; color: #333; }
#environment td:first-child { white-space: nowrap; }
"""


def _shorter_path(path: str) -> str:
    """`path` relative to the working directory when that is shorter."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return relative if len(relative) < len(path) else path


# --- outcomes pytest-html does not know ------------------------------------------------------
#
# pytest-html 4 renders the results table in JavaScript from a JSON blob. A row's filter key is the
# lower-cased text of its Result cell, and the script drops every row whose key is not in its own
# hard-coded `possibleFilters` list; the summary's checkboxes and counts come from pytest's own
# outcomes. So a check that is `degraded` (pytest: passed) was hidden, counted as "Passed", and the
# table said "No results found". No hook can extend that list, so once pytest-html has written the
# file, add_outcome_filters adds each outcome below to the script's list, gives it a checkbox and a
# count (all counts are recounted from the rows themselves) and a colour.

EXTRA_OUTCOMES: dict[str, str] = {"degraded": "Degraded", "flaky": "Flaky"}  # outcome -> Result cell text
OUTCOME_COLOURS: dict[str, str] = {"degraded": "#b36b00", "flaky": "#8e44ad"}
_FILTERS_ANCHOR = "const possibleFilters = ["
_FILTERS = re.compile(r'(<div class="filters">)(.*?)(</div>)', re.S)
_FILTER_ITEM = re.compile(
    r'<input[^>]*data-test-result="(?P<key>\w+)"[^>]*>\s*<span class="(?P=key)">\d+ (?P<label>[^<]*?),?</span>', re.S)
_BLOB = re.compile(r'data-jsonblob="([^"]*)"')


class ReportLayoutError(Exception):
    """pytest-html's page no longer has the structure add_outcome_filters relies on."""


def add_outcome_filters(page: str, failed: dict[str, tuple[str, str]] | None = None,
                        extra: dict[str, str] = EXTRA_OUTCOMES) -> str:
    """report.html (as pytest-html 4 wrote it) -> the same page where every outcome in `extra`
    (name -> Result cell text) has visible rows, a filter checkbox and its own count, and each
    check in `failed` (node id -> reason, message) has a Failed or Error row.

    pytest-html builds a check's rows once all its phases were reported. After an internal error
    (a crashing hook, a check that never ran) a check that failed has no row, or its rows say it
    passed: the missing row is added, or its call row relabelled.

    Idempotent. Raises ReportLayoutError when the page lacks the script list, the filter
    checkboxes or the data blob this relies on (a pytest-html release that changed them).
    """
    blob = _BLOB.search(page)
    filters = _FILTERS.search(page)
    if blob is None or filters is None or _FILTERS_ANCHOR not in page:
        raise ReportLayoutError("pytest-html's page layout changed: no data blob, filter checkboxes or filter list")
    data = json.loads(_unescape_attribute(blob.group(1)))
    tests = data.setdefault("tests", {})
    if failed and _reconcile(tests, failed):
        # Filters come before the blob in the page: splice the blob first, the offsets above stay valid.
        page = page[:blob.start(1)] + escape(json.dumps(data), quote=True) + page[blob.end(1):]
    counts: dict[str, int] = {}
    for rows in tests.values():
        for row in rows:
            key = str(row.get("result", "")).lower()
            counts[key] = counts.get(key, 0) + 1
    items = [(m.group("key"), m.group("label")) for m in _FILTER_ITEM.finditer(filters.group(2))]
    if not items:
        raise ReportLayoutError("pytest-html's page layout changed: no filter checkboxes")
    known = [key for key, _ in items]
    added = [(key.lower(), label) for key, label in extra.items() if key.lower() not in known]
    at = known.index("passed") + 1 if "passed" in known else len(items)
    items[at:at] = added
    boxes = []
    for index, (key, label) in enumerate(items):
        count = counts.get(key, 0)
        comma = "," if index < len(items) - 1 else ""
        boxes.append(f'\n            <input checked="true" class="filter" name="filter_checkbox" type="checkbox" '
                     f'data-test-result="{key}" {"disabled" if count == 0 else ""}>'
                     f'\n            <span class="{key}">{count} {escape(label)}{comma}</span>')
    page = page[:filters.start(2)] + "".join(boxes) + "\n          " + page[filters.end(2):]
    if added:
        listed = "".join(f"'{key}', " for key, _ in added)
        page = page.replace(_FILTERS_ANCHOR, _FILTERS_ANCHOR + listed, 1)
        css = "".join(f"span.{key}, .{key} .col-result {{ color: {OUTCOME_COLOURS.get(key, '#555')}; }}\n"
                      for key, _ in added)
        page = page.replace("</head>", f'<style id="opscheck-outcomes">\n{css}</style>\n</head>', 1)
    return page


_PHASE_SUFFIXES = (" (setup)", " (teardown)", "::setup", "::teardown")


def _reconcile(tests: dict[str, list[dict[str, Any]]], failed: dict[str, tuple[str, str]]) -> bool:
    changed = False
    for nodeid, (reason, message) in failed.items():
        rows = tests.get(nodeid) or []
        if any(row.get("result") in ("Failed", "Error") for row in rows):
            continue
        changed = True
        # The call row: the one whose Check cell names no phase (setup and teardown rows do).
        call = next((row for row in rows if not str(row.get("testId", "")).endswith(_PHASE_SUFFIXES)),
                    rows[0] if rows else None)
        if call is None:  # in the columns of pytest_html_results_table_header
            call = {"extras": [], "testId": nodeid, "duration": "-", "resultsTableRow": [
                '<td class="col-result">Failed</td>', f'<td class="col-testId">{escape(nodeid)}</td>',
                '<td class="col-severity"></td>', f'<td class="col-reason">{escape(reason)}</td>',
                '<td class="col-runbook"></td>', '<td class="col-duration">-</td>', '<td class="col-links"></td>'],
                "tableHtml": []}
            tests[nodeid] = [call]
        call["result"], call["reason"] = "Failed", reason
        call["log"] = (f'<div class="opscheck-detail"><div class="opscheck-verdict"><b>[{escape(reason)}]</b> '
                       f'{escape(message)}</div></div>').replace("\n", "&#10;")
        call["resultsTableRow"] = [
            '<td class="col-result">Failed</td>' if 'class="col-result"' in cell
            else f'<td class="col-reason">{escape(reason)}</td>' if 'class="col-reason"' in cell else cell
            for cell in call.get("resultsTableRow", [])
        ]
    return changed


def _unescape_attribute(text: str) -> str:
    """The attribute escapes of Jinja (markupsafe) and html.escape; html.unescape takes ~50 ms on
    the blob of a few hundred checks."""
    for entity, char in (("&#34;", '"'), ("&quot;", '"'), ("&#39;", "'"), ("&#x27;", "'"), ("&lt;", "<"), ("&gt;", ">")):
        text = text.replace(entity, char)
    return text.replace("&amp;", "&")  # last: "&amp;lt;" is the text "&lt;"


def _html_path(config: pytest.Config) -> Path | None:
    """Where pytest-html writes (it expands variables and ~, relative to the cwd)."""
    value = getattr(config.option, "htmlpath", None)
    if not value:
        return None
    return Path.cwd() / Path(os.path.expandvars(value)).expanduser()


def _plot_html(plot: dict[str, Any]) -> str:
    """Inline SVG, so the self-contained report keeps its pictures offline."""
    from opscheck.report.charts import latency_svg, percentile_curve_svg

    stats = plot.get("stats") or {}
    marks = {k.removesuffix("_ms"): float(v) for k, v in stats.items() if k in ("p50_ms", "p95_ms", "p99_ms") and v is not None}
    samples = plot.get("latencies_ms", [])
    thresholds = plot.get("thresholds", {})
    return (f'<div class="opscheck-plot">{latency_svg(samples, thresholds=thresholds, percentiles=marks, title=plot.get("title", ""))}'
            f'{percentile_curve_svg(samples, thresholds=thresholds, title="latency by percentile")}</div>')


def _summary(evidence: dict[str, Any]) -> str:
    if evidence.get("kind", "http") != "http":  # a sample summary or a TLS handshake: its own line
        from opscheck.evidence.kinds import summary_of
        return summary_of(evidence)
    status = evidence.get("status") or f"no answer ({evidence.get('error')})"
    return f"{evidence['method']} {evidence['url']} -> {status} in {evidence.get('elapsed_ms') or 0:.1f} ms (request id {evidence['request_id']})"
