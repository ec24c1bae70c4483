"""SLO, benchmark and server-side metrics checks against the real reference service: each threshold
passes when healthy and fails under the matching fault (slow, jitter, errors) with reason latency or errors."""

from __future__ import annotations

import time

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


# Under `slow` every answer takes ~1.2 s, and these runs sample in full (--no-early-stop): the same
# checks with fewer closed-loop requests and benchmark rounds keep the suite's time down.
SHORT_PROFILE = PROFILE.replace("requests: 40, concurrency: 4", "requests: 8, concurrency: 4").replace("rounds: 20", "rounds: 5")


def test_slow_fault_breaks_latency_budgets(service, run_checks):
    # Sampled in full: these are the full sample's messages (early verdicts: tests/e2e/test_early_verdicts.py).
    run = run_checks("--base-url", service("slow").base_url, "--no-early-stop", profile=SHORT_PROFILE, runbook=RUNBOOK)
    for check_id in ("slo::open", "slo::closed", "benchmark::items", "metrics::p95"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "latency"), check
    # No measured digits: only which budget broke, and over what.
    assert "p95 " in run.check("slo::open")["message"] and "> 500 ms (n=60, errors 0 %)" in run.check("slo::open")["message"]
    assert "mean " in run.check("benchmark::items")["message"] and "> 250 ms" in run.check("benchmark::items")["message"]
    assert "p95 lies in (" in run.check("metrics::p95")["message"] and "over the 400 ms budget" in run.check("metrics::p95")["message"]
    assert run.check("metrics::errors")["outcome"] == "passed"


def test_jitter_fault_breaks_the_tail_only(service, run_checks):
    run = run_checks("--base-url", service("jitter").base_url, profile=PROFILE, runbook=RUNBOOK)
    for check_id in ("slo::open", "slo::closed"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "latency"), check
        assert "p99" in check["message"] and "> 500 ms" in check["message"]
        assert "p95" not in check["message"]  # the median and p95 are fine: it is a tail problem


def test_errors_fault_breaks_error_ratios(service, run_checks):
    run = run_checks("--base-url", service("errors").base_url, "--no-early-stop", profile=PROFILE, runbook=RUNBOOK)
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
    healthy = run_checks("--base-url", service().base_url, "-k", "benchmark", profile=SHORT_PROFILE, runbook=RUNBOOK)
    baseline = pytester.path / "baseline.json"
    baseline.write_text(healthy.results_text)
    slow = run_checks("--base-url", service("slow").base_url, "--baseline", str(baseline), "--no-early-stop",
                      "-k", "benchmark", profile=SHORT_PROFILE,
                      runbook=RUNBOOK)
    assert "regressed" in slow.check("benchmark::items")["message"]


def test_no_samples_is_a_failure_never_a_pass(run_checks):
    run = run_checks("--base-url", f"http://127.0.0.1:{closed_port()}", "-k", "slo", profile=PROFILE, runbook=RUNBOOK)
    check = run.check("slo::open")
    assert check["outcome"] == "failed" and check["reason"] == "connect"
    assert "no answered samples:" in check["message"] and "failed with connect; stopped after" in check["message"]


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
        untrusted = run_checks("--base-url", server.base_url, "-k", "slo", "--no-early-stop",
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


# -- issue 8: latency only from expected answers, estimates as intervals, no data never passes ----------


class Stub:
    """A small threaded http.server on loopback: fixed answers per path, as a real exporter or a broken route.

    Routes: /down answers 503 at once; /mostly-down answers 503 at once except every 25th request,
    a 200 after 400 ms (4 %); /first-only answers 200 once, then 503; /every-4th-fails answers 503 to
    every 4th request; any path in `pages` answers 200 with that (content type, body).
    """

    def __init__(self, pages: dict[str, tuple[str, bytes]] | None = None) -> None:
        import http.server
        import threading

        self.pages = dict(pages or {})
        self.counts: dict[str, int] = {}
        self.methods: list[str] = []
        lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                with lock:
                    index = stub.counts.get(path, 0)
                    stub.counts[path] = index + 1
                    stub.methods.append(self.command)
                status, content_type, body, delay = stub.answer(path, index)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, path: str, index: int) -> tuple[int, str, bytes, float]:
        text = "text/plain"
        if path in self.pages:
            content_type, body = self.pages[path]
            return 200, content_type, body, 0.0
        if path == "/down":
            return 503, text, b"down", 0.0
        if path == "/mostly-down":
            return (200, text, b"ok", 0.4) if index % 25 == 24 else (503, text, b"down", 0.0)
        if path == "/first-only":
            return (200, text, b"ok", 0.0) if index == 0 else (503, text, b"down", 0.0)
        if path == "/every-4th-fails":
            return (503, text, b"down", 0.0) if index % 4 == 0 and index else (200, text, b"ok", 0.0)
        return 404, text, b"no such page", 0.0

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Stub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


