"""Prometheus export through whole runs: the textfile checked by promtool, the Pushgateway scraped
by a real Prometheus (Debian's binaries, started here on free loopback ports)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
import textwrap
import time
from typing import Any, Iterator

import httpx
import pytest

from opscheck.export.prometheus import build_registry, delete_command, group_path, latency_quantiles
from opscheck.results import CheckResult, RunInfo
from tests.promstack import Server, free_port, need, start

PROFILE = """\
service: export-svc
http: {timeout_s: 2, deadline_s: 5}
smoke:
  - {name: health, path: /health, expect: {status: 200}, severity: critical}
  - {name: home, path: /, expect: {status: 200}, severity: warning}
slo:
  - {name: read, path: /health/live, requests: 10, rate_per_s: 100, p95_ms: 2000}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict[str, Server]]:
    work = tmp_path_factory.mktemp("promstack")
    gateway_port, prom_port = free_port(), free_port()
    gateway = start("prometheus-pushgateway", [f"--web.listen-address=127.0.0.1:{gateway_port}",
                                               "--web.enable-admin-api"], gateway_port, "/-/ready", work)
    config = work / "prometheus.yml"
    config.write_text(textwrap.dedent(f"""\
        global: {{scrape_interval: 1s, evaluation_interval: 1s}}
        scrape_configs:
          - job_name: pushgateway
            honor_labels: true
            static_configs: [{{targets: ["127.0.0.1:{gateway_port}"]}}]
        """))
    try:
        prometheus = start("prometheus", [f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
                                          f"--web.listen-address=127.0.0.1:{prom_port}"], prom_port, "/-/ready", work)
    except BaseException:
        gateway.stop()
        raise
    yield {"gateway": gateway, "prometheus": prometheus}
    prometheus.stop()
    gateway.stop()


