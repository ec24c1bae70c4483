"""SLO: sample an endpoint (open loop at a fixed rate, or closed loop at a fixed concurrency) and judge
percentiles, time to first byte and the error ratio against thresholds and warning bands.

No samples, or fewer than asked for, is a failure: a threshold nobody measured never passes.

Every latency figure (percentiles, max, mean, TTFB; fail and warning bands alike) comes only from
answers with an expected status (`expect_status`). With no such answer, a latency budget fails
with `no_data` and the message says what came back instead ("50 x 503"); when the error-ratio
budget is broken too, the reason is `errors`, the fault that was measured.

The sampler has its own client, so the run's memo of unreachable origins is consulted here: a
target already found refusing connections or not resolving is not sampled again, and one the
sampler finds so is recorded for the checks after it.

Early verdicts (opscheck.measure.early): a run with a planned count stops as soon as a fail
budget is broken whatever the samples still to come answer; the message says so, e.g.
"p95 > 400 ms: 6 of 100 planned samples already over budget (stopped after 9; ...)". A healthy
service is sampled in full. `--no-early-stop` turns it off (opscheck/plugin/sampling.py).

The runner (opscheck.measure.runner): every result records the runner's own load during the sample
(send lateness, event-loop lag, CPU starvation) in its measurements under `runner`. When the
runner was overloaded, a latency budget (fail or warning) it broke is not blamed on the service:
the check fails (or, for a warning band, is degraded) with reason `runner`, unless the figure is
over budget by more than the most the runner could have added to any sample (`worst_delay_ms`).
An error ratio broken only with transport timeouts is treated the same way. A pass stands: a busy
runner only ever adds latency.

The runbook sentence it serves: "p95 latency of /api/items under 300 ms, error rate under 1 %".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, Mapping

from opscheck.measure.bands import to_decimal
from opscheck.evidence.kinds import Evidence, SampleSummary
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import MUTATING_METHODS, Builder, Case, status_set
from opscheck.transport.target import CheckHttp

LATENCY_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "ttfb_p95_ms")


@dataclass(frozen=True)
class SloCase(Case):
    """One `slo:` entry: what to sample (method, path, `requests` or `duration_s` seconds, open loop at
    `rate_per_s` or closed loop at `concurrency`) and its budgets: `fail` and `warn` map a key
    (`p95_ms`, `ttfb_p95_ms`, ..., in milliseconds; `max_error_ratio`, 0..1) to an exact Decimal."""

    method: str = "GET"
    path: str = "/"
    requests: int | None = None
    duration_s: float | None = None
    rate_per_s: float | None = None  # open loop
    concurrency: int | None = None  # closed loop
    expect_status: tuple[int, ...] = (200,)
    timeout_s: float = 5.0
    busy_poll: bool | None = None  # None: off, the loop sleeps (sampler.resolve_busy_poll)
    fail: Mapping[str, Decimal] = field(default_factory=dict)  # "p95_ms" -> 400, "max_error_ratio" -> 0.01
    warn: Mapping[str, Decimal] = field(default_factory=dict)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[SloCase]:
    """One SloCase per `slo:` entry, e.g. `{name: items, path: /api/items, requests: 200, concurrency: 4,
    p95_ms: 300, max_error_ratio: 0.01, warn: {p95_ms: 200}}`.

    Needs exactly one of `requests` and `duration_s`, at most one of `rate_per_s` and `concurrency`,
    and at least one threshold; an open loop planned longer than the sampler's limit is refused.
    """
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
            from opscheck.measure.sampler import MAX_RUN_S

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
    """Sample the endpoint (open or closed loop) with the sampler's own client and judge the figures.

    Raises CheckFailed with `latency` (a percentile, max, mean or TTFB p95 over its budget, in ms),
    `errors` (error ratio over `max_error_ratio`), `no_data` (no answer with an expected status for
    a latency budget), `timeout` (fewer samples than asked for) or a transport reason when nothing
    answered; CheckDegraded inside a `warn:` band. Refuses a writing method on a read-only target.
    """
    from opscheck.measure import early as early_stop
    from opscheck.measure.runner import RunnerProbe
    from opscheck.measure.sampler import (planned_requests, resolve_busy_poll, run_closed_loop, run_open_loop,
                                          summarize, tally)

    http.guard(case.method, case.path)  # the sampler sends without CheckHttp.request: the read-only rule here too
    url = http.target.url(case.path)
    _not_sampled_when_known_down(case, http, url)
    headers = http.send_headers(with_profile=True)
    busy_poll = resolve_busy_poll(case.busy_poll)
    probe = RunnerProbe()
    planned = (planned_requests(rate_per_s=case.rate_per_s, requests=case.requests, duration_s=case.duration_s)
               if case.rate_per_s is not None else case.requests)
    stopper = (early_stop.EarlyStop(case.fail, planned, case.expect_status)
               if early_stop.ENABLED and planned else None)
    common = dict(requests=case.requests, duration_s=case.duration_s, method=case.method, headers=headers,
                  timeout_s=case.timeout_s, verify=http.client.verify, busy_poll=busy_poll, early=stopper, probe=probe)
    if case.rate_per_s is not None:
        samples, elapsed = run_open_loop(url, rate_per_s=case.rate_per_s, **common)
        mode = f"open loop {case.rate_per_s:g}/s"
    else:
        samples, elapsed = run_closed_loop(url, concurrency=case.concurrency or 1, **common)
        mode = f"closed loop x{case.concurrency}"
    requested = planned or len(samples)  # a closed loop for a duration asks for what it gets
    stats = summarize(samples, case.expect_status, requested, elapsed)
    answers = tally(samples)
    load = probe.load(samples, busy_poll, open_loop=case.rate_per_s is not None)
    service = None
    if load.overloaded:  # what the figures would be without what the runner may have added
        corrected = probe.corrected(samples)
        service = _Service(summarize(corrected, case.expect_status, requested, elapsed),
                           _early_again(stopper, corrected))
    # The picture shows what the figures are computed from: answers with an expected status only.
    latencies = [s.latency_ms for s in samples
                 if s.latency_ms is not None and s.status is not None and s.status in case.expect_status]
    scope = "" if stats.n_ok == stats.n else f"; {stats.n_ok} of {stats.n} answers with an expected status"
    http.attachments.append({"kind": "latency", "title": f"{case.check_id}: {case.method} {http.client.redactor.url(case.path)} ({mode}{scope})",
                             "latencies_ms": latencies, "thresholds": _budgets(case),
                             "stats": _stats_dict(stats, answers, load, stopper)})
    evidence = _evidence(case, http, samples, stats, mode)
    _remember_unreachable(case, http, url, samples, stats, evidence)
    judge(case, stats, evidence, Counter(s.error for s in samples if s.error), answers,
          early=stopper.verdicts if stopper is not None else None, runner=load, service=service)


@dataclass(frozen=True)
class _Service:
    """The figures with the runner's share taken off each sample (measure.runner.RunnerProbe.corrected)."""

    stats: Any
    early: list[Any]  # the early verdicts those corrected samples still reach


