"""Server-side SLIs: the service's own counters and histograms (`/metrics`, Prometheus text or JSON).

An error ratio from request counters by status, and a latency quantile from a histogram's
buckets, each against a threshold and an optional warning band. No data is a failure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, Mapping

from opscheck.bands import to_decimal
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.profile import Builder, Case
from opscheck.target import CheckHttp


@dataclass(frozen=True)
class MetricsCase(Case):
    source: str = "/metrics"
    kind: str = "error_ratio"  # or "latency"
    match: Mapping[str, str] = field(default_factory=dict)
    counter: str = "http_requests_total"
    histogram: str = "http_request_duration_seconds"
    error_statuses: str = "5xx"
    quantile: float = 0.95
    limit: Decimal = Decimal(0)  # max ratio, or max milliseconds
    warn: Decimal | None = None


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[MetricsCase]:
    cases: list[MetricsCase] = []
    for index, entry in enumerate(entries):
        path = ("metrics", index)
        if ("max_error_ratio" in entry) == ("quantile" in entry):
            b.problem(path, "give either max_error_ratio (an error ratio check) or quantile + max_ms (a latency check)")
            continue
        latency = "quantile" in entry
        if latency and "max_ms" not in entry:
            b.problem(path, "a quantile check needs max_ms")
            continue
        cases.append(MetricsCase(
            **b.common("metrics", entry["name"], path, entry),
            source=entry.get("source", "/metrics"), kind="latency" if latency else "error_ratio",
            match=dict(entry.get("match", {})), counter=entry.get("counter", "http_requests_total"),
            histogram=entry.get("histogram", "http_request_duration_seconds"),
            error_statuses=str(entry.get("error_statuses", "5xx")), quantile=float(entry.get("quantile", 0.95)),
            limit=to_decimal(entry["max_ms"] if latency else entry["max_error_ratio"]),
            warn=to_decimal(entry[w]) if (w := "warn_ms" if latency else "warn_error_ratio") in entry else None,
        ))
    b.unique(cases, [("metrics", i, "name") for i in range(len(cases))])
    yield from cases


def run(case: MetricsCase, http: CheckHttp) -> None:
    from opscheck import sli

    series, evidence = _series(case, http)
    where = f"{case.source}" + (f" {{{', '.join(f'{k}={v!r}' for k, v in case.match.items())}}}" if case.match else "")
    try:
        if case.kind == "error_ratio":
            errors, total, ratio = sli.error_ratio(series, counter=case.counter, error_statuses=case.error_statuses,
                                                   match=case.match or None)
            if total == 0:
                raise CheckFailed(Reason.ERRORS, f"{where}: no data: {case.counter} counted 0 requests", evidence)
            shown = f"{format((ratio * 100).quantize(Decimal('0.01')).normalize(), 'f')} %"
            text = f"{where}: error ratio {shown} ({errors} of {total} {case.error_statuses})"
            _judge(Reason.ERRORS, ratio, case, text, f"{format((case.limit * 100).normalize(), 'f')} %", evidence,
                   warn_text=f"{format((case.warn * 100).normalize(), 'f')} %" if case.warn is not None else "")
            return
        seconds, count = sli.histogram_quantile(series, case.quantile, histogram=case.histogram, match=case.match or None)
    except LookupError as exc:
        raise CheckFailed(Reason.BODY, f"{where}: {exc.args[0] if exc.args else exc}", evidence) from None
    if count == 0 or math.isnan(seconds):
        raise CheckFailed(Reason.LATENCY, f"{where}: no data: {case.histogram} has 0 observations", evidence)
    ms = Decimal(repr(seconds)) * 1000
    label = f"p{case.quantile * 100:g}"
    text = f"{where}: {label} {ms.quantize(Decimal('0.1'))} ms from {case.histogram} buckets (n={count})"
    _judge(Reason.LATENCY, ms, case, text, f"{case.limit} ms", evidence,
           warn_text=f"{case.warn} ms" if case.warn is not None else "")


def _judge(reason: Reason, value: Decimal, case: MetricsCase, text: str, limit: str, evidence: Any, warn_text: str) -> None:
    if value > case.limit:
        raise CheckFailed(reason, f"{text} > {limit}", evidence)
    if case.warn is not None and value > case.warn:
        raise CheckDegraded(reason, f"{text} > warning {warn_text} (fails above {limit})", evidence)


def _series(case: MetricsCase, http: CheckHttp) -> tuple[list[Any], Any]:
    from opscheck import sli

    key = f"metrics:{case.source}"
    if key in http.cache:
        return http.cache[key]
    response = http.get(case.source)
    if response.status != 200:
        raise CheckFailed(Reason.STATUS, f"GET {case.source}: status {response.status}, expected 200", response.evidence)
    try:
        if "json" in response.content_type or response.text.lstrip().startswith("{"):
            series = sli.parse_json_metrics(json.loads(response.body))
        else:
            series = sli.parse_prometheus(response.text)
    except ValueError as exc:
        raise CheckFailed(Reason.BODY, f"GET {case.source}: {exc}", response.evidence) from None
    http.cache[key] = (series, response.evidence)
    return series, response.evidence