STUB_RUNBOOK = RUNBOOK
STUB_DEFAULTS = """\
service: stub
runbook: RUNBOOK.md
defaults:
  slo: {runbook: "API Not Responding", severity: critical}
  benchmark: {runbook: "API Not Responding"}
  metrics: {runbook: "Monitoring & Alerts"}
"""


def _stub_run(run_checks, stub: Stub, body: str, *args: str):
    return run_checks("--base-url", stub.base_url, *args, profile=STUB_DEFAULTS + body, runbook=RUNBOOK)


def test_slo_on_a_route_answering_only_503_fails_as_no_data_instead_of_a_fast_pass(run_checks):
    with Stub() as stub:
        run = _stub_run(run_checks, stub, "slo:\n  - {name: s, path: /down, requests: 50, rate_per_s: 50, p95_ms: 200}\n")
    check = run.check("slo::s")
    assert (check["outcome"], check["reason"]) == ("failed", "no_data"), check
    assert "no answer with an expected status (200) among 50 samples: 50 x 503" in check["message"]
    assert "errors 100 %" in check["message"]
    measured = check["measurements"]
    assert (measured["n_total"], measured["n_ok"], measured["p95_ms"]) == (50, 0, None)
    assert measured["answers"] == {"503": 50}
    assert run.ret != 0


def test_slo_judges_latency_over_the_200s_only_when_most_answers_are_instant_503s(run_checks):
    # 48 instant 503s and two 200s after 400 ms: over every answer the p95 is a few ms.
    with Stub() as stub:
        run = _stub_run(run_checks, stub,
                        "slo:\n  - {name: s, path: /mostly-down, requests: 50, rate_per_s: 50, p95_ms: 200}\n",
                        "--no-early-stop")
    check = run.check("slo::s")
    assert (check["outcome"], check["reason"]) == ("failed", "latency"), check
    assert "p95 " in check["message"] and "> 200 ms" in check["message"]
    assert "latency over the 2 answers with an expected status, errors 96 %" in check["message"]
    measured = check["measurements"]
    assert (measured["n_total"], measured["n_ok"], measured["errors"]) == (50, 2, 48)


def test_slo_error_budget_broken_as_well_reports_errors_and_the_unmeasured_latency(run_checks):
    with Stub() as stub:
        run = _stub_run(run_checks, stub, "slo:\n  - {name: s, path: /down, requests: 20, rate_per_s: 50, "
                        "p95_ms: 200, p99_ms: 300, max_error_ratio: 0.01}\n", "--no-early-stop")
    check = run.check("slo::s")
    assert (check["outcome"], check["reason"]) == ("failed", "errors"), check
    assert "error ratio 100 % > 1 % (20 of 20)" in check["message"]
    assert "p95, p99: no answer with an expected status (200) among 20 samples: 20 x 503" in check["message"]


def test_slo_warning_band_nobody_could_measure_is_degraded_never_green(run_checks):
    with Stub() as stub:
        run = _stub_run(run_checks, stub, "slo:\n  - {name: s, path: /down, requests: 10, rate_per_s: 50, "
                        "max_error_ratio: 1, warn: {p95_ms: 200}}\n")
    check = run.check("slo::s")
    assert (check["outcome"], check["reason"]) == ("degraded", "no_data"), check
    assert "(warning band)" in check["message"] and "10 x 503" in check["message"]


