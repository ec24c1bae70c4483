"""pytest-html additions: Reason and Runbook columns, and the evidence behind each failure."""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from opscheck import __version__
from opscheck.results import CheckResult, RunInfo

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
        pass  # pytest-html writes the page; pytest_sessionfinish below finishes it

    # --- pytest-html's hooks -----------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_metadata(self, metadata: dict[str, Any], config: pytest.Config) -> None:
        """pytest-metadata's environment table, shown at the top of report.html."""
        metadata["Service"] = self.run.service
        metadata["Environment"] = self.run.environment or "-"
        metadata["Base URL"] = self.run.base_url or "-"
        metadata["opscheck version"] = __version__

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        where = f" ({self.run.environment})" if self.run.environment else ""
        report.title = f"opscheck: {self.run.service}{where}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="reason">Reason</th>')
        cells.insert(3, "<th>Runbook</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        result = self.records.get(report.nodeid)
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
        except Exception as exc:  # noqa: BLE001 - a crash here must fail the check, not pass it by omission
            self._crashed(result, "the report.html row", exc)
            reason, link = "error", ""
            cells[0] = '<td class="col-result">Failed</td>'
        cells.insert(2, f'<td class="col-reason">{reason}</td>')
        cells.insert(3, f'<td class="col-runbook">{link}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        result = self.records.get(report.nodeid)
        # pytest-html calls this for setup, call and teardown; the check's story is told once.
        if result is None or report.when == "teardown" or (report.when == "setup" and report.passed):
            return
        if getattr(report, "outcome", None) == "rerun":
            return  # an attempt that was run again: its row says so, the story is the last attempt's
        if result.html_detail:  # rendered by the plugin while the check's own phase could still fail
            data.insert(0, result.html_detail)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        # pytest-html writes report.html in its own (trylast) sessionfinish; this wrapper runs after it.
        outcome = yield
        path = _html_path(session.config)
        try:
            if path is not None and path.is_file():
                failed = {r.nodeid: (r.reason or "error", r.message or "") for r in self.records.values()
                          if r.outcome == "failed"}
                path.write_text(add_outcome_filters(path.read_text(encoding="utf-8"), failed), encoding="utf-8")
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


def row_cells(result: CheckResult | None) -> tuple[str, str]:
    """The Reason and Runbook cells' HTML for a check's rows in report.html."""
    if result is None:
        return "", ""
    link = ""
    if result.runbook is not None:
        link = f'<a href="{escape(result.runbook.link, quote=True)}" target="_blank">{escape(result.runbook.section)}</a>'
    return escape(result.reason or ""), link


def detail_html(result: CheckResult, redactor: Redactor) -> str | None:
    """The block under a check's row in report.html: verdict, runbook, plots and evidence."""
    blocks = []
    if result.message and result.outcome != "passed":
        blocks.append(f'<div class="opscheck-verdict"><b>[{escape(result.reason or result.outcome)}]</b> {escape(result.message)}</div>')
    if result.runbook is not None and result.outcome not in ("passed", "skipped"):
        excerpt = "".join(f"<li>{escape(line)}</li>" for line in result.runbook.excerpt)
        blocks.append(
            f'<div class="opscheck-runbook"><b>Runbook:</b> <a href="{escape(result.runbook.link, quote=True)}">'
            f"{escape(result.runbook.section)}</a><ul>{excerpt}</ul></div>"
        )
    for plot in result.plots:
        blocks.append(_plot_html(plot))
    if result.outcome == "passed":
        # A passing check needs only the exchange in one line; full evidence is in results.json.
        lines = "\n".join(escape(_summary(e)) for e in result.evidence)
        blocks.append(f'<div class="opscheck-evidence"><pre>{lines}</pre></div>')
    elif result.evidence:
        evidence = json.dumps(redactor.data(result.evidence), indent=2)
        blocks.append(f'<div class="opscheck-evidence"><b>Evidence</b><pre>{escape(evidence)}</pre></div>')
    return "\n".join(blocks) if blocks else None


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


def _reconcile(tests: dict[str, list[dict[str, Any]]], failed: dict[str, tuple[str, str]]) -> bool:
    changed = False
    for nodeid, (reason, message) in failed.items():
        rows = tests.get(nodeid) or []
        if any(row.get("result") in ("Failed", "Error") for row in rows):
            continue
        changed = True
        call = next((row for row in rows if row.get("testId") == nodeid), rows[0] if rows else None)
        if call is None:
            call = {"extras": [], "testId": nodeid, "duration": "-", "resultsTableRow": [
                '<td class="col-result">Failed</td>', f'<td class="col-testId">{escape(nodeid)}</td>',
                f'<td class="col-reason">{escape(reason)}</td>', '<td class="col-runbook"></td>',
                '<td class="col-duration">-</td>', '<td class="col-links"></td>'], "tableHtml": []}
            tests[nodeid] = [call]
        call["result"], call["reason"] = "Failed", reason
        call["log"] = f'<div class="opscheck-verdict"><b>[{escape(reason)}]</b> {escape(message)}</div>'
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