def _early_again(stopper: Any, corrected: list[Any]) -> list[Any]:
    from opscheck.measure.early import EarlyStop

    if stopper is None or not stopper.verdicts:
        return []
    again = EarlyStop({k: v for k, v in zip(stopper.order, stopper.limits)}, stopper.planned, tuple(stopper.expect))
    for sample in corrected:
        again.observe(sample.status, sample.latency_ms, sample.ttfb_ms)
    return again.verdicts


def _origin(url: str) -> str:
    # The memo's key, exactly as HttpClient.request computes it.
    from opscheck.transport.http import origin_text, origin_of

    return origin_text(origin_of(url))


def _not_sampled_when_known_down(case: SloCase, http: CheckHttp, url: str) -> None:
    """Fail at once, sending nothing, when the run already found the target unreachable (or gated)."""
    if http.gate_failure is not None:
        raise CheckFailed(http.gate_failure.reason, http.gate_failure.message)
    origin = _origin(url)
    known_down = http.client.unreachable.get(origin)
    if known_down is None:
        return
    evidence = Evidence(method=case.method, url=http.client.redactor.url(url), request_id="(not sent)")
    evidence.error = "not sent: target unreachable earlier in this run"
    http.evidence.append(evidence)
    raise CheckFailed(known_down.reason, f"{case.method} {case.path}: target unreachable, not retried: {origin} "
                      f"({known_down.message})", evidence)