def test_slo_expect_status_decides_which_answers_are_timed(run_checks):
    # A 503 the profile expects (a maintenance page, say) is an answer like any other.
    with Stub() as stub:
        run = _stub_run(run_checks, stub, "slo:\n  - {name: s, path: /down, requests: 20, rate_per_s: 50, "
                        "expect_status: 503, p95_ms: 1000, max_error_ratio: 0}\n")
    check = run.check("slo::s")
    assert check["outcome"] == "passed", check
    assert (check["measurements"]["n_ok"], check["measurements"]["n_total"]) == (20, 20)


def test_slo_against_nothing_listening_stops_at_once_and_later_checks_are_not_retried(run_checks):
    profile = """\
slo:
  - {name: first, path: /, requests: 60, rate_per_s: 5, p95_ms: 400}
  - {name: second, path: /, requests: 60, rate_per_s: 5, p95_ms: 400}
"""
    started = time.monotonic()
    run = run_checks("--base-url", f"http://127.0.0.1:{closed_port()}", profile=STUB_DEFAULTS + profile, runbook=RUNBOOK)
    # 60 requests at 5/s would take 12 s per SLO: the first refusal ends the run.
    assert time.monotonic() - started < 20, "the SLOs sent every request to a closed port"
    first = run.check("slo::first")
    assert (first["outcome"], first["reason"]) == ("failed", "connect"), first
    assert "stopped after" in first["message"] and "of 60 requests: target unreachable" in first["message"]
    assert first["measurements"]["n_total"] < 60
    second = run.check("slo::second")  # the sampler recorded the origin: nothing sent again
    assert (second["outcome"], second["reason"]) == ("failed", "connect"), second
    assert "target unreachable, not retried" in second["message"]
    assert "measurements" not in second
    assert "TARGET UNREACHABLE" in run.output


def test_closed_loop_slo_for_a_duration_against_nothing_listening_ends_at_once(run_checks):
    profile = "slo:\n  - {name: c, path: /, duration_s: 30, concurrency: 2, p95_ms: 400}\n"
    started = time.monotonic()
    run = run_checks("--base-url", f"http://127.0.0.1:{closed_port()}", profile=STUB_DEFAULTS + profile, runbook=RUNBOOK)
    assert time.monotonic() - started < 25, "the closed loop kept sending to a closed port for its whole duration"
    check = run.check("slo::c")
    assert (check["outcome"], check["reason"]) == ("failed", "connect"), check
    assert "failed with connect; target unreachable" in check["message"]
    assert check["measurements"]["n_total"] <= 2


def test_slo_against_a_name_that_cannot_resolve_stops_and_marks_it_for_later_checks(run_checks):
    # A 64-character label is no valid host name: the lookup fails at once, without the network.
    profile = """\
slo:
  - {name: first, path: /, requests: 20, rate_per_s: 5, p95_ms: 400}
  - {name: second, path: /, requests: 20, rate_per_s: 5, p95_ms: 400}
"""
    run = run_checks("--base-url", f"http://{'a' * 64}.invalid", profile=STUB_DEFAULTS + profile, runbook=RUNBOOK)
    first, second = run.check("slo::first"), run.check("slo::second")
    assert (first["outcome"], first["reason"]) == ("failed", "dns"), first
    assert "of 20 requests: target unreachable" in first["message"]
    assert (second["outcome"], second["reason"]) == ("failed", "dns"), second
    assert "target unreachable, not retried" in second["message"] and "cannot resolve" in second["message"]


