"""A run's results as Prometheus metrics: a textfile for node_exporter, or a Pushgateway group.

Formatting and pushing are prometheus-client's (CollectorRegistry, write_to_textfile,
push_to_gateway); nothing here writes the text format by hand. Metrics (gauges, but for the latency summary):

    opscheck_check_success{service,env,location,check,family,severity}           1 passed/degraded/flaky, 0 failed
    opscheck_check_outcome{service,env,location,check,family,severity,outcome}   1 for the check's outcome, 0 for the others
    opscheck_check_duration_seconds{service,env,location,check,family,severity}  the check's duration, all attempts
    opscheck_check_latency_seconds{...,quantile}  (summary)                      sampled checks (slo, benchmark): p50/p90/p95/p99,
                                                                                 with _count (answers measured) and _sum
    opscheck_run_timestamp_seconds{service,env,location}                         the run's start, Unix time
    opscheck_run_duration_seconds{service,env,location}
    opscheck_run_exit_code{service,env,location}

A skipped check has no `opscheck_check_success` series (it measured nothing); its outcome series
says `skipped`. The textfile is written to a temporary file beside PATH and renamed over it (one
rename(2): node_exporter never reads half a file). The Pushgateway group is
`job="opscheck", service, env, location`; a push replaces the whole group (PUT).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from opscheck.results import OUTCOMES, CheckResult, RunInfo

JOB = "opscheck"
CHECK_LABELS = ("service", "env", "location", "check", "family", "severity")
RUN_LABELS = ("service", "env", "location")
SUCCESS_OUTCOMES = frozenset({"passed", "degraded", "flaky"})
_QUANTILE_KEY = re.compile(r"^p(\d{2,3})_ms$")


class ExportError(Exception):
    """The metrics could not be written or pushed; str() is one redacted line."""


def build_registry(run: RunInfo, records: Iterable[CheckResult], *, location: str, exit_code: int | None = None) -> Any:
    """A fresh prometheus_client CollectorRegistry holding the run's metrics (module docstring)."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    records = list(records)
    success = Gauge("opscheck_check_success", "1 when the check passed (or was degraded or flaky), 0 when it failed.",
                    CHECK_LABELS, registry=registry)
    outcome = Gauge("opscheck_check_outcome", "1 for the check's outcome in this run, 0 for the other outcomes.",
                    CHECK_LABELS + ("outcome",), registry=registry)
    duration = Gauge("opscheck_check_duration_seconds", "How long the check took, all attempts.", CHECK_LABELS,
                     registry=registry)
    latency = _Latency()
    registry.register(latency)
    env = run.environment or ""
    outcomes = list(OUTCOMES) + sorted({r.outcome for r in records} - set(OUTCOMES))
    for record in records:
        labels = (run.service, env, location, record.id, record.family, record.severity)
        if record.outcome != "skipped":
            success.labels(*labels).set(1 if record.outcome in SUCCESS_OUTCOMES else 0)
        for name in outcomes:
            outcome.labels(*labels, name).set(1 if record.outcome == name else 0)
        duration.labels(*labels).set(round(record.duration_ms / 1000, 6))
        latency.add(dict(zip(CHECK_LABELS, labels)), record.measurements)
    run_labels = (run.service, env, location)
    Gauge("opscheck_run_timestamp_seconds", "When the run started, Unix time.", RUN_LABELS,
          registry=registry).labels(*run_labels).set(_timestamp(run.started_at))
    Gauge("opscheck_run_duration_seconds", "How long the run took.", RUN_LABELS,
          registry=registry).labels(*run_labels).set(float(run.duration_s or 0.0))
    code = exit_code if exit_code is not None else run.exit_code
    Gauge("opscheck_run_exit_code", "The run's exit code (0 all passed, 1 a check failed; see the README).",
          RUN_LABELS, registry=registry).labels(*run_labels).set(float(code if code is not None else -1))
    return registry