def _remember_unreachable(case: SloCase, http: CheckHttp, url: str, samples: list[Any], stats: Any,
                          evidence: SampleSummary) -> None:
    """A run that never got an answer and met a refusal or a failed lookup marks the origin down."""
    from opscheck.measure.sampler import UNREACHABLE

    if stats.answered:
        return
    first = next((s for s in samples if s.error in UNREACHABLE), None)
    if first is None:
        return
    origin = _origin(url)
    if origin in http.client.unreachable:
        return
    reason = Reason(first.error)  # a sample's error is its transport error's reason value
    detail = http.client.redactor.text(first.detail or f"{first.error} error")
    failure = CheckFailed(reason, f"{case.method} {case.path}: {detail}", evidence)
    http.client.unreachable[origin] = failure
    if http.client.on_unreachable is not None:
        http.client.on_unreachable(origin, failure)


def judge(case: SloCase, stats: Any, evidence: SampleSummary | None, transport_errors: Counter[str] | None = None,
          answers: Mapping[str, int] | None = None, *, early: list[Any] | None = None, runner: Any = None,
          service: _Service | None = None) -> None:
    """Raise CheckFailed / CheckDegraded for the first band `stats` (a sampler.Stats) breaks.

    Reasons: a transport reason when nothing was answered; `no_data` for no samples at all,
    `timeout` for fewer samples than requested;
    `errors` for a broken error-ratio band; `latency` for a broken latency band; `no_data` for a
    latency band with no answer of an expected status to measure it on; `runner` for a latency band
    (or an error ratio made of timeouts) broken while the runner was overloaded, by less than the
    runner's delays. `early`: the EarlyVerdicts of a run stopped early (measure.early);
    `runner`: the run's measure.runner.RunnerLoad, or None; `service`: with an overloaded runner, the
    figures (and early verdicts) with the runner's share of each sample taken off.
    """
    label = f"{case.method} {case.path}"
    if stats.n and stats.answered == 0 and transport_errors:
        kind, count = transport_errors.most_common(1)[0]
        stopped = ""
        if kind in ("connect", "dns"):
            stopped = (f"; stopped after {stats.n} of {stats.requested} requests: target unreachable"
                       if stats.n < stats.requested else "; target unreachable")
        elif early:
            stopped = f"; sampling stopped early: {early[0].text()}"
        raise CheckFailed(Reason(kind), f"{label}: no answered samples: "
                          f"{count} of {stats.n} failed with {kind}{stopped}", evidence)
    if stats.n == 0:
        raise CheckFailed(Reason.NO_DATA, f"{label}: no samples were taken; a threshold nobody measured never passes",
                          evidence)
    timeouts = (transport_errors or Counter()).get("timeout", 0)
    if early:
        _judge_early(label, stats, evidence, early, runner, service, timeouts)
    if stats.n < stats.requested:
        raise CheckFailed(Reason.TIMEOUT, f"{label}: only {stats.n} of {stats.requested} samples "
                          "completed within the bound; a threshold with missing samples never passes", evidence)
    context = _context(stats)
    unmeasured = _no_data_text(case, stats, answers)
    fails = _breaches(case.fail, stats)
    if fails:
        reason = _reason(fails)
        _runner_excuse(CheckFailed, label, case.fail, stats, fails, runner, service, timeouts, context, evidence, "")
        raise CheckFailed(reason, f"{label}: {'; '.join(_texts(fails, unmeasured))} {context}", evidence,
                          **_facts(case.fail, stats, fails))
    warns = _breaches(case.warn, stats)
    if warns:
        _runner_excuse(CheckDegraded, label, case.warn, stats, warns, runner, service, timeouts, context, evidence,
                       " (warning band)")
        raise CheckDegraded(_reason(warns), f"{label}: {'; '.join(_texts(warns, unmeasured))} (warning band) {context}",
                            evidence, **_facts(case.warn, stats, warns))


def _runner_facts(runner: Any) -> dict[str, Any]:
    from opscheck.measure.runner import LATE_MS, STARVED_RATIO

    starved = runner.cpu_starved_ratio
    if starved is not None and starved > STARVED_RATIO and not runner.busy_poll:
        return {"observed": Decimal(repr(round(starved, 4))), "limit": Decimal(repr(STARVED_RATIO)), "unit": "ratio"}
    late = max((v for v in (runner.send_late_p99_ms, runner.loop_lag_p99_ms) if v is not None), default=0.0)
    return {"observed": Decimal(repr(round(late, 3))), "limit": Decimal(repr(LATE_MS)), "unit": "ms"}


