"""An internal error is never a pass (issue 8 §1f).

Whatever crashes - a check, a fixture, one of our hooks, a third-party hook, a report writer - the
check it hit is `failed` with reason `error` in the terminal, results.json, junit.xml and
report.html, and the run exits non-zero. Each fault is injected by the test itself: a custom check
module or a `-p` plugin written into the pytester directory, next to the bundled checks.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from opscheck.cli import checks_dir
from tests.conftest import Run

PROFILE = """\
service: crashy
smoke:
  - {name: health, path: /health, expect: {status: 200}}
  - {name: home, path: /, expect: {status: 200}}
"""

# A team's own check module, using our fixtures; each test fills in the body.
CUSTOM = """\
import pytest
from opscheck.outcome import CheckFailed, Reason

{body}
"""


def html_rows(run: Run) -> dict[str, list[str]]:
    """report.html's rows as pytest-html's script sees them: node id -> the Result of each row."""
    page = (run.report_dir / "report.html").read_text()
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    return {nodeid: [row["result"] for row in rows] for nodeid, rows in blob["tests"].items()}


def junit_cases(run: Run) -> dict[str, ET.Element]:
    root = ET.parse(run.report_dir / "junit.xml").getroot()
    return {case.get("name"): case for case in root.iter("testcase")}


def custom_result(run: Run) -> dict[str, Any]:
    matches = [c for c in run.results["checks"] if "test_custom" in c["nodeid"]]
    assert matches, "the custom check is missing from results.json"
    return matches[0]


def assert_error_everywhere(run: Run, check: dict[str, Any], junit_name: str, *, message: str) -> None:
    assert check["outcome"] == "failed" and check["reason"] == "error", check
    assert message in check["message"]
    assert run.ret != 0
    assert run.results["run"]["exit_code"] == run.ret
    assert "opscheck verdict: FAIL" in run.stdout
    assert f"{check['id']}" in run.stdout.split("opscheck runbook summary")[-1]
    case = junit_cases(run)[junit_name]
    assert case.find("failure") is not None or case.find("error") is not None, ET.tostring(case)
    rows = html_rows(run)[check["nodeid"]]
    assert "Passed" not in rows and any(r in ("Failed", "Error") for r in rows), rows


def test_a_verdict_whose_message_cannot_be_processed_fails_with_reason_error(service, run_checks, pytester):
    # The message is an object the redactor cannot read: our makereport hook crashes on it. Before,
    # that was an INTERNALERROR and results.json recorded the check as passed.
    pytester.makepyfile(test_custom=CUSTOM.format(body=(
        "class Opaque:\n"
        "    def __bool__(self):\n        return True\n"
        "def test_custom(smoke_check, opscheck_http):\n"
        "    raise CheckFailed(Reason.BODY, Opaque())\n"
    )))
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_custom.py"), profile=PROFILE)
    assert run.ret == 1
    assert "INTERNALERROR" not in run.output
    check = custom_result(run)
    assert_error_everywhere(run, check, "test_custom[health]", message="opscheck crashed while processing this check's call result: TypeError")
    # The other checks are untouched.
    assert run.check("smoke::health")["outcome"] == "passed"


def test_evidence_that_breaks_the_failure_text_fails_with_reason_error(service, run_checks, pytester):
    # failure_repr renders each evidence item's summary(); this one raises.
    pytester.makepyfile(test_custom=CUSTOM.format(body=(
        "class Broken:\n"
        "    body_excerpt = ''\n"
        "    def summary(self):\n        raise RuntimeError('summary broke')\n"
        "def test_custom(smoke_check, opscheck_http):\n"
        "    opscheck_http.evidence.append(Broken())\n"
        "    raise CheckFailed(Reason.STATUS, 'expected 200, got 500')\n"
    )))
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_custom.py"), profile=PROFILE)
    assert run.ret == 1 and "INTERNALERROR" not in run.output
    check = custom_result(run)
    assert_error_everywhere(run, check, "test_custom[health]", message="RuntimeError: summary broke")
    assert "Traceback" in run.stdout  # the redacted traceback of our crash is kept for the bug report


def test_a_fixture_that_crashes_in_teardown_fails_the_check(service, run_checks, pytester):
    pytester.makepyfile(test_custom=CUSTOM.format(body=(
        "@pytest.fixture\n"
        "def leaky():\n    yield\n    raise OSError('teardown broke')\n"
        "def test_custom(smoke_check, opscheck_http, leaky):\n"
        "    opscheck_http.request('GET', '/health')\n"
    )))
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_custom.py"), profile=PROFILE)
    check = custom_result(run)
    assert_error_everywhere(run, check, "test_custom[health]", message="check crashed in teardown: OSError: teardown broke")


@pytest.mark.parametrize(
    ("hook", "where"),
    [
        ("def pytest_runtest_logreport(report):\n    if report.when == 'call' and 'health' in report.nodeid:\n", "reporting"),
        ("def pytest_html_results_table_row(report, cells):\n    if report.when == 'call' and 'health' in report.nodeid:\n", "the HTML row"),
    ],
    ids=["logreport", "html-row"],
)
def test_a_third_party_hook_that_crashes_is_an_internal_error_never_a_pass(service, run_checks, pytester, hook, where):
    # The check itself passed, then a hook crashed while it was being reported: pytest stops with
    # INTERNALERROR. Before, results.json recorded the check as passed and left out the rest.
    pytester.makepyfile(inject=hook + "        raise RuntimeError('hook broke')\n")
    run = run_checks("--base-url", service().base_url, "-p", "inject", profile=PROFILE)
    assert run.ret == 3
    health, home = run.check("smoke::health"), run.check("smoke::home")
    assert (health["outcome"], health["reason"]) == ("failed", "error")
    assert "internal error while this check was being reported" in health["message"]
    assert (home["outcome"], home["reason"]) == ("failed", "error")
    assert "not run: the run stopped on an internal error" in home["message"]
    assert run.results["run"]["counts"]["passed"] == 0
    # pytest prints no summary after an internal error; opscheck's verdict is still on screen.
    summary = run.stdout.split("opscheck runbook summary")[-1]
    assert "smoke::health" in summary and "smoke::home" in summary and "opscheck verdict: FAIL" in summary
    assert junit_cases(run).get("internal") is not None  # junitxml's own record of the internal error
    rows = html_rows(run)
    assert rows[health["nodeid"]] == ["Failed"] and rows[home["nodeid"]] == ["Failed"]


def test_an_unwritable_results_file_fails_the_run_with_a_clear_line(service, pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_BASE_URL", raising=False)
    pytester.path.joinpath("opscheck.yaml").write_text(PROFILE)
    reports = pytester.path / "reports"
    (reports / "results.json").mkdir(parents=True)  # os.replace cannot overwrite a directory
    result = pytester.runpytest_subprocess(
        str(checks_dir()), "--profile", str(pytester.path / "opscheck.yaml"), "--report-dir", str(reports),
        "--base-url", service().base_url, "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 3  # every check passed, but the gate has no results file
    assert "INTERNAL ERROR: results.json: cannot write" in output
    assert "opscheck verdict: FAIL" in output
    assert "Traceback" not in output
    # The other reports are still written.
    assert (reports / "junit.xml").is_file() and (reports / "report.html").is_file()


def test_a_report_html_row_that_cannot_be_rendered_fails_the_check_everywhere(service, run_checks, pytester):
    # A reason that is not text: report.html's Reason cell cannot be escaped. The cell is rendered
    # at the check's teardown, so the crash fails the check in every report, junit.xml included.
    pytester.makepyfile(inject=(
        "from opscheck.plugin import STATE_KEY\n"
        "CONFIG = []\n"
        "def pytest_configure(config):\n    CONFIG.append(config)\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' and 'health' in report.nodeid:\n"
        "        CONFIG[0].stash[STATE_KEY].results[report.nodeid].reason = 123\n"
    ))
    run = run_checks("--base-url", service().base_url, "-p", "inject", profile=PROFILE)
    health = run.check("smoke::health")
    assert_error_everywhere(run, health, "test_smoke[health]",
                            message="opscheck crashed while processing this check's teardown result: AttributeError")
    assert run.check("smoke::home")["outcome"] == "passed"


def test_a_terminal_summary_that_crashes_fails_the_run_and_results_json_says_so(service, run_checks, pytester):
    # A severity that cannot be formatted: the runbook summary crashes on the failed check's line.
    pytester.makepyfile(inject=(
        "from opscheck.plugin import STATE_KEY\n"
        "CONFIG = []\n"
        "class Unprintable(str):\n"
        "    def __format__(self, spec):\n        raise RuntimeError('summary broke')\n"
        "def pytest_configure(config):\n    CONFIG.append(config)\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'teardown' and 'home' in report.nodeid:\n"
        "        CONFIG[0].stash[STATE_KEY].results[report.nodeid].severity = Unprintable('major')\n"
    ))
    profile = PROFILE.replace("path: /, expect: {status: 200}", "path: /nope, expect: {status: 200}")
    run = run_checks("--base-url", service().base_url, "-p", "inject", profile=profile)
    assert run.ret == 3
    assert "opscheck: INTERNAL ERROR while writing the summary: RuntimeError: summary broke (exit code 3)" in run.stdout
    assert run.results["run"]["exit_code"] == 3
    assert "Traceback" not in run.output


def test_a_crash_before_any_check_leaves_no_stale_results(service, run_checks, pytester):
    # A results.json from an earlier, green run must not stand for a run that crashed at collection.
    green = run_checks("--base-url", service().base_url, profile=PROFILE)
    assert green.ret == 0 and green.results["run"]["counts"]["passed"] == 2
    pytester.makepyfile(inject="def pytest_collection_modifyitems(items):\n    raise RuntimeError('collection broke')\n")
    run = run_checks("--base-url", service().base_url, "-p", "inject", profile=PROFILE)
    assert run.ret == 3
    assert run.results["run"]["exit_code"] == 3 and run.results["run"]["counts"]["passed"] == 0
    assert {(c["outcome"], c["reason"]) for c in run.results["checks"]} <= {("failed", "error")}


def test_a_crash_before_collection_ends_leaves_no_stale_results(service, run_checks, pytester):
    green = run_checks("--base-url", service().base_url, profile=PROFILE)
    assert green.ret == 0
    pytester.makepyfile(inject="def pytest_collection(session):\n    raise RuntimeError('collection broke')\n")
    run = run_checks("--base-url", service().base_url, "-p", "inject", profile=PROFILE)
    assert run.ret == 3
    assert run.results["run"]["exit_code"] == 3 and run.results["checks"] == []
    assert "opscheck: no checks ran: the run stopped on an internal error (exit 3)" in run.stdout


def test_no_check_is_passed_without_a_call_phase(service, run_checks):
    # --setup-only runs fixtures but never a check: nothing may be recorded as passed.
    run = run_checks("--base-url", service().base_url, "--setup-only", profile=PROFILE)
    assert run.ret != 0
    assert set(run.outcomes().values()) == {"failed"}
    assert all(c["reason"] == "error" and "no verdict" in c["message"] for c in run.results["checks"])
