"""SLO: sample an endpoint (open loop at a fixed rate, or closed loop at a fixed concurrency) and judge
percentiles, time to first byte and the error ratio against thresholds and warning bands.

No samples, or fewer than asked for, is a failure: a threshold nobody measured never passes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, Mapping

from opscheck.bands import to_decimal
from opscheck.evidence import Evidence
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.profile import MUTATING_METHODS, Builder, Case, status_set
from opscheck.target import CheckHttp

LATENCY_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "ttfb_p95_ms")


@dataclass(frozen=True)
class SloCase(Case):
    method: str = "GET"
    path: str = "/"
    requests: int | None = None
    duration_s: float | None = None
    rate_per_s: float | None = None  # open loop
    concurrency: int | None = None  # closed loop
    expect_status: tuple[int, ...] = (200,)
    timeout_s: float = 5.0
    busy_poll: bool | None = None  # None: on with two or more CPUs (sampler.resolve_busy_poll)
    fail: Mapping[str, Decimal] = field(default_factory=dict)  # "p95_ms" -> 400, "max_error_ratio" -> 0.01
    warn: Mapping[str, Decimal] = field(default_factory=dict)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[SloCase]:
    cases: list[SloCase] = []
    for index, entry in enumerate(entries):
        path = ("slo", index)
        if ("requests" in entry) == ("duration_s" in entry):
            b.problem(path, "give exactly one of `requests` and `duration_s`")
            continue
        if "rate_per_s" in entry and "concurrency" in entry:
            b.problem(path, "give `rate_per_s` (open loop) or `concurrency` (closed loop), not both")
            continue
        if "rate_per_s" in entry and "requests" in entry:
            from opscheck.sampler import MAX_RUN_S

            planned_s = (entry["requests"] - 1) / entry["rate_per_s"]
            if planned_s > MAX_RUN_S:
                b.problem((*path, "requests"), f"{entry['requests']} requests at {entry['rate_per_s']:g}/s take "
                          f"{planned_s:g} s; a run may last at most {MAX_RUN_S:g} s")
                continue
        limits = {k: to_decimal(entry[k]) for k in (*LATENCY_KEYS, "max_error_ratio") if k in entry}
        if not limits:
            b.problem(path, f"an SLO needs at least one threshold ({', '.join(LATENCY_KEYS)}, max_error_ratio)")
            continue
        warn = {k: to_decimal(v) for k, v in entry.get("warn", {}).items()}
        method = entry.get("method", "GET")
        cases.append(SloCase(
            **b.common("slo", entry["name"], path, entry),
            mutating=method in MUTATING_METHODS,
            method=method, path=entry["path"], requests=entry.get("requests"), duration_s=entry.get("duration_s"),
            rate_per_s=entry.get("rate_per_s"),
            concurrency=entry.get("concurrency", None if "rate_per_s" in entry else 1),
            expect_status=status_set(entry.get("expect_status")),
            timeout_s=float(entry.get("timeout_s", b.profile.http.timeout_s)),
            busy_poll=entry.get("busy_poll"),
            fail=limits, warn=warn,
        ))
    b.unique(cases, [("slo", i, "name") for i in range(len(cases))])
    yield from cases


def run(case: SloCase, http: CheckHttp) -> None:
    from opscheck.sampler import planned_requests, run_closed_loop, run_open_loop, summarize

    url = http.target.url(case.path)
    headers = {}
    if http.auth is not None and http.auth.keys:
        headers[http.auth.header] = http.auth.header_value(http.auth.keys[0])
    common = dict(requests=case.requests, duration_s=case.duration_s, method=case.method, headers=headers,
                  timeout_s=case.timeout_s, verify=http.client.verify, busy_poll=case.busy_poll)
    if case.rate_per_s is not None:
        samples, elapsed = run_open_loop(url, rate_per_s=case.rate_per_s, **common)
        requested = planned_requests(rate_per_s=case.rate_per_s, requests=case.requests, duration_s=case.duration_s)
        mode = f"open loop {case.rate_per_s:g}/s"
    else:
        samples, elapsed = run_closed_loop(url, concurrency=case.concurrency or 1, **common)
        requested = case.requests or len(samples)  # a closed loop for a duration asks for what it gets
        mode = f"closed loop x{case.concurrency}"
    stats = summarize(samples, case.expect_status, requested, elapsed)
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    http.attachments.append({"kind": "latency", "title": f"{case.check_id}: {case.method} {case.path} ({mode})",
                             "latencies_ms": latencies, "thresholds": _budgets(case), "stats": _stats_dict(stats)})
    evidence = _evidence(case, http, samples, stats, mode)
    judge(case, stats, evidence, Counter(s.error for s in samples if s.error))


_TRANSPORT = {"connect": Reason.CONNECT, "dns": Reason.DNS, "tls": Reason.TLS, "timeout": Reason.TIMEOUT,
              "protocol": Reason.PROTOCOL}


def judge(case: SloCase, stats: Any, evidence: Evidence | None, transport_errors: Counter[str] | None = None) -> None:
    context = f"(n={stats.n}, errors {_pct(stats.error_ratio)})"
    if stats.n and stats.answered == 0 and transport_errors:
        kind, count = transport_errors.most_common(1)[0]
        raise CheckFailed(_TRANSPORT.get(kind, Reason.ERRORS), f"{case.method} {case.path}: no answered samples: "
                          f"{count} of {stats.n} failed with {kind}", evidence)
    if stats.n == 0 or stats.n < stats.requested:
        raise CheckFailed(Reason.TIMEOUT, f"{case.method} {case.path}: only {stats.n} of {stats.requested} samples "
                          "completed within the bound; a threshold with missing samples never passes", evidence)
    fails = _breaches(case.fail, stats)
    if fails:
        reason = Reason.ERRORS if any(k == "max_error_ratio" for k, _ in fails) else Reason.LATENCY
        raise CheckFailed(reason, f"{case.method} {case.path}: {'; '.join(text for _, text in fails)} {context}", evidence)
    warns = _breaches(case.warn, stats)
    if warns:
        reason = Reason.ERRORS if any(k == "max_error_ratio" for k, _ in warns) else Reason.LATENCY
        raise CheckDegraded(reason, f"{case.method} {case.path}: {'; '.join(t for _, t in warns)} (warning band) {context}",
                            evidence)


def _breaches(limits: Mapping[str, Decimal], stats: Any) -> list[tuple[str, str]]:
    found = []
    ratio = limits.get("max_error_ratio")
    if ratio is not None and stats.error_ratio > ratio:
        found.append(("max_error_ratio", f"error ratio {_pct(stats.error_ratio)} > {_pct(ratio)} "
                      f"({stats.errors} of {stats.n})"))
    for key in LATENCY_KEYS:
        if key not in limits:
            continue
        measured = getattr(stats, key, None)
        label = key.removesuffix("_ms").replace("_", " ")
        if measured is None:
            found.append((key, f"{label}: no answered samples"))
        elif Decimal(repr(measured)) > limits[key]:
            found.append((key, f"{label} {measured:.1f} ms > {limits[key]} ms"))
    return found


def _pct(ratio: Decimal) -> str:
    # Shown to 0.01 %; compared exactly.
    return f"{format((ratio * 100).quantize(Decimal('0.01')).normalize(), 'f')} %"


def _budgets(case: SloCase) -> dict[str, float]:
    return {f"{k.removesuffix('_ms')} budget": float(v) for k, v in case.fail.items() if k.endswith("_ms") and k != "mean_ms"}


def _stats_dict(stats: Any) -> dict[str, Any]:
    out = {}
    for key, value in vars(stats).items():
        out[key] = str(value) if isinstance(value, Decimal) else (round(value, 3) if isinstance(value, float) else value)
    return out


def _evidence(case: SloCase, http: CheckHttp, samples: list[Any], stats: Any, mode: str) -> Evidence:
    statuses = Counter(str(s.status) if s.status is not None else (s.error or "?") for s in samples)
    evidence = Evidence(method=case.method, url=http.client.redactor.text(http.target.url(case.path)),
                        request_id="(sampled)", elapsed_ms=stats.p50_ms)
    evidence.body_excerpt = (f"{mode}: n={stats.n} of {stats.requested}, answers {dict(statuses)}, "
                             f"p50 {_ms(stats.p50_ms)}, p95 {_ms(stats.p95_ms)}, p99 {_ms(stats.p99_ms)}, "
                             f"max {_ms(stats.max_ms)}, ttfb p50 {_ms(stats.ttfb_p50_ms)} p95 {_ms(stats.ttfb_p95_ms)}, "
                             f"{stats.connects} new connections (DNS p50 {_ms(stats.dns_p50_ms)}, "
                             f"connect p50 {_ms(stats.connect_p50_ms)}, "
                             f"TLS p50 {_ms(stats.tls_p50_ms)}), "
                             f"rate {stats.achieved_rate or 0:.1f}/s over {stats.duration_s:.2f} s")
    http.evidence.append(evidence)
    return evidence


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
