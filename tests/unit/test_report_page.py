"""report.html's pure parts (issue 11 §5): the verdict, the banner, the sections anchor, the
environment order and the evidence rendering, without pytest-html or a browser."""

from __future__ import annotations

import json
import re

import pytest

from opscheck.evidence.redact import REDACTED, Redactor
from opscheck.report.html import (
    SECTIONS_ID,
    ReportLayoutError,
    banner_html,
    detail_html,
    finish_page,
    insert_section,
    order_environment,
    pretty_body,
    verdict,
)
from opscheck.results import Attempt, CheckResult, RunInfo

# The parts of pytest-html 4's page that finish_page relies on, as its template writes them.
PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8"/>
    <title id="head-title">report.html</title>
  </head>
  <body>
    <h1 id="title">opscheck: svc (staging)</h1>
    <p>Report generated on ...</p>
    <div class="filters">
            <input checked="true" class="filter" name="filter_checkbox" type="checkbox" data-test-result="failed" >
            <span class="failed">1 Failed,</span>
            <input checked="true" class="filter" name="filter_checkbox" type="checkbox" data-test-result="passed" >
            <span class="passed">1 Passed,</span>
          </div>
    <div id="data-container" data-jsonblob="{&#34;tests&#34;: {}}"></div>
    <script>const possibleFilters = ['passed', 'failed']</script>
  </body>