def _runner_verdict(kind: type, label: str, what: str, runner: Any, context: str, evidence: Any) -> Exception:
    return kind(Reason.RUNNER, f"{label}: {what}, but the runner was overloaded ({runner.why}): not judged; "
                f"with what opscheck itself may have added taken off each sample (up to {runner.worst_delay_ms:.1f} ms) "
                f"it would be within budget ({runner.text()}) {context}", evidence, **_runner_facts(runner))


def _runner_excuse(kind: type, label: str, limits: Mapping[str, Decimal], stats: Any,
                   breaches: list[tuple[str, str | None]], runner: Any, service: _Service | None, timeouts: int,
                   context: str, evidence: Any, band: str) -> None:
    """Raise `kind` with reason runner when an overloaded runner could explain every measured breach:
    none is left once the runner's share of each sample is taken off."""
    if runner is None or not runner.overloaded or service is None:
        return
    measured = [(key, text) for key, text in breaches if text is not None]
    if not measured or len(measured) != len(breaches):
        return  # an unmeasured band (no_data) is no runner's doing
    if "max_error_ratio" in dict(measured) and Decimal(stats.errors - timeouts) / Decimal(stats.n) > limits["max_error_ratio"]:
        return  # failed answers, not late ones: the service's
    if any(key != "max_error_ratio" for key, text in _breaches(limits, service.stats) if text is not None):
        return  # still over budget without the runner's share: the service's
    raise _runner_verdict(kind, label, "; ".join(text for _, text in measured if text) + band, runner, context, evidence)


def _judge_early(label: str, stats: Any, evidence: Any, verdicts: list[Any], runner: Any, service: _Service | None,
                 timeouts: int) -> None:
    """A run stopped early: its verdict, as certain as a full sample's (measure.early)."""
    texts = "; ".join(v.text() for v in verdicts)
    context = f"(n={stats.n} of {stats.requested} planned, errors {_pct(stats.error_ratio)})"
    ratio = next((v for v in verdicts if v.key == "max_error_ratio"), None)
    if runner is not None and runner.overloaded and service is not None:
        ratio_stands = ratio is not None and Decimal(stats.errors - timeouts) / Decimal(stats.requested) > ratio.limit
        if not ratio_stands and not any(v.key != "max_error_ratio" for v in service.early):
            raise _runner_verdict(CheckFailed, label, texts, runner, context, evidence)
    if ratio is not None:
        raise CheckFailed(Reason.ERRORS, f"{label}: {texts} {context}", evidence,
                          observed=ratio.bound, limit=ratio.limit, unit="ratio")
    first = verdicts[0]
    # observed: the least the full sample's figure could have been (its lower bound), in ms.
    raise CheckFailed(Reason.LATENCY, f"{label}: {texts} {context}", evidence,
                      observed=Decimal(repr(round(float(first.bound), 3))), limit=first.limit, unit="ms")


def _facts(limits: Mapping[str, Decimal], stats: Any, breaches: list[tuple[str, str | None]]) -> dict[str, Any]:
    """observed/limit/unit of the breach the reason names: the error ratio first, else the first
    latency band measured (ms); none when no band was measured (`no_data`)."""
    keys = [key for key, text in breaches if text is not None]
    if "max_error_ratio" in keys:
        return {"observed": stats.error_ratio, "limit": limits["max_error_ratio"], "unit": "ratio"}
    if keys:
        return {"observed": Decimal(repr(getattr(stats, keys[0]))), "limit": limits[keys[0]], "unit": "ms"}
    return {}


def _context(stats: Any) -> str:
    if stats.n_ok in (0, stats.n):  # all of them, or none (then the message says so already)
        return f"(n={stats.n}, errors {_pct(stats.error_ratio)})"
    return f"(n={stats.n}, latency over the {stats.n_ok} answers with an expected status, errors {_pct(stats.error_ratio)})"


def _no_data_text(case: SloCase, stats: Any, answers: Mapping[str, int] | None) -> str:
    from opscheck.measure.sampler import describe_tally

    expected = " or ".join(str(code) for code in case.expect_status)
    got = f": {describe_tally(answers)}" if answers else ""
    return f"no answer with an expected status ({expected}) among {stats.n} samples{got}"


