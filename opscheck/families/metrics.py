"""Server-side SLIs: the service's own counters and histograms (`/metrics`, Prometheus text or JSON).

An error ratio from request counters by status, and a latency quantile from a histogram's
buckets, each against a threshold and an optional warning band.

- The status is read from the `status` label, else `code` (Prometheus, the Go client), unless
  the profile names it (`status_label`).
- A histogram only says which bucket a quantile lies in. The check passes when that bucket's
  upper bound is within budget, fails (`latency`) when its lower bound is over, and otherwise
  fails with `no_data`: these buckets cannot decide (a warning band: degraded, same rule).
- A histogram with a status label is read over its 2xx/3xx series only; without one it is the
  service's own definition of latency (every request it observed).
- No data (a missing series, a counter at 0 requests, a histogram with 0 observations) fails
  with `no_data`. A body that is not metrics fails with `body`.

The runbook sentence it serves: "the service's own 5xx ratio stays under 1 % and its p95 under 300 ms
(from /metrics)".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, Mapping

from opscheck.measure.bands import to_decimal
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class MetricsCase(Case):
    """One `metrics:` entry: an error ratio from a counter (`limit` a ratio, 0..1) or a latency
    quantile from a histogram (`limit` in milliseconds), over the series `match` selects."""

    source: str = "/metrics"
    kind: str = "error_ratio"  # or "latency"
    match: Mapping[str, str] = field(default_factory=dict)
    counter: str = "http_requests_total"
    histogram: str = "http_request_duration_seconds"
    error_statuses: str = "5xx"
    status_label: str | None = None  # None: `status`, else `code`
    quantile: float = 0.95
    limit: Decimal = Decimal(0)  # max ratio, or max milliseconds
    warn: Decimal | None = None


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[MetricsCase]:
    """One MetricsCase per entry: `{name: errors, max_error_ratio: 0.01}` or
    `{name: p95, quantile: 0.95, max_ms: 300, warn_ms: 200}`; giving both kinds (or neither) is a problem."""
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
            error_statuses=str(entry.get("error_statuses", "5xx")), status_label=entry.get("status_label"),
            quantile=float(entry.get("quantile", 0.95)),
            limit=to_decimal(entry["max_ms"] if latency else entry["max_error_ratio"]),
            warn=to_decimal(entry[w]) if (w := "warn_ms" if latency else "warn_error_ratio") in entry else None,
        ))
    b.unique(cases, [("metrics", i, "name") for i in range(len(cases))])
    yield from cases


def run(case: MetricsCase, http: CheckHttp) -> None:
    """Read the service's metrics (Prometheus text or JSON) and judge the entry's SLI.

    Raises CheckFailed with `errors` (5xx ratio over its limit), `latency` (the quantile's bucket lies
    above `max_ms`), `no_data` (series missing or empty, or buckets that cannot decide), `body`
    (malformed metrics), `status` (the metrics URL did not answer 200); CheckDegraded in the warning band.
    """
    series, evidence = _series(case, http)
    where = f"{case.source}" + (f" {{{', '.join(f'{k}={v!r}' for k, v in case.match.items())}}}" if case.match else "")
    try:
        if case.kind == "error_ratio":
            _error_ratio(case, series, where, evidence)
        else:
            _latency(case, series, where, evidence)
    except LookupError as exc:
        raise CheckFailed(Reason.NO_DATA, f"{where}: no data: {exc.args[0] if exc.args else exc}", evidence) from None
    except (ValueError, ArithmeticError) as exc:  # malformed buckets, non-finite values
        raise CheckFailed(Reason.BODY, f"{where}: {exc}", evidence) from None


def _error_ratio(case: MetricsCase, series: list[Any], where: str, evidence: Any) -> None:
    from opscheck.measure import sli

    errors, total, ratio = sli.error_ratio(series, counter=case.counter, status_label=case.status_label,
                                           error_statuses=case.error_statuses, match=case.match or None)
    if total == 0:
        raise CheckFailed(Reason.NO_DATA, f"{where}: no data: {case.counter} counted 0 requests", evidence)
    shown = f"{format((ratio * 100).quantize(Decimal('0.01')).normalize(), 'f')} %"
    text = f"{where}: error ratio {shown} ({errors} of {total} {case.error_statuses})"
    _judge(Reason.ERRORS, ratio, case, text, f"{format((case.limit * 100).normalize(), 'f')} %", evidence,
           warn_text=f"{format((case.warn * 100).normalize(), 'f')} %" if case.warn is not None else "")


def _latency(case: MetricsCase, series: list[Any], where: str, evidence: Any) -> None:
    from opscheck.measure import sli

    interval = sli.quantile_interval(series, case.quantile, histogram=case.histogram, match=case.match or None,
                                     status_label=case.status_label)
    label = f"p{case.quantile * 100:g}"
    scope = ""
    if interval.status_label is not None:
        scope = f" of successful ({sli.SUCCESS_STATUSES.replace(',', '/')}) requests"
        if interval.excluded:
            scope += f"; {_count(interval.excluded)} others left out"
    if interval.observations <= 0:
        raise CheckFailed(Reason.NO_DATA, f"{where}: no data: {case.histogram} has 0 observations{scope}", evidence)
    # Budgets are in ms, bounds in the histogram's unit (seconds).
    budget_s = case.limit / 1000
    lower, upper = sli.format_bound(interval.lower), sli.format_bound(interval.upper)
    bucket = f"({lower} s, {upper}]" if interval.upper.is_infinite() else f"({lower} s, {upper} s]"
    estimate_ms = f"{float(interval.estimate) * 1000:.1f}"  # display only: a float cannot overflow here
    text = (f"{where}: {label} lies in {bucket} by the {case.histogram} buckets "
            f"(n={_count(interval.observations)}{scope}; histogram_quantile() would say {estimate_ms} ms)")
    verdict = interval.decide(budget_s)
    # A histogram gives an interval, not a value: the observed fact is its lower bound ("at least").
    at_least_ms = None if interval.lower.is_infinite() else interval.lower * 1000
    if verdict == "fail":
        raise CheckFailed(Reason.LATENCY, f"{text}: over the {case.limit} ms budget", evidence,
                          observed=at_least_ms, limit=case.limit, unit="ms")
    if verdict == "undecided":
        raise CheckFailed(Reason.NO_DATA, f"{text}: these buckets cannot decide against {case.limit} ms", evidence)
    if case.warn is None:
        return
    warning = interval.decide(case.warn / 1000)
    if warning == "fail":
        raise CheckDegraded(Reason.LATENCY, f"{text}: over the warning band {case.warn} ms (fails above "
                            f"{case.limit} ms)", evidence, observed=at_least_ms, limit=case.warn, unit="ms")
    if warning == "undecided":
        raise CheckDegraded(Reason.NO_DATA, f"{text}: within {case.limit} ms, but these buckets cannot decide "
                            f"against the warning band {case.warn} ms", evidence)


def _count(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def _judge(reason: Reason, value: Decimal, case: MetricsCase, text: str, limit: str, evidence: Any, warn_text: str) -> None:
    if value > case.limit:
        raise CheckFailed(reason, f"{text} > {limit}", evidence, observed=value, limit=case.limit, unit="ratio")
    if case.warn is not None and value > case.warn:
        raise CheckDegraded(reason, f"{text} > warning {warn_text} (fails above {limit})", evidence,
                            observed=value, limit=case.warn, unit="ratio")


def _series(case: MetricsCase, http: CheckHttp) -> tuple[list[Any], Any]:
    from opscheck.measure import sli

    key = f"metrics:{case.source}"
    if key in http.cache:
        return http.cache[key]
    response = http.get(case.source)
    if response.status != 200:
        raise CheckFailed(Reason.STATUS, f"GET {case.source}: status {response.status}, expected 200", response.evidence)
    try:
        if "json" in response.content_type or response.body.lstrip().startswith(b"{"):
            series = sli.loads_json_metrics(response.body)  # exact Decimals, bounded
        else:
            series = sli.parse_prometheus(response.text)
    except ValueError as exc:
        raise CheckFailed(Reason.BODY, f"GET {case.source}: {exc}", response.evidence) from None
    http.cache[key] = (series, response.evidence)
    return series, response.evidence


Case = MetricsCase  # the family protocol's name for this module's case type