</html>
"""
RUN = RunInfo(service="svc", environment="staging", base_url="https://svc.example.com", profile="opscheck.yaml",
              started_at="2026-11-30T03:50:00+00:00")


def record(check_id: str, outcome: str, reason: str | None = None, **extra) -> CheckResult:
    family, name = check_id.split("::")
    result = CheckResult(id=check_id, nodeid=f"checks/test_{family}.py::test_{family}[{name}]", family=family, name=name,
                         severity="major", runbook=None, profile_field=f"{family}[0]", profile_line=7)
    result.outcome, result.reason, result.message = outcome, reason, None if outcome == "passed" else f"{check_id} said so"
    for key, value in extra.items():
        setattr(result, key, value)
    return result


@pytest.mark.parametrize(("counts", "exit_code", "expected"), [
    ({"passed": 3}, 0, ("PASS", "pass")),
    ({"passed": 2, "degraded": 1}, 0, ("PASS with degraded results", "warn")),
    ({"passed": 2, "flaky": 1}, 0, ("PASS with flaky results", "warn")),
    ({"passed": 1, "degraded": 1, "flaky": 1}, 0, ("PASS with degraded and flaky results", "warn")),
    ({"passed": 2, "failed": 1}, 1, ("FAIL", "fail")),
    ({"passed": 2, "degraded": 1}, 1, ("FAIL", "fail")),  # --strict: degraded fails the run
    ({"passed": 3}, 3, ("FAIL", "fail")),  # a report could not be written: never a pass
    ({"passed": 0}, 5, ("FAIL", "fail")),
    ({}, 0, ("FAIL", "fail")),  # no checks ran is not a pass
])
def test_the_verdict_is_pass_only_when_every_check_passed_and_the_run_exits_zero(counts, exit_code, expected):
    assert verdict(counts, exit_code) == expected


def test_the_banner_gives_the_verdict_counts_target_and_links_to_the_checks_that_need_a_look():
    records = [record("smoke::a", "passed"), record("smoke::b", "failed", "status"),
               record("slo::c", "degraded", "latency"), record("smoke::d", "flaky")]
    banner = banner_html(RUN, records, 1)
    text = re.sub(r"<[^>]+>", " ", banner)
    assert 'data-verdict="FAIL"' in banner
    assert "4 checks: 1 failed, 1 degraded, 1 flaky, 1 passed" in text
    assert "svc" in text and "staging" in text and "https://svc.example.com" in text
    assert '<a href="#smoke::b">smoke::b</a> failed [status]' in banner
    assert '<a href="#slo::c">slo::c</a> degraded [latency]' in banner and '<a href="#smoke::d">smoke::d</a> flaky' in banner
    assert "smoke::a" not in banner  # a pass needs no look


def test_the_banner_escapes_what_it_quotes_and_names_an_unusual_exit_code():
    run = RunInfo(service="<svc>", environment=None, base_url=None, profile="p", started_at="")
    banner = banner_html(run, [record("smoke::a", "passed")], 3)
    assert "<svc>" not in banner and "&lt;svc&gt;" in banner
    assert "exit code 3: opscheck or pytest hit an internal error" in banner


def test_finish_page_puts_the_banner_and_the_sections_anchor_under_the_title_and_is_idempotent():
    banner = banner_html(RUN, [record("smoke::a", "passed")], 0)
    page = finish_page(PAGE, banner)
    title_end = page.index("</h1>")
    assert title_end < page.index('id="opscheck-verdict"') < page.index(f'<div id="{SECTIONS_ID}">') < page.index("<p>Report generated")
    assert page.count('<style id="opscheck-style">') == 1 and "table-layout: fixed" in page
    again = finish_page(page, banner_html(RUN, [record("smoke::a", "failed", "status")], 1))
    assert again.count('id="opscheck-verdict"') == 1 and 'data-verdict="FAIL"' in again
    assert again.count(f'<div id="{SECTIONS_ID}">') == 1 and again.count('<style id="opscheck-style">') == 1


def test_finish_page_refuses_a_page_without_pytest_htmls_title():
    with pytest.raises(ReportLayoutError):
        finish_page(PAGE.replace('<h1 id="title">', "<h1>"), "<div></div>")


def test_a_section_goes_into_the_anchor_after_the_banner_and_replaces_its_earlier_self():
    page = finish_page(PAGE, banner_html(RUN, [record("smoke::a", "passed")], 0))
    once = insert_section(page, "watch-timeline", "<h2>Watch</h2><p>round 1</p>")
    anchor = once.index(f'<div id="{SECTIONS_ID}">')
    assert anchor < once.index('<section id="watch-timeline" class="opscheck-section"><h2>Watch</h2>') < once.index("<p>Report generated")
    twice = insert_section(insert_section(once, "drill", "<p>drill</p>"), "watch-timeline", "<p>round 2</p>")
    assert "round 1" not in twice and twice.count('id="watch-timeline"') == 1
    assert twice.index('id="drill"') < twice.index('id="watch-timeline"') or twice.index("round 2") > 0
    assert finish_page(twice, banner_html(RUN, [record("smoke::a", "passed")], 0)).count('id="drill"') == 1


@pytest.mark.parametrize("section_id", ["Watch", "", "a b", "x" * 65, '"><script>'])
def test_a_section_id_that_is_not_a_plain_name_is_refused(section_id):
    with pytest.raises(ValueError):
        insert_section(finish_page(PAGE, "<div></div>"), section_id, "<p></p>")


def test_a_section_for_a_page_without_the_anchor_is_an_error():
    with pytest.raises(ReportLayoutError):
        insert_section(PAGE, "watch-timeline", "<p></p>")


def test_the_environment_table_leads_with_the_run_and_ends_with_the_interpreter():
    metadata = {"Python": "3.11", "Platform": "linux", "Packages": {}, "Plugins": {}, "Base URL": "u", "CI": "yes",
                "Service": "s", "Environment": "e", "opscheck version": "0.1", "Profile": "p"}
    order_environment(metadata)
    assert list(metadata) == ["Service", "Environment", "Base URL", "Profile", "opscheck version", "CI",
                              "Python", "Platform", "Packages", "Plugins"]


def test_a_json_body_is_pretty_printed_and_redacted_again_after_decoding():
    redactor = Redactor(secrets=["s3cret-value"])
    # The raw excerpt hides the secret behind JSON escapes; decoding spells it out.
    raw = '{"token": "\\u0073\\u0033cret-value", "items": [1, 2]}'
    pretty = pretty_body(raw, redactor)
    assert "s3cret-value" not in pretty and REDACTED in pretty
    assert pretty.startswith('{\n  "token"')
    assert pretty_body('{"cut": "in the mid', redactor) == '{"cut": "in the mid'  # a truncated excerpt stays raw
    assert pretty_body("plain text", redactor) == "plain text"
    assert pretty_body("[" * 100000, redactor) == "[" * 100000  # too deep to decode: raw, no crash


def test_a_failed_checks_detail_shows_each_exchange_as_request_and_response_on_one_html_line():
    exchange = {"kind": "http", "method": "GET", "url": "https://svc.example.com/health?pad=" + "x" * 2500,
                "request_id": "r1", "status": 503, "elapsed_ms": 12.34, "ttfb_ms": 3.2,
                "request_headers": {"x-api-key": REDACTED}, "response_headers": {"content-type": "application/json"},
                "body_excerpt": '{"status":"down","error":"Elastic\\nsearch"}', "body_bytes": 40, "truncated": False,
                "error": None, "redirects": [{"status": 302, "location": "https://svc.example.com/health"}]}
    result = record("smoke::health", "failed", "status", evidence=[exchange])
    html = detail_html(result, Redactor())
    assert "\n" not in html  # pytest-html's script colours lines starting with "E": no line may start
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"Request\s+GET\s+https://svc\.example\.com/health\?pad=x{2500}", text)
    assert re.search(r"Redirect\s+302 → ", text)
    assert re.search(r"Response\s+503 Service Unavailable\s+in 12\.3 ms · TTFB 3\.2 ms · 40 bytes · request id r1", text)
    assert "<th>content-type</th><td>application/json</td>" in html and f"<td>{REDACTED}</td>" in html
    assert '{&#10;  &quot;status&quot;: &quot;down&quot;' in html  # indented: one key a line
    assert '"request_headers"' not in html


def test_a_failed_check_keeps_every_exchange_folding_all_but_the_last_three():
    items = [{"kind": "http", "method": "GET", "url": f"https://svc/{i}", "request_id": f"r{i}", "status": 200,
              "elapsed_ms": 1.0, "body_excerpt": "", "body_bytes": 0} for i in range(5)]
    html = detail_html(record("openapi::x", "failed", "schema", evidence=items), Redactor())
    folded, shown = html.split("</details>", 1)[0], html.split('class="opscheck-earlier"', 1)[1]
    assert "2 earlier exchanges" in folded and "https://svc/0" in folded and "https://svc/1" in folded
    assert all(f"https://svc/{i}" in shown for i in (2, 3, 4))


def test_sample_summaries_tls_handshakes_and_unknown_items_are_shown_by_kind():
    sample = {"kind": "sample_summary", "method": "GET", "url": "https://svc/items", "mode": "open loop 50/s", "n": 9,
              "requested": 100, "n_ok": 9, "statuses": {"200": 9}, "percentiles": {"p95_ms": 812.4}, "details": {"connects": 1}}
    tls = {"kind": "tls_handshake", "host": "svc", "port": 443, "protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
           "subject": "CN=svc", "issuer": "CN=ca", "san": ["svc"], "not_after": "2027-01-01T00:00:00Z", "days_left": "31.00"}
    odd = {"kind": "from-the-future", "value": 1}
    html = detail_html(record("slo::x", "failed", "latency", evidence=[sample, tls, odd]), Redactor())
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"Samples\s+GET\s+https://svc/items\s+\(open loop 50/s\)", text)
    assert "9 of 100 planned" in text and "9 × 200" in text and "p95 812.4 ms" in text
    assert re.search(r"TLS\s+TLS svc:443 -&gt; TLSv1.3", text) and "CN=ca" in text
    assert "from-the-future" in text  # never dropped


def test_a_flaky_checks_detail_lists_its_attempts():
    result = record("smoke::a", "flaky", attempts=[Attempt("failed", "protocol", "cut"), Attempt("passed")])
    html = detail_html(result, Redactor())
    assert "attempts 1: failed [protocol], 2: passed" in html


def test_a_passing_checks_detail_is_one_line_per_exchange():
    exchange = {"kind": "http", "method": "GET", "url": "https://svc/health", "request_id": "r1", "status": 200,
                "elapsed_ms": 1.5}
    html = detail_html(record("smoke::a", "passed", evidence=[exchange]), Redactor())
    assert "<li>GET https://svc/health -&gt; 200 in 1.5 ms (request id r1)</li>" in html
    assert "Response" not in html and json.dumps(exchange) not in html