def _reason(breaches: list[tuple[str, str | None]]) -> Reason:
    keys = {key for key, _ in breaches}
    if "max_error_ratio" in keys:
        return Reason.ERRORS  # measured, and the likeliest cause of anything else
    if any(text is not None for key, text in breaches):
        return Reason.LATENCY
    return Reason.NO_DATA


def _texts(breaches: list[tuple[str, str | None]], unmeasured: str) -> list[str]:
    # Unmeasured latency bands share one sentence: "p95, p99: no answer with an expected status ...".
    texts = [text for _, text in breaches if text is not None]
    missing = [_label(key) for key, text in breaches if text is None]
    if missing:
        texts.append(f"{', '.join(missing)}: {unmeasured}")
    return texts


def _label(key: str) -> str:
    return key.removesuffix("_ms").replace("_", " ")


def _breaches(limits: Mapping[str, Decimal], stats: Any) -> list[tuple[str, str | None]]:
    """(key, text) per broken band; text None for a latency band nothing was measured for."""
    found: list[tuple[str, str | None]] = []
    ratio = limits.get("max_error_ratio")
    if ratio is not None and stats.error_ratio > ratio:
        found.append(("max_error_ratio", f"error ratio {_pct(stats.error_ratio)} > {_pct(ratio)} "
                      f"({stats.errors} of {stats.n})"))
    for key in LATENCY_KEYS:
        if key not in limits:
            continue
        measured = getattr(stats, key, None)
        if measured is None:
            found.append((key, None))  # never a pass: a budget nobody measured
        elif Decimal(repr(measured)) > limits[key]:
            found.append((key, f"{_label(key)} {measured:.1f} ms > {limits[key]} ms"))
    return found


def _pct(ratio: Decimal) -> str:
    # Shown to 0.01 %; compared exactly.
    return f"{format((ratio * 100).quantize(Decimal('0.01')).normalize(), 'f')} %"


def _budgets(case: SloCase) -> dict[str, float]:
    return {f"{k.removesuffix('_ms')} budget": float(v) for k, v in case.fail.items() if k.endswith("_ms") and k != "mean_ms"}


def _stats_dict(stats: Any, answers: Mapping[str, int] | None = None, runner: Any = None,
                stopper: Any = None) -> dict[str, Any]:
    """The check's measurements: the sampler's Stats, `answers`, `runner` (measure.runner.RunnerLoad
    as a dict) and `early_stop` (None when the sample ran in full, else what decided it)."""
    out: dict[str, Any] = {}
    for key, value in vars(stats).items():
        out[key] = str(value) if isinstance(value, Decimal) else (round(value, 3) if isinstance(value, float) else value)
    out["n_total"] = stats.n  # next to n_ok: the latency figures are over n_ok of n_total
    if answers is not None:
        out["answers"] = dict(answers)
    if runner is not None:
        out["runner"] = runner.to_dict()
    out["early_stop"] = [{"budget": v.key, "limit": str(v.limit), "over": v.over, "planned": v.planned,
                          "stopped_after": v.taken,
                          "at_least": str(v.bound) if isinstance(v.bound, Decimal) else round(v.bound, 3)}
                         for v in (stopper.verdicts if stopper is not None else [])] or None
    return out


def _evidence(case: SloCase, http: CheckHttp, samples: list[Any], stats: Any, mode: str) -> SampleSummary:
    statuses = Counter(str(s.status) if s.status is not None else (s.error or "?") for s in samples)
    evidence = SampleSummary(
        method=case.method, url=http.client.redactor.url(http.target.url(case.path)), mode=mode,
        n=stats.n, requested=stats.requested, n_ok=stats.n_ok,
        statuses=dict(sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0]))),
        percentiles={key: getattr(stats, key) for key in
                     ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "ttfb_p50_ms", "ttfb_p95_ms")},
        details={"connects": stats.connects, "dns_p50_ms": _round(stats.dns_p50_ms),
                 "connect_p50_ms": _round(stats.connect_p50_ms), "tls_p50_ms": _round(stats.tls_p50_ms),
                 "achieved_rate_per_s": _round(stats.achieved_rate), "duration_s": round(stats.duration_s, 3)})
    http.evidence.append(evidence)
    return evidence


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)




Case = SloCase  # the family protocol's name for this module's case type
