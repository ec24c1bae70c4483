"""pytest-html additions: Reason and Runbook columns, and the evidence behind each failure."""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pytest

from opscheck import __version__
from opscheck.session import RunState


class HtmlHooks:
    """Registered only when pytest-html is active, so its hook names always exist."""

    def __init__(self, state: RunState) -> None:
        self.state = state

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

    @pytest.hookimpl(optionalhook=True)
    def pytest_metadata(self, metadata: dict[str, Any], config: pytest.Config) -> None:
        """pytest-metadata's environment table, shown at the top of report.html."""
        target = self.state.target
        metadata["Service"] = self.state.profile.service
        metadata["Environment"] = target.environment if target else "-"
        metadata["Base URL"] = self.state.redactor.text(target.base_url) if target else "-"
        metadata["opscheck version"] = __version__

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        target = self.state.target
        where = f" ({target.environment})" if target else ""
        report.title = f"opscheck: {self.state.profile.service}{where}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="reason">Reason</th>')
        cells.insert(3, "<th>Runbook</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        result = self.state.results.get(report.nodeid)
        reason = escape(result.reason or "") if result else ""
        link = ""
        if result is not None and result.runbook is not None:
            link = f'<a href="{escape(result.runbook.link, quote=True)}" target="_blank">{escape(result.runbook.section)}</a>'
        if result is not None and result.outcome == "degraded" and report.when == "call":
            cells[0] = '<td class="col-result" style="color:#b36b00">Degraded</td>'
        cells.insert(2, f'<td class="col-reason">{reason}</td>')
        cells.insert(3, f'<td class="col-runbook">{link}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        result = self.state.results.get(report.nodeid)
        # pytest-html calls this for setup, call and teardown; the check's story is told once.
        if result is None or report.when == "teardown" or (report.when == "setup" and report.passed):
            return
        blocks = []
        if result.message and result.outcome != "passed":
            blocks.append(f'<div class="opscheck-verdict"><b>[{escape(result.reason or result.outcome)}]</b> {escape(result.message)}</div>')
        if result.runbook is not None and result.outcome in ("failed", "degraded"):
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
            evidence = json.dumps(self.state.redactor.data(result.evidence), indent=2)
            blocks.append(f'<div class="opscheck-evidence"><b>Evidence</b><pre>{escape(evidence)}</pre></div>')
        if blocks:
            data.insert(0, "\n".join(blocks))


def _plot_html(plot: dict[str, Any]) -> str:
    """Inline SVG, so the self-contained report keeps its pictures offline."""
    from opscheck.report.svg import latency_svg, percentile_curve_svg

    stats = plot.get("stats") or {}
    marks = {k.removesuffix("_ms"): float(v) for k, v in stats.items() if k in ("p50_ms", "p95_ms", "p99_ms") and v is not None}
    samples = plot.get("latencies_ms", [])
    thresholds = plot.get("thresholds", {})
    return (f'<div class="opscheck-plot">{latency_svg(samples, thresholds=thresholds, percentiles=marks, title=plot.get("title", ""))}'
            f'{percentile_curve_svg(samples, thresholds=thresholds, title="latency by percentile")}</div>')


def _summary(evidence: dict[str, Any]) -> str:
    status = evidence.get("status") or f"no answer ({evidence.get('error')})"
    return f"{evidence['method']} {evidence['url']} -> {status} in {evidence.get('elapsed_ms') or 0:.1f} ms (request id {evidence['request_id']})"
