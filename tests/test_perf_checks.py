"""SLO, benchmark and server-side metrics checks against the real reference service: each threshold
passes when healthy and fails under the matching fault (slow, jitter, errors) with reason latency or errors."""

from __future__ import annotations

import pytest

from tests.conftest import RUNBOOK
from tests.hostile import closed_port
from tests.tls_server import CertFactory, TlsServer  # at import: pytester drops modules first imported inside a test

PROFILE = """\
service: perf
runbook: RUNBOOK.md
auth: {header: X-API-Key, keys_env: TEST_API_KEYS}
defaults:
  slo: {runbook: "API Not Responding", severity: critical}
  benchmark: {runbook: "API Not Responding"}
  metrics: {runbook: "Monitoring & Alerts"}
slo:
  - {name: open, path: "/api/items?limit=5", requests: 60, rate_per_s: 60, p95_ms: 400, p99_ms: 500, max_error_ratio: 0.01}
  - {name: closed, path: "/api/items?limit=5", requests: 40, concurrency: 4, p95_ms: 400, p99_ms: 500, max_error_ratio: 0.01}
benchmark:
  - {name: items, path: "/api/items?limit=5", rounds: 20, mean_ms: "${BENCH_FAIL_THRESHOLD_MS:-250}", p95_ms: "${BENCH_FAIL_P95_THRESHOLD_MS:-400}"}
metrics:
  - {name: errors, match: {route: /api/items}, max_error_ratio: 0.01}
  - {name: p95, match: {route: /api/items}, quantile: 0.95, max_ms: 400}
"""


def test_healthy_service_meets_every_budget(service, run_checks):
    run = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    assert run.ret == 0, run.output[-3000:]
    assert set(run.outcomes().values()) == {"passed"}
    slo = run.check("slo::open")["measurements"]
    assert slo["n"] == 60 and slo["requested"] == 60 and slo["error_ratio"] == "0"
    assert slo["tls_p50_ms"] is None and slo["connects"] >= 1 and slo["ttfb_p50_ms"] <= slo["p50_ms"]
    assert slo["dns_p50_ms"] is not None and slo["connect_p50_ms"] is not None
    assert run.check("benchmark::items")["measurements"]["rounds"] == 20
    assert (run.report_dir / "benchmark.json").exists()  # pytest-benchmark's own JSON, next to ours
    html = (run.report_dir / "report.html").read_text()
    assert "&lt;svg" in html and "p95 budget" in html  # inline SVG (escaped inside pytest-html's data blob)


def test_slow_fault_breaks_latency_budgets(service, run_checks):
    run = run_checks("--base-url", service("slow").base_url, profile=PROFILE, runbook=RUNBOOK)
    for check_id in ("slo::open", "slo::closed", "benchmark::items", "metrics::p95"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "latency"), check
    assert "p95 7" in run.check("slo::open")["message"] and "> 500 ms (n=60, errors 0 %)" in run.check("slo::open")["message"]
    assert "mean 7" in run.check("benchmark::items")["message"] and "> 250 ms" in run.check("benchmark::items")["message"]
    assert run.check("metrics::errors")["outcome"] == "passed"


def test_jitter_fault_breaks_the_tail_only(service, run_checks):
    run = run_checks("--base-url", service("jitter").base_url, profile=PROFILE, runbook=RUNBOOK)
    for check_id in ("slo::open", "slo::closed"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "latency"), check
        assert "p99" in check["message"] and "> 500 ms" in check["message"]
        assert "p95" not in check["message"]  # the median and p95 are fine: it is a tail problem


def test_errors_fault_breaks_error_ratios(service, run_checks):
    run = run_checks("--base-url", service("errors").base_url, profile=PROFILE, runbook=RUNBOOK)
    for check_id in ("slo::open", "slo::closed", "metrics::errors"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "errors"), check
    assert "error ratio 10 % > 1 % (6 of 60)" in run.check("slo::open")["message"]