def test_slo_after_another_check_found_the_target_unreachable_sends_nothing(run_checks):
    profile = """\
smoke:
  - {name: home, path: /, expect: {status: 200}, runbook: "API Not Responding"}
slo:
  - {name: s, path: /, requests: 60, rate_per_s: 5, p95_ms: 400}
"""
    run = run_checks("--base-url", f"http://127.0.0.1:{closed_port()}", profile=STUB_DEFAULTS + profile, runbook=RUNBOOK)
    assert run.check("smoke::home")["reason"] == "connect"
    check = run.check("slo::s")
    assert (check["outcome"], check["reason"]) == ("failed", "connect"), check
    assert "target unreachable, not retried" in check["message"] and "measurements" not in check
    assert check["evidence"][0]["error"] == "not sent: target unreachable earlier in this run"


# -- benchmark --------------------------------------------------------------------------------------


def test_benchmark_whose_rounds_all_answer_503_fails_as_no_data(run_checks):
    with Stub() as stub:
        run = _stub_run(run_checks, stub, "benchmark:\n  - {name: b, path: /first-only, rounds: 5, "
                        "warmup_rounds: 1, mean_ms: 1000}\n", "-k", "benchmark", "--no-early-stop")
    check = run.check("benchmark::b")
    assert (check["outcome"], check["reason"]) == ("failed", "no_data"), check
    assert "no answer with an expected status (200) among 5 rounds: 5 x 503" in check["message"]
    assert (check["measurements"]["n_total"], check["measurements"]["n_ok"]) == (5, 0)
    assert "mean_ms" not in check["measurements"]


def test_benchmark_with_some_503_rounds_fails_as_errors_and_times_only_the_good_rounds(run_checks):
    with Stub() as stub:
        run = _stub_run(run_checks, stub, "benchmark:\n  - {name: b, path: /every-4th-fails, rounds: 8, "
                        "warmup_rounds: 0, mean_ms: 1000}\n", "-k", "benchmark", "--no-early-stop")
    check = run.check("benchmark::b")
    assert (check["outcome"], check["reason"]) == ("failed", "errors"), check
    assert "2 of 8 rounds answered another status than 200 (2 x 503; errors 25 %)" in check["message"]
    assert "latency over the other 6" in check["message"]
    measured = check["measurements"]
    assert (measured["n_total"], measured["n_ok"], measured["answers"]) == (8, 6, {"200": 6, "503": 2})


# -- metrics: histogram intervals, no data, `code` labels, exact JSON ----------------------------------


def _histogram(buckets: dict[str, int], extra: str = "") -> bytes:
    lines = ["# TYPE http_request_duration_seconds histogram"]
    lines += [f'http_request_duration_seconds_bucket{{le="{le}"}} {count}' for le, count in buckets.items()]
    lines += [f"http_request_duration_seconds_count {buckets['+Inf']}", "http_request_duration_seconds_sum 0"]
    return ("\n".join(lines) + "\n" + extra).encode()


def _metrics_run(run_checks, body: bytes, checks: str, content_type: str = "text/plain; version=0.0.4"):
    with Stub({"/metrics": (content_type, body)}) as stub:
        return _stub_run(run_checks, stub, "metrics:\n" + checks, "-k", "metrics")


def test_histogram_with_every_observation_past_the_last_bucket_cannot_pass_a_budget(run_checks):
    run = _metrics_run(run_checks, _histogram({"0.1": 0, "0.25": 0, "0.5": 0, "+Inf": 200}),
                       "  - {name: p95, quantile: 0.95, max_ms: 1000}\n")
    check = run.check("metrics::p95")
    assert (check["outcome"], check["reason"]) == ("failed", "no_data"), check
    assert "p95 lies in (0.5 s, +Inf]" in check["message"]
    assert "these buckets cannot decide against 1000 ms" in check["message"]


def test_budget_inside_the_first_bucket_cannot_be_decided(run_checks):
    run = _metrics_run(run_checks, _histogram({"0.1": 200, "0.25": 200, "0.5": 200, "+Inf": 200}),
                       "  - {name: p95, quantile: 0.95, max_ms: 50}\n")
    check = run.check("metrics::p95")
    assert (check["outcome"], check["reason"]) == ("failed", "no_data"), check
    assert "p95 lies in (0 s, 0.1 s]" in check["message"] and "cannot decide against 50 ms" in check["message"]