class _Latency:
    """A custom collector: one summary per sampled check, its quantiles, `_count` (the answers the
    figures come from, `n_ok`) and `_sum` (mean x count), as prometheus-client formats a summary."""

    NAME = "opscheck_check_latency_seconds"

    def __init__(self) -> None:
        self.checks: list[tuple[dict[str, str], list[tuple[str, float]], int | None, float | None]] = []

    def add(self, labels: dict[str, str], measurements: dict[str, Any] | None) -> None:
        quantiles = latency_quantiles(measurements)
        if not quantiles:
            return
        count, mean = (measurements or {}).get("n_ok"), (measurements or {}).get("mean_ms")
        try:
            total = float(mean) * int(count) / 1000 if mean is not None and count is not None else None
        except (TypeError, ValueError):
            total = None
        self.checks.append((labels, quantiles, int(count) if isinstance(count, int) else None, total))

    def collect(self) -> Iterable[Any]:
        from prometheus_client.metrics_core import Metric

        metric = Metric(self.NAME, "Latency quantiles of a sampled check (slo, benchmark), over its answers "
                                   "with an expected status.", "summary")
        for labels, quantiles, count, total in self.checks:
            for quantile, seconds in quantiles:
                metric.add_sample(self.NAME, {**labels, "quantile": quantile}, seconds)
            if count is not None and total is not None:
                metric.add_sample(self.NAME + "_count", labels, float(count))
                metric.add_sample(self.NAME + "_sum", labels, round(total, 6))
        yield metric

    def describe(self) -> Iterable[Any]:
        return []


def latency_quantiles(measurements: dict[str, Any] | None) -> list[tuple[str, float]]:
    """[("0.95", seconds), ...] from a check's measurements (`p95_ms` -> quantile 0.95)."""
    out = []
    for key, value in (measurements or {}).items():
        match = _QUANTILE_KEY.match(key)
        if not match or value is None:
            continue
        try:
            ms = float(value)
        except (TypeError, ValueError):
            continue
        digits = match.group(1)
        quantile = f"0.{digits}".rstrip("0") if len(digits) == 2 else f"0.{digits}"
        out.append((quantile, round(ms / 1000, 6)))
    return sorted(out)


def _timestamp(started_at: str) -> float:
    moment = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    return moment.timestamp()


def write_textfile(path: str, registry: Any) -> None:
    """Write `registry` to `path` atomically (prometheus_client.write_to_textfile: a temporary file
    in the same directory, then rename). Raises ExportError naming the path and the cause."""
    from prometheus_client import write_to_textfile

    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise ExportError(f"--metrics-file {path}: cannot write: {exc.strerror or exc}") from None


def grouping_key(service: str, env: str | None, location: str) -> dict[str, str]:
    return {"service": service, "env": env or "", "location": location}


def push(gateway: str, registry: Any, *, service: str, env: str | None, location: str, timeout_s: float,
         redactor: Any) -> None:
    """PUT the registry as the group job/service/env/location (replacing it). Bounded by `timeout_s`
    for the whole exchange (the run's transport). Raises ExportError (one redacted line)."""
    from prometheus_client import push_to_gateway

    from opscheck.config.settings import HttpSettings
    from opscheck.outcome import CheckFailed
    from opscheck.transport.http import HttpClient

    redactor.register_url(gateway)
    client = HttpClient(HttpSettings(timeout_s=timeout_s, deadline_s=timeout_s, max_body_bytes=64 * 1024), redactor)

    def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes) -> Any:
        def send() -> None:
            response = client.request(method, url, content=data, headers=dict(headers), credentials=False)
            if response.status >= 300:
                excerpt = " ".join(response.text[:160].split())
                raise ExportError(f"status {response.status}" + (f": {excerpt}" if excerpt else ""))
        return send

    try:
        push_to_gateway(gateway, job=JOB, registry=registry, grouping_key=grouping_key(service, env, location),
                        timeout=timeout_s, handler=handler)
    except ExportError as exc:
        raise ExportError(redactor.text(f"--pushgateway {redactor.url(gateway)}: {exc}")) from None
    except CheckFailed as exc:
        detail = exc.evidence.error if exc.evidence is not None and getattr(exc.evidence, "error", None) else exc.message
        raise ExportError(redactor.text(f"--pushgateway {redactor.url(gateway)}: {exc.reason.value}: {detail}")) from None
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        raise ExportError(redactor.text(f"--pushgateway {redactor.url(gateway)}: {type(exc).__name__}: {exc}")) from None
    finally:
        client.close()


def group_path(service: str, env: str | None, location: str, job: str = JOB) -> str:
    """The group's path under the Pushgateway, as prometheus-client builds it:
    `/metrics/job/opscheck/env/prod/location/eu-west/service/checkout` (a value with a "/" or an
    empty one in the `@base64` form)."""
    from prometheus_client.exposition import _escape_grouping_key

    parts = ["/metrics/{}/{}".format(*_escape_grouping_key("job", job))]
    parts += ["/{}/{}".format(*_escape_grouping_key(k, v)) for k, v in sorted(grouping_key(service, env, location).items())]
    return "".join(parts)


def delete_command(gateway: str, service: str, env: str | None, location: str) -> str:
    """A shell line that deletes a retired group from the Pushgateway (`curl -X DELETE ...`)."""
    return f"curl -fsS -X DELETE '{gateway.rstrip('/')}{group_path(service, env, location)}'"
