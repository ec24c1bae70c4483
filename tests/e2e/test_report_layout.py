"""report.html as an on-call engineer sees it: headless Chromium at 1366 px (issue 11 §5).

One `opscheck run` against the reference service gives a failed check whose URL carries a
2,450-character query (its evidence line is ~2,500 characters), a passing check and a degraded SLO
with plots. The page is laid out in Chromium with every row's details open, and a probe script
measures it (benchmarks/screenshot_report.py: layout_probe): no row wider than the page, the Reason
and Runbook columns on screen, plots not clipped, the banner, the Check column, the environment
table's order, and the evidence as a request and a response.

Skipped where no Chromium is installed, unless OPSCHECK_REQUIRE_SERVERS=1 (CI): then it fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, API_KEY_2, RUNBOOK

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
WIDTH = 1366
PAD = "x" * 2450  # one unbreakable token: the worst case for a table cell

PROFILE = """\
service: layout-svc
runbook: RUNBOOK.md
auth: {header: X-API-Key, keys_env: TEST_API_KEYS}
environments:
  staging: {base_url: "@URL@"}
defaults:
  smoke: {runbook: "API Not Responding", severity: critical}
  slo: {runbook: "Health Checks", severity: major}
smoke:
  - {name: health, path: /health, expect: {status: 200}}
  - {name: long-url, path: "/health?pad=@PAD@", expect: {status: 418}}
slo:
  - {name: items, path: "/api/items?limit=2", requests: 20, rate_per_s: 100, p95_ms: 2000, warn: {p95_ms: 0.001}}
"""


def _screenshot_module() -> Any:
    spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "benchmarks" / "screenshot_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("OPSCHECK_REQUIRE_SERVERS") == "1":
            pytest.fail("chromium is required here (OPSCHECK_REQUIRE_SERVERS=1) but none is on PATH")
        pytest.skip("no chromium on PATH (CI installs Debian's chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def run(service, tmp_path_factory) -> dict[str, Any]:
    """The run's report.html, its layout figures and DOM (details open), and the service URL."""
    chromium = _chromium()
    base_url = service().base_url
    where = tmp_path_factory.mktemp("layout")
    (where / "RUNBOOK.md").write_text(RUNBOOK)
    (where / "opscheck.yaml").write_text(PROFILE.replace("@URL@", base_url).replace("@PAD@", PAD))
    env = {**os.environ, "TEST_API_KEYS": f"{API_KEY};{API_KEY_2}"}
    env.pop("PYTEST_BASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "opscheck", "run", "--profile", "opscheck.yaml", "--env", "staging",
         "--report-dir", "reports", "-p", "no:cacheprovider"],
        cwd=where, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = where / "reports" / "report.html"
    probe, dom = _screenshot_module().layout_probe(chromium, report, width=WIDTH)
    return {"report": report, "probe": probe, "dom": dom, "base_url": base_url, "stdout": proc.stdout}


def _row_details(dom: str, check_id: str) -> str:
    """The DOM text of one check's row and its details (the tbody pytest-html builds per row)."""
    # Split at each row's own tbody: the header tables inside the details have tbody elements too.
    for body in dom.split('<tbody class="results-table-row')[1:]:
        if f">{check_id}</td>" in body:
            return body
    raise AssertionError(f"no row for {check_id}")


def test_no_row_is_wider_than_a_1366_px_page_with_a_2500_character_evidence_line(run):
    probe = run["probe"]
    assert probe["viewport"] > WIDTH - 40, probe  # the window really was 1366 px wide
    assert probe["pageWidth"] <= probe["viewport"], probe
    assert probe["tableWidth"] <= probe["viewport"], probe
    assert probe["widestRow"] <= probe["viewport"], probe
    # The columns that used to fall off-screen on every row are on screen.
    assert 0 < probe["reasonRight"] <= probe["viewport"] and 0 < probe["runbookRight"] <= probe["viewport"], probe
    # The long value is kept whole in the expanded details.
    assert f"pad={PAD}" in unescape(_row_details(run["dom"], "smoke::long-url"))


def test_latency_plots_are_shown_whole(run):
    plots = run["probe"]["plots"]
    assert len(plots) == 2, plots  # the SLO's histogram and percentile curve
    for plot in plots:
        assert plot["cut"] == 0 and plot["height"] > 150, plots


def test_the_banner_says_fail_with_the_counts_service_environment_and_base_url(run):
    probe = run["probe"]
    assert probe["verdict"] == "FAIL"
    banner = probe["banner"]
    assert "3 checks: 1 failed, 1 degraded, 1 passed" in banner
    assert "layout-svc" in banner and "staging" in banner and run["base_url"] in banner
    assert "smoke::long-url failed [status]" in banner and "slo::items degraded" in banner
    assert probe["sectionsAfterBanner"], "the sections anchor must follow the banner"


def test_the_check_column_shows_family_and_name_not_the_pytest_node_id(run):
    checks = run["probe"]["checks"]
    # In the order that needs a look first: failed, then degraded, then passed.
    assert checks == ["smoke::long-url", "slo::items", "smoke::health"], checks
    assert "test_smoke.py::test_smoke[health]" in run["dom"]  # as the row's tooltip and in its details


def test_the_environment_table_leads_with_the_run_and_ends_with_the_interpreter(run):
    keys = run["probe"]["environment"]
    assert keys[:5] == ["Service", "Environment", "Base URL", "Profile", "opscheck version"], keys
    tail = [k for k in keys if k in ("Python", "Platform", "Packages", "Plugins")]
    assert tail and keys[-len(tail):] == tail, keys


def test_evidence_reads_as_a_request_and_a_response_with_headers_and_a_pretty_body(run):
    row = unescape(_row_details(run["dom"], "smoke::long-url"))
    text = re.sub(r"<[^>]+>", " ", row)
    assert re.search(r"Request\s+GET\s+http://127\.0\.0\.1:\d+/health\?pad=x", text), text[:2000]
    assert re.search(r"Response\s+200 OK\s+in [\d.]+ ms", text), text[:2000]
    assert re.search(r"<th>content-type</th><td>application/json</td>", row)  # response headers, as a table
    assert re.search(r'<pre class="opscheck-body">\{\n  "status": "ok"', row), row[-3000:]  # pretty-printed JSON
    # The API key went out in a request header: it is shown redacted, never as sent.
    assert re.search(r"<th>x-api-key</th><td>\[REDACTED\]</td>", row)
    assert API_KEY not in run["dom"] and API_KEY not in run["report"].read_text()
    assert '"request_headers"' not in row  # not raw JSON any more


def test_a_section_added_from_outside_shows_between_the_banner_and_the_environment(run, tmp_path):
    from opscheck.report.html import add_section

    copy = tmp_path / "report.html"
    copy.write_text(run["report"].read_text())
    add_section(copy, "watch-timeline", "<h2>Watch timeline</h2><p>round 1 of 6: 3 passed</p>")
    probe, dom = _screenshot_module().layout_probe(_chromium(), copy, width=WIDTH)
    assert probe["sectionsAfterBanner"] and probe["verdict"] == "FAIL"
    banner, section, environment = (dom.index('id="opscheck-verdict"'), dom.index('<section id="watch-timeline"'),
                                    dom.index('<table id="environment"'))
    assert banner < section < environment
    assert "round 1 of 6: 3 passed" in dom
