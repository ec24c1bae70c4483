"""Failures carry facts (issue 10 §3): observed, limit, unit and a fingerprint on CheckFailed and
CheckDegraded, in results.json per check; evidence of several kinds (§4), so a passing SLO shows
its samples instead of "no answer (None)"."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from opscheck.evidence.kinds import Evidence, SampleSummary, TlsHandshake, summary_of
from opscheck.outcome import CheckDegraded, CheckFailed, Reason, fingerprint, shape_of
from tests.conftest import RUNBOOK
from tests.tls_server import CertFactory, TlsServer  # at import: pytester drops modules first imported inside a test

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "opscheck/results.schema.json").read_text())

PROFILE = """\
service: facts
runbook: RUNBOOK.md
http: {timeout_s: 3, deadline_s: 6}
auth: {header: X-API-Key, keys_env: TEST_API_KEYS}
defaults:
  smoke: {runbook: "API Not Responding"}
  slo: {runbook: "API Not Responding"}
smoke:
  - {name: health, path: /health, expect: {status: 200, max_ms: 300}}
slo:
  - {name: items, path: "/api/items?limit=2", requests: 6, concurrency: 3, p95_ms: 300}
"""


# --- pure rules: no sockets -----------------------------------------------------------------------


def test_facts_are_json_able_exact_decimal_text_and_none_when_absent() -> None:
    failed = CheckFailed(Reason.LATENCY, "GET /: p95 812.4 ms > 400 ms", observed=812.4, limit=Decimal(400), unit="ms")
    facts = failed.facts("slo::items")
    assert {k: facts[k] for k in ("observed", "limit", "unit")} == {"observed": "812.4", "limit": "400", "unit": "ms"}
    assert json.loads(json.dumps(facts)) == facts
    bare = CheckFailed(Reason.BODY, "GET /: body does not contain 'ok'").facts("smoke::x")
    assert (bare["observed"], bare["limit"], bare["unit"]) == (None, None, None)
    assert len(bare["fingerprint"]) == 16 and int(bare["fingerprint"], 16) >= 0


def test_a_status_fact_keeps_its_allowed_statuses_as_text() -> None:
    facts = CheckFailed(Reason.STATUS, "GET /health: status 503, expected 200 or 204",
                        observed=503, limit="200 or 204", unit="status").facts("smoke::health")
    assert (facts["observed"], facts["limit"], facts["unit"]) == ("503", "200 or 204", "status")


def test_the_shape_masks_measured_numbers_and_ids_but_keeps_names_with_digits() -> None:
    assert shape_of("GET /: p95 812.4 ms > 400 ms (n=60, errors 0 %)") == "GET /: p95 # ms > # ms (n=#, errors # %)"
    assert shape_of("connection refused by 127.0.0.1:43817") == "connection refused by #"
    assert shape_of("request 3fa2bc9d0e11aa07 negotiated TLSv1.2") == "request # negotiated TLSv1.2"


def test_one_fault_with_other_measured_values_has_one_fingerprint() -> None:
    last_night = CheckFailed(Reason.LATENCY, "GET /: p95 812.4 ms > 400 ms (n=60, errors 0 %)", observed=812.4)
    tonight = CheckFailed(Reason.LATENCY, "GET /: p95 1903.0 ms > 400 ms (n=60, errors 0 %)", observed=1903.0)
    assert last_night.fingerprint("slo::items") == tonight.fingerprint("slo::items")
    degraded = CheckDegraded(Reason.LATENCY, "GET /: p95 1903.0 ms > 400 ms (n=60, errors 0 %)")
    assert degraded.fingerprint("slo::items") == tonight.fingerprint("slo::items")


def test_another_check_reason_budget_or_status_is_another_fingerprint() -> None:
    base = CheckFailed(Reason.LATENCY, "GET /: p95 812.4 ms > 400 ms")
    prints = {
        base.fingerprint("slo::items"),
        base.fingerprint("slo::other"),
        CheckFailed(Reason.ERRORS, "GET /: p95 812.4 ms > 400 ms").fingerprint("slo::items"),
        CheckFailed(Reason.LATENCY, "GET /: p99 812.4 ms > 400 ms").fingerprint("slo::items"),
        CheckFailed(Reason.STATUS, "GET /: status 503, expected 200", observed=503, unit="status").fingerprint("slo::items"),
        CheckFailed(Reason.STATUS, "GET /: status 404, expected 200", observed=404, unit="status").fingerprint("slo::items"),
    }
    assert len(prints) == 6


def test_a_raiser_given_shape_replaces_the_masked_message() -> None:
    one = CheckFailed(Reason.BODY, "first wording", shape="body-mismatch")
    two = CheckFailed(Reason.BODY, "second wording", shape="body-mismatch")
    assert one.fingerprint("smoke::a") == two.fingerprint("smoke::a") == fingerprint("smoke::a", "body", "body-mismatch")


def test_every_evidence_kind_has_a_summary_line_and_a_json_dict_with_its_kind() -> None:
    items = [
        Evidence(method="GET", url="http://h/health", request_id="r1", status=200, elapsed_ms=3.25),
        SampleSummary(method="GET", url="http://h/", mode="closed loop x2", n=4, requested=4, n_ok=4,
                      statuses={"200": 4}, percentiles={"p50_ms": 2.0, "p95_ms": 3.5, "p99_ms": None, "max_ms": 3.9}),
        TlsHandshake(host="h", port=443, protocol="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", subject="CN=h",
                     issuer="CN=ca", san=["DNS:h"], not_after="2030-01-01T00:00:00+00:00", days_left="1200.50"),
    ]
    for item in items:
        data = json.loads(json.dumps(item.to_dict()))
        assert data["kind"] == item.kind
        assert summary_of(data) == item.summary()
        jsonschema.validate(data, SCHEMA["properties"]["checks"]["items"]["properties"]["evidence"]["items"])
    assert items[1].summary() == ("GET http://h/ sampled (closed loop x2): n=4 of 4, answers 4 x 200; "
                                  "over the 4 with an expected status: p50 2.0 ms, p95 3.5 ms, max 3.9 ms")
    assert items[2].summary() == ("TLS h:443 -> TLSv1.3 TLS_AES_128_GCM_SHA256, subject CN=h, issuer CN=ca, "
                                  "1200.50 days left")
    assert TlsHandshake(host="h", port=443, error="connect to h:443 refused").summary() == \
        "TLS h:443 -> no handshake (connect to h:443 refused)"


def test_the_http_kind_keeps_every_field_older_readers_use() -> None:
    data = Evidence(method="GET", url="http://h/", request_id="r").to_dict()
    assert {"method", "url", "request_id", "status", "elapsed_ms", "ttfb_ms", "request_headers", "response_headers",
            "body_excerpt", "body_bytes", "truncated", "error", "redirects"} <= set(data)
    assert summary_of({k: v for k, v in data.items() if k != "kind"}) == Evidence(method="GET", url="http://h/",
                                                                                   request_id="r").summary()


# --- end to end: the reference service ------------------------------------------------------------


def test_a_slow_service_gives_the_numbers_behind_smoke_max_ms_and_slo_p95_in_results_json(service, run_checks):
    run = run_checks("--base-url", service("slow").base_url, profile=PROFILE, runbook=RUNBOOK)
    jsonschema.validate(run.results, SCHEMA)
    smoke = run.check("smoke::health")
    assert (smoke["outcome"], smoke["reason"], smoke["unit"], smoke["limit"]) == ("failed", "latency", "ms", "300")
    assert Decimal(smoke["observed"]) > Decimal(300)  # a bound, not a measured figure
    slo = run.check("slo::items")
    assert (slo["outcome"], slo["reason"], slo["unit"], slo["limit"]) == ("failed", "latency", "ms", "300")
    assert Decimal(slo["observed"]) > Decimal(300)
    assert slo["evidence"][-1]["kind"] == "sample_summary" and slo["evidence"][-1]["requested"] == 6
    assert 1 <= slo["evidence"][-1]["n"] <= 6  # an early verdict stops the sample (opscheck.measure.early)

    again = run_checks("--base-url", service("slow").base_url, profile=PROFILE, runbook=RUNBOOK)
    for check_id in ("smoke::health", "slo::items"):
        assert again.check(check_id)["fingerprint"] == run.check(check_id)["fingerprint"], check_id
    assert run.check("smoke::health")["fingerprint"] != run.check("slo::items")["fingerprint"]


def test_a_passing_slo_shows_its_samples_not_no_answer(service, run_checks):
    run = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    assert run.ret == 0, run.output[-3000:]
    slo = run.check("slo::items")
    assert slo.get("observed") is None and slo.get("unit") is None
    summary = slo["evidence"][-1]
    assert summary["kind"] == "sample_summary" and summary["statuses"] == {"200": 6}
    line = summary_of(summary)
    assert "no answer" not in line and line.startswith("GET ") and "sampled (closed loop x3): n=6 of 6" in line
    html = (run.report_dir / "report.html").read_text()
    assert "no answer (None)" not in html and "sampled (closed loop x3)" in html


TLS_PROFILE = """\
service: secure
runbook: RUNBOOK.md
tls: {warn_days: 30, fail_days: 7, ca_file: ca.pem, runbook: "Health Checks"}
"""


@pytest.mark.parametrize(("days", "outcome", "limit"), [(12, "degraded", "30"), (3, "failed", "7")])
def test_a_certificate_near_expiry_gives_days_left_against_its_band_and_a_handshake_as_evidence(
        run_checks, pytester, days, outcome, limit):
    certs = CertFactory(pytester.path)
    with TlsServer(*certs.leaf("near", days=days)) as server:
        run = run_checks("--base-url", server.base_url, profile=TLS_PROFILE, runbook=RUNBOOK)
    jsonschema.validate(run.results, SCHEMA)
    check = run.check("tls::certificate")
    assert (check["outcome"], check["reason"], check["unit"], check["limit"]) == (outcome, "tls", "days", limit)
    assert Decimal(check["observed"]) <= Decimal(days)
    handshake = check["evidence"][-1]
    assert handshake["kind"] == "tls_handshake" and handshake["subject"] == "CN=near"
    assert handshake["protocol"] in ("TLSv1.2", "TLSv1.3") and handshake["days_left"] == check["observed"]
    assert summary_of(handshake).startswith(f"TLS 127.0.0.1:{server.port} -> TLSv1.")


@pytest.mark.parametrize(("value", "level", "limit"), [("4", "warn", "3"), ("6.25", "fail", "5")])
def test_a_band_verdict_carries_the_value_and_the_bound_it_crossed(value, level, limit) -> None:
    from opscheck.families._data import judge
    from opscheck.measure.bands import Band

    with pytest.raises((CheckFailed, CheckDegraded)) as caught:
        judge(Band(warn=3, critical=5), Reason.THRESHOLD, lambda: f"PAR_90 = {value} %", None, Decimal(value), unit="%")
    assert isinstance(caught.value, CheckDegraded if level == "warn" else CheckFailed)
    facts = caught.value.facts("thresholds::par-90")
    assert (facts["observed"], facts["limit"], facts["unit"]) == (value, limit, "%")