def _query(prometheus: Server, promql: str, want: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """The instant vector of `promql` once it has `want` series (or whatever it has at the deadline)."""
    deadline = time.monotonic() + timeout_s
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        result = answer["data"]["result"]
        if len(result) >= want:
            return result
        time.sleep(0.3)
    return result


def test_a_pushed_run_is_scraped_by_prometheus_and_a_query_returns_its_success_per_check(run_checks, service, stack, tmp_path):
    metrics = tmp_path / "opscheck.prom"
    run = run_checks(f"--base-url={service('unhealthy').base_url}", "--pushgateway", stack["gateway"].url,
                     "--metrics-file", str(metrics), "--location", "eu-west", profile=PROFILE)
    assert run.ret == 1, run.output
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "opscheck" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(run.results)
    section = run.results["notifications"]["prometheus"]
    assert section["pushed"] is True and section["written"] is True, section
    series = _query(stack["prometheus"], 'opscheck_check_success{service="export-svc"}', want=3)
    got = {s["metric"]["check"]: s["value"][1] for s in series}
    assert got == {"smoke::health": "0", "smoke::home": "1", "slo::read": "1"}
    labels = next(s["metric"] for s in series if s["metric"]["check"] == "smoke::health")
    assert {k: labels[k] for k in ("job", "service", "env", "location", "family", "severity")} == {
        "job": "opscheck", "service": "export-svc", "env": "adhoc", "location": "eu-west", "family": "smoke",
        "severity": "critical"}
    stamp = _query(stack["prometheus"], 'opscheck_run_timestamp_seconds{service="export-svc"}', want=1)
    assert abs(float(stamp[0]["value"][1]) - time.time()) < 600  # the run's start: a stale group shows its age
    exit_code = _query(stack["prometheus"], 'opscheck_run_exit_code{service="export-svc"}', want=1)
    assert exit_code[0]["value"][1] == "1"


def test_the_metrics_file_passes_promtool_and_names_every_metric(run_checks, service, tmp_path):
    promtool = need("promtool")
    metrics = tmp_path / "textfile" / "opscheck.prom"
    metrics.parent.mkdir()
    run = run_checks(f"--base-url={service().base_url}", "--metrics-file", str(metrics), "--location", "here",
                     profile=PROFILE)
    assert run.ret == 0, run.output
    text = metrics.read_text()
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in ("opscheck_check_success", "opscheck_check_outcome", "opscheck_check_duration_seconds",
                 "opscheck_run_timestamp_seconds", "opscheck_run_exit_code"):
        assert f"# TYPE {name} gauge" in text
    assert "# TYPE opscheck_check_latency_seconds summary" in text
    assert 'opscheck_check_latency_seconds_count{check="slo::read"' in text
    assert 'opscheck_check_latency_seconds{check="slo::read"' in text and 'quantile="0.95"' in text
    assert ('opscheck_check_outcome{check="smoke::health",env="adhoc",family="smoke",location="here",outcome="failed",'
            'service="export-svc",severity="critical"} 0.0') in text
    assert [p.name for p in metrics.parent.iterdir()] == ["opscheck.prom"]  # no temporary file left behind
    assert f"opscheck metrics: wrote {metrics}" in run.output


def test_a_metrics_file_that_cannot_be_written_fails_the_run_in_one_line(run_checks, service, tmp_path):
    missing = tmp_path / "no-such-dir" / "opscheck.prom"
    run = run_checks(f"--base-url={service().base_url}", "--metrics-file", str(missing), profile=PROFILE)
    assert run.ret == 3
    assert f"--metrics-file {missing}: cannot write: No such file or directory" in run.output
    assert "Traceback" not in run.output


def test_a_pushgateway_that_is_down_is_reported_and_never_changes_the_checks_verdict(run_checks, service, tmp_path):
    gateway = f"http://user:pushpass-3141@127.0.0.1:{free_port()}"
    started = time.monotonic()
    run = run_checks(f"--base-url={service().base_url}", "--pushgateway", gateway, profile=PROFILE)
    assert time.monotonic() - started < 60
    assert run.ret == 0, run.output
    section = run.results["notifications"]["prometheus"]
    assert section["pushed"] is False and section["error"].startswith("--pushgateway http://user:[REDACTED]@127.0.0.1")
    assert "connect" in section["error"]
    assert "opscheck metrics: NOT EXPORTED: --pushgateway" in run.output
    assert "pushpass-3141" not in run.output + run.results_text


def test_a_retired_group_is_deleted_with_the_printed_call(stack):
    run = RunInfo(service="retired/svc", environment="prod", base_url=None, profile="p",
                  started_at="2026-11-30T03:00:00+00:00", exit_code=0)
    record = CheckResult(id="smoke::x", nodeid="n", family="smoke", name="x", severity="critical", runbook=None,
                         profile_field="smoke[0]", profile_line=1)
    record.outcome, record.reason = "passed", None
    from opscheck.evidence.redact import Redactor
    from opscheck.export.prometheus import push

    push(stack["gateway"].url, build_registry(run, [record], location="old-dc"), service="retired/svc", env="prod",
         location="old-dc", timeout_s=5, redactor=Redactor())
    groups = httpx.get(f"{stack['gateway'].url}/api/v1/metrics", timeout=5).json()["data"]
    assert any(g["labels"].get("service") == "retired/svc" for g in groups)
    path = group_path("retired/svc", "prod", "old-dc")
    assert path.startswith("/metrics/job/opscheck/env/prod/location/old-dc/service@base64/")
    command = delete_command(stack["gateway"].url, "retired/svc", "prod", "old-dc")
    assert command == f"curl -fsS -X DELETE '{stack['gateway'].url}{path}'"
    assert httpx.delete(stack["gateway"].url + path, timeout=5).status_code == 202
    groups = httpx.get(f"{stack['gateway'].url}/api/v1/metrics", timeout=5).json()["data"]
    assert not any(g["labels"].get("service") == "retired/svc" for g in groups)


def test_latency_quantiles_come_from_the_sampled_checks_measurements():
    assert latency_quantiles({"p50_ms": 12.5, "p95_ms": "80.0", "p99_ms": None, "mean_ms": 20}) == [
        ("0.5", 0.0125), ("0.95", 0.08)]


@pytest.mark.parametrize(("option", "value"), [("--pushgateway", "ftp://gw-token-9999@host"),
                                               ("--notify", "hooks.example/services/notify-token-9999")])
def test_a_bad_pushgateway_or_notify_url_is_a_usage_error_that_does_not_show_it(run_checks, service, option, value):
    run = run_checks(f"--base-url={service().base_url}", option, value, profile=PROFILE)
    assert run.ret == 4
    assert f"{option}: expected an http:// or https:// URL with a host (not shown: such URLs carry secrets)" in run.output
    assert "token-9999" not in run.output and "Traceback" not in run.output


def test_the_exported_exit_code_is_the_one_the_run_ends_with_when_the_history_is_unavailable(run_checks, service, tmp_path):
    metrics = tmp_path / "opscheck.prom"
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the history's directory should be")
    run = run_checks(f"--base-url={service().base_url}", "--metrics-file", str(metrics),
                     "--history", str(blocked / "history.db"), profile=PROFILE)
    assert run.ret == 6, run.output  # every check passed; the history could not be written
    assert 'opscheck_run_exit_code{env="adhoc"' in metrics.read_text()
    assert [line for line in metrics.read_text().splitlines() if line.startswith("opscheck_run_exit_code")][0].endswith(" 6.0")