@pytest.mark.parametrize(("max_ms", "outcome", "reason"), [
    ("500", "passed", None),      # the bucket (0.25, 0.5] ends within the budget
    ("250", "failed", "latency"),  # it starts at the budget: every value in it is over
    ("100", "failed", "latency"),
    ("300", "failed", "no_data"),  # inside the bucket: undecided
])
def test_histogram_budget_is_judged_on_the_bucket_bounds(run_checks, max_ms, outcome, reason):
    run = _metrics_run(run_checks, _histogram({"0.1": 10, "0.25": 20, "0.5": 200, "+Inf": 200}),
                       f"  - {{name: p95, quantile: 0.95, max_ms: {max_ms}}}\n")
    check = run.check("metrics::p95")
    assert (check["outcome"], check["reason"]) == (outcome, reason), check
    if outcome == "failed":
        assert "p95 lies in (0.25 s, 0.5 s]" in check["message"]


def test_histogram_warning_band_the_buckets_cannot_decide_is_degraded(run_checks):
    run = _metrics_run(run_checks, _histogram({"0.1": 10, "0.25": 20, "0.5": 200, "+Inf": 200}),
                       "  - {name: p95, quantile: 0.95, max_ms: 500, warn_ms: 300}\n")
    check = run.check("metrics::p95")
    assert (check["outcome"], check["reason"]) == ("degraded", "no_data"), check
    assert "cannot decide against the warning band 300 ms" in check["message"]


@pytest.mark.parametrize(("body", "checks", "needle"), [
    (_histogram({"0.1": 0, "0.5": 0, "+Inf": 0}), "  - {name: c, quantile: 0.95, max_ms: 100}\n", "0 observations"),
    (_histogram({"0.1": 1, "+Inf": 1}), "  - {name: c, quantile: 0.95, max_ms: 100, histogram: grpc_seconds}\n",
     "no series grpc_seconds_bucket"),
    (b'# TYPE http_requests counter\nhttp_requests_total{status="200"} 0\nhttp_requests_total{status="500"} 0\n',
     "  - {name: c, max_error_ratio: 0.01}\n", "counted 0 requests"),
    (b"# TYPE up gauge\nup 1\n", "  - {name: c, max_error_ratio: 0.01}\n", "no series http_requests_total"),
    (b'# TYPE http_requests counter\nhttp_requests_total{route="/a"} 3\n', "  - {name: c, max_error_ratio: 0.01}\n",
     "has no 'status' or 'code' label"),
])
def test_nothing_to_measure_in_the_metrics_fails_as_no_data(run_checks, body, checks, needle):
    check = _metrics_run(run_checks, body, checks).check("metrics::c")
    assert (check["outcome"], check["reason"]) == ("failed", "no_data"), check
    assert needle in check["message"]


PROMETHEUS_SELF = b"""\
# HELP prometheus_http_requests_total Counter of HTTP requests.
# TYPE prometheus_http_requests_total counter
prometheus_http_requests_total{code="200",handler="/api/v1/query"} 95
prometheus_http_requests_total{code="503",handler="/api/v1/query"} 5
prometheus_http_requests_total{code="200",handler="/metrics"} 1000
prometheus_http_requests_total{code="302",handler="/"} 2
"""


def test_error_ratio_reads_the_code_label_prometheus_and_the_go_client_write(run_checks):
    run = _metrics_run(run_checks, PROMETHEUS_SELF, """\
  - {name: query, counter: prometheus_http_requests_total, match: {handler: /api/v1/query}, max_error_ratio: 0.01}
  - {name: scrape, counter: prometheus_http_requests_total, match: {handler: /metrics}, max_error_ratio: 0.01}
  - {name: named, counter: prometheus_http_requests_total, status_label: code, max_error_ratio: 0.01}
""")
    query = run.check("metrics::query")
    assert (query["outcome"], query["reason"]) == ("failed", "errors"), query
    assert "error ratio 5 % (5 of 100 5xx) > 1 %" in query["message"]
    assert run.check("metrics::scrape")["outcome"] == "passed"
    assert run.check("metrics::named")["outcome"] == "passed"  # 5 of 1102