def test_benchmark_thresholds_come_from_the_environment(service, run_checks, monkeypatch):
    monkeypatch.setenv("BENCH_FAIL_THRESHOLD_MS", "0.001")
    run = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    check = run.check("benchmark::items")
    assert (check["outcome"], check["reason"]) == ("failed", "latency")
    assert "> 0.001 ms" in check["message"]
    # The breach fails the test itself, so JUnit shows it too.
    assert 'message="[latency] GET /api/items?limit=5: mean' in (run.report_dir / "junit.xml").read_text()


def test_baseline_regression_fails_the_benchmark(service, run_checks, pytester):
    healthy = run_checks("--base-url", service().base_url, profile=PROFILE, runbook=RUNBOOK)
    baseline = pytester.path / "baseline.json"
    baseline.write_text(healthy.results_text)
    slow = run_checks("--base-url", service("slow").base_url, "--baseline", str(baseline),
                      "-k", "benchmark", profile=PROFILE,
                      runbook=RUNBOOK)
    assert "regressed" in slow.check("benchmark::items")["message"]


def test_no_samples_is_a_failure_never_a_pass(run_checks):
    run = run_checks("--base-url", f"http://127.0.0.1:{closed_port()}", "-k", "slo", profile=PROFILE, runbook=RUNBOOK)
    check = run.check("slo::open")
    assert check["outcome"] == "failed" and check["reason"] == "connect"
    assert "no answered samples: 60 of 60 failed with connect" in check["message"]


@pytest.mark.parametrize(("bad", "cause"), [
    ("requests: 10, duration_s: 2", "give exactly one of `requests` and `duration_s`"),
    ("rate_per_s: 5, concurrency: 2, requests: 3", "not both"),
    ("rate_per_s: 1, requests: 100000", "100000 requests at 1/s take 99999 s; a run may last at most 600 s"),
])
def test_slo_profile_errors(run_checks, bad, cause):
    profile = f"service: s\nslo:\n  - {{name: a, path: /, {bad}, p95_ms: 100}}\n"
    run = run_checks("--base-url", "http://127.0.0.1:9", profile=profile)
    assert run.ret == 4 and "opscheck.yaml:3: slo[0]" in run.output and cause in run.output, run.output
    assert "Traceback" not in run.stdout + run.stderr


HTTPS_PROFILE = """\
service: secure-perf
runbook: RUNBOOK.md
http: {ca_file: ca.pem}
defaults:
  slo: {runbook: "API Not Responding", severity: critical}
slo:
  - {name: tls-open, path: /, requests: 20, rate_per_s: 40, p95_ms: 1000, max_error_ratio: 0}
"""


def test_slo_over_https_verifies_like_every_other_check(run_checks, pytester):
    """The sampler's own client takes the profile's CA: trusted passes; untrusted fails as `tls`."""
    certs = CertFactory(pytester.path)
    with TlsServer(*certs.leaf("slo"), keep_alive=True) as server:
        trusted = run_checks("--base-url", server.base_url, "-k", "slo", profile=HTTPS_PROFILE, runbook=RUNBOOK)
        untrusted = run_checks("--base-url", server.base_url, "-k", "slo",
                               profile=HTTPS_PROFILE.replace("http: {ca_file: ca.pem}\n", ""), runbook=RUNBOOK)
    check = trusted.check("slo::tls-open")
    assert check["outcome"] == "passed", check
    measured = check["measurements"]
    assert measured["n"] == 20 and measured["error_ratio"] == "0"
    assert measured["connects"] >= 1 and measured["tls_p50_ms"] > 0 and measured["connect_p50_ms"] > 0  # phases timed apart
    check = untrusted.check("slo::tls-open")
    assert check["outcome"] == "failed" and check["reason"] == "tls", check
    assert "no answered samples: 20 of 20 failed with tls" in check["message"]
    assert check["runbook"]["anchor"] == "api-not-responding"
