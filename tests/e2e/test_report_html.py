"""report.html shows every outcome (issue 8 §1g): its own rows, filter checkbox and count.

pytest-html 4 builds the results table in JavaScript, so the page is rendered in headless Chromium
(`--dump-dom`) and the assertions read the DOM its script produced. Those tests are skipped only
where no Chromium is installed; CI installs it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from opscheck.report.html import EXTRA_OUTCOMES, ReportLayoutError, add_outcome_filters

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (CI installs Debian's chromium)")

PROFILE = """\
service: outcomes
smoke:
  - {name: ok, path: /health, expect: {status: 200}}
  - {name: wobbly, path: /health, expect: {status: 200}}
  - {name: broken, path: /nope, expect: {status: 200}}
  - {name: write, path: /api/items, method: POST, expect: {status: 201}}
thresholds:
  - {name: par-90, file: summary.json, field: summary.par_90, unit: "%", target: 3, warn: 3, critical: 5}
"""

# `flaky` comes from the retry gate; until then a test plugin gives one passing check that outcome,
# the way the gate will record it, to show the HTML machinery is generic over outcomes.
FLAKY_PLUGIN = """\
import pytest
from opscheck.plugin import STATE_KEY

CONFIG = []

def pytest_configure(config):
    CONFIG.append(config)

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    state = CONFIG[0].stash.get(STATE_KEY, None)
    if report.when == "call" and "wobbly" in report.nodeid and state is not None:
        state.results[report.nodeid].outcome = "flaky"
"""

OUTCOMES = {"passed": "Passed", "degraded": "Degraded", "flaky": "Flaky", "skipped": "Skipped", "failed": "Failed"}


def _screenshot_module():
    spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "benchmarks" / "screenshot_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def report(service, run_checks, pytester) -> Path:
    """report.html of a run with one check of each outcome."""
    pytester.path.joinpath("summary.json").write_text(json.dumps({"summary": {"par_90": 3.4}}))  # warning band
    pytester.makepyfile(flaky_plugin=FLAKY_PLUGIN)
    run = run_checks("--base-url", service().base_url, "-p", "flaky_plugin", profile=PROFILE)
    assert run.ret == 1, run.output[-3000:]
    assert sorted(run.outcomes().values()) == sorted(OUTCOMES)
    return run.report_dir / "report.html"


def rendered_rows(dom: str) -> list[str]:
    return re.findall(r'<tbody class="results-table-row (\w+)"', dom)


@needs_chromium
def test_every_outcome_has_a_visible_row_a_filter_and_a_count(report):
    dom = _screenshot_module().dump_dom(CHROMIUM, report)
    table = re.search(r'<table id="results-table">.*?</table>', dom, re.S)
    assert table is not None and "No results found" not in table.group(0)
    # pytest-html's script renders only rows whose outcome passes the filter: rendered is visible.
    assert sorted(rendered_rows(dom)) == sorted(OUTCOMES)
    for outcome, label in OUTCOMES.items():
        box = re.search(rf'<input[^>]*data-test-result="{outcome}"[^>]*>', dom)
        assert box is not None, f"no filter for {outcome}"
        assert "disabled" not in box.group(0), f"the {outcome} filter is disabled"
        assert re.search(rf'<span class="{outcome}">1 {label},?</span>', dom), f"{outcome} is not counted once"


@needs_chromium
@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_each_outcome_filter_shows_that_outcome_alone(report, outcome):
    # pytest-html keeps the filter in the URL: ?visible=<outcome> is the page with only that box ticked.
    dom = _screenshot_module().dump_dom(CHROMIUM, report, query=f"visible={outcome}")
    assert rendered_rows(dom) == [outcome]


def test_add_outcome_filters_recounts_from_the_rows_and_is_idempotent(report):
    page = report.read_text()
    assert page.count("const possibleFilters = [") == 1
    once = add_outcome_filters(page)
    assert once == page  # the plugin already applied it
    for outcome, label in OUTCOMES.items():
        assert len(re.findall(rf'<span class="{outcome}">1 {label},?</span>', page)) == 1
    for outcome in EXTRA_OUTCOMES:
        assert f"'{outcome}'" in page.split("const possibleFilters = [", 1)[1].split("]", 1)[0]


def test_a_page_without_pytest_htmls_structure_is_an_error_not_a_silent_pass():
    with pytest.raises(ReportLayoutError):
        add_outcome_filters("<html><head></head><body>no blob</body></html>")


NOISY_CHECK = '''
import pytest


@pytest.fixture
def noisy():
    print("SETUP-OUTPUT-MARK")
    yield
    print("TEARDOWN-OUTPUT-MARK")


def test_noisy(smoke_check, noisy):
    smoke_check.run()
'''


def test_output_captured_in_setup_and_teardown_stays_in_the_checks_row(service, run_checks, pytester):
    # report.html drops the rows of passed setups and teardowns before pytest-html builds them (its
    # documented `del cells[:]`), except a teardown that captured output: pytest-html appends that
    # output to the check's own row, so it must still see it.
    pytester.makepyfile(test_noisy=NOISY_CHECK)
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_noisy.py"),
                     profile="service: noisy\nsmoke:\n  - {name: ok, path: /health}\n")
    assert run.ret == 0, run.output[-3000:]
    html = (run.report_dir / "report.html").read_text()
    blob = json.loads(re.search(r'data-jsonblob="([^"]*)"', html).group(1).replace("&#34;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'"))
    rows = blob["tests"]
    noisy = [row for nodeid, row_list in rows.items() if "test_noisy" in nodeid for row in row_list]
    assert len(noisy) == 1, rows.keys()  # one row: the call's, no setup or teardown row
    assert "SETUP-OUTPUT-MARK" in noisy[0]["log"] and "TEARDOWN-OUTPUT-MARK" in noisy[0]["log"], noisy[0]["log"]
    assert all(len(row_list) == 1 for row_list in rows.values()), {k: len(v) for k, v in rows.items()}