def test_status_label_named_in_the_profile_wins_over_an_unrelated_status_label(run_checks):
    body = b"""\
# TYPE jobs_http_requests counter
jobs_http_requests_total{status="active",code="200"} 10
jobs_http_requests_total{status="active",code="500"} 10
"""
    run = _metrics_run(run_checks, body, """\
  - {name: c, counter: jobs_http_requests_total, status_label: code, max_error_ratio: 0.1}
""")
    check = run.check("metrics::c")
    assert (check["outcome"], check["reason"]) == ("failed", "errors"), check
    assert "error ratio 50 %" in check["message"]


def test_latency_histogram_with_a_code_label_is_read_over_successful_requests_only(run_checks):
    # 190 instant 500s and 10 slow 200s: over every request p95 is in the first bucket.
    lines = ["# TYPE http_request_duration_seconds histogram"]
    for code, buckets in (("500", {"0.005": 190, "0.5": 190, "1": 190, "+Inf": 190}),
                          ("200", {"0.005": 0, "0.5": 0, "1": 10, "+Inf": 10})):
        lines += [f'http_request_duration_seconds_bucket{{code="{code}",le="{le}"}} {n}' for le, n in buckets.items()]
        lines += [f'http_request_duration_seconds_count{{code="{code}"}} {buckets["+Inf"]}',
                  f'http_request_duration_seconds_sum{{code="{code}"}} 1']
    run = _metrics_run(run_checks, ("\n".join(lines) + "\n").encode(),
                       "  - {name: p95, quantile: 0.95, max_ms: 100}\n")
    check = run.check("metrics::p95")
    assert (check["outcome"], check["reason"]) == ("failed", "latency"), check
    assert "p95 lies in (0.5 s, 1 s]" in check["message"]
    assert "of successful (2xx/3xx) requests; 190 others left out" in check["message"]


def test_metrics_json_form_is_compared_as_exact_decimals(run_checks):
    # 1.00000000000000001 of 100.00000000000000001 is just over 1 %; as binary floats it is 1 % exactly.
    body = (b'{"requests": [{"method": "GET", "route": "/a", "status": "500", "count": 1.00000000000000001},'
            b' {"method": "GET", "route": "/a", "status": "200", "count": 99}]}')
    run = _metrics_run(run_checks, body, "  - {name: c, source: /metrics, max_error_ratio: 0.01}\n",
                       content_type="application/json")
    check = run.check("metrics::c")
    assert (check["outcome"], check["reason"]) == ("failed", "errors"), check
    assert "1.00000000000000001 of 100.00000000000000001" in check["message"]


def test_metrics_json_number_out_of_range_is_a_body_failure_not_a_crash(run_checks):
    body = b'{"requests": [{"method": "GET", "route": "/a", "status": "200", "count": 1e999999999}]}'
    check = _metrics_run(run_checks, body, "  - {name: c, max_error_ratio: 0.01}\n",
                         content_type="application/json").check("metrics::c")
    assert (check["outcome"], check["reason"]) == ("failed", "body"), check
    assert "out of range" in check["message"]


def _slo_case(**fail: str) -> object:
    from decimal import Decimal

    from opscheck.families.slo import SloCase

    return SloCase(family="slo", name="s", field="slo[0]", line=None, severity="major", section=None,
                   path="/x", fail={k: Decimal(v) for k, v in fail.items()})


def test_slo_with_no_sample_at_all_fails_as_no_data():
    from opscheck.families.slo import judge
    from opscheck.outcome import CheckFailed
    from opscheck.measure.sampler import summarize

    with pytest.raises(CheckFailed) as caught:
        judge(_slo_case(p95_ms="100"), summarize([], {200}, requested=0, duration_s=0.0), None)
    assert caught.value.reason.value == "no_data" and "no samples were taken" in caught.value.message
