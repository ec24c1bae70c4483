"""Benchmark: time an endpoint with pytest-benchmark's own `benchmark` fixture and fail the test
itself when the mean or the p95 (from the raw timings) breaks its threshold, or regressed against
a baseline results.json by more than the allowed percentage.

pytest-benchmark times every call, whatever it answered. Only the rounds answered with an expected
status are judged and recorded: a round with another status fails the check (`errors`, with the
error ratio and the figures of the good rounds), and no good round at all fails it as `no_data`.

Early verdicts: the rounds stop as soon as the verdict is certain (any round with another status,
or enough slow rounds that the mean or p95 of all planned rounds is over budget whatever the
others answer; opscheck.measure.early), unless --no-early-stop. Under pytest-xdist pytest-benchmark
switches itself off; then opscheck times the rounds itself and `measurements.timer` says so.

The runbook sentence it serves: "GET /api/items: mean under 50 ms, p95 under 120 ms, and no more than
20 % slower than the last release".
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from opscheck.measure.bands import to_decimal
from opscheck.evidence.kinds import SampleSummary
from opscheck.files import RESULTS_LIMIT, read_bounded
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import MUTATING_METHODS, Builder, Case, status_set
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class BenchCase(Case):
    """One `benchmark:` entry: the request to time, `rounds` timed after `warmup_rounds`, the statuses
    that count, budgets `mean_ms`/`p95_ms` (milliseconds) and `max_regression_pct` (percent) against
    a --baseline results.json."""

    method: str = "GET"
    path: str = "/"
    rounds: int = 30
    warmup_rounds: int = 2
    expect_status: tuple[int, ...] = (200,)
    mean_ms: Decimal | None = None
    p95_ms: Decimal | None = None
    max_regression_pct: Decimal = Decimal(20)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[BenchCase]:
    """One BenchCase per entry, e.g. `{name: items, path: /api/items, rounds: 30, mean_ms: 50, p95_ms: 120}`."""
    cases: list[BenchCase] = []
    for index, entry in enumerate(entries):
        path = ("benchmark", index)
        method = entry.get("method", "GET")
        cases.append(BenchCase(
            **b.common("benchmark", entry["name"], path, entry),
            mutating=method in MUTATING_METHODS,
            method=method, path=entry["path"], rounds=int(entry.get("rounds", 30)),
            warmup_rounds=int(entry.get("warmup_rounds", 2)), expect_status=status_set(entry.get("expect_status")),
            mean_ms=to_decimal(entry["mean_ms"]) if "mean_ms" in entry else None,
            p95_ms=to_decimal(entry["p95_ms"]) if "p95_ms" in entry else None,
            max_regression_pct=to_decimal(entry.get("max_regression_pct", 20)),
        ))
    b.unique(cases, [("benchmark", i, "name") for i in range(len(cases))])
    yield from cases


class _Decided(Exception):
    """Raised inside a timed round once the verdict is certain: ends pytest-benchmark's loop."""


def run(case: BenchCase, http: CheckHttp, *, benchmark: Any, baseline: Path | None = None) -> None:
    """Time the request with pytest-benchmark (`benchmark`, its fixture) and judge the good rounds.

    The first request (recorded as evidence, its status checked) is also the first warm-up round.
    With early stop on (opscheck.measure.early), the rounds end as soon as a budget is broken
    whatever the other rounds answer: any round with another status, or enough slow rounds that
    the mean or p95 of all `rounds` is over budget. Where pytest-benchmark is switched off (under
    pytest-xdist, or --benchmark-disable), opscheck times the rounds itself with the same clock
    (time.perf_counter); `measurements.timer` says which did.

    `baseline` is the --baseline results.json, or None. Raises CheckFailed with `status` (the first
    answer has an unexpected status), `errors` (some rounds answered another status), `no_data` (no
    timing, or no good round), `latency` (mean or p95 over budget, or regressed past
    `max_regression_pct` against the baseline; an unreadable baseline too) or `error` (timings and
    answers do not pair up).
    """
    from opscheck.measure import early as early_stop
    from opscheck.measure.sampler import describe_tally
    from opscheck.measure.stats import percentile

    label = f"{case.method} {http.client.redactor.url(case.path)}"  # also the plot's title: no credential in it
    warmups = max(case.warmup_rounds - 1, 0)  # the first request below is the first warm-up round
    # The check's deadline covers every round: still a bound, scaled to what was asked for.
    rounds = case.rounds + warmups + 1
    http.deadline_at = max(http.deadline_at, time.monotonic() + rounds * http.client.settings.timeout_s)
    first = http.request(case.method, case.path)  # recorded once as evidence; the rounds are not
    expected = " or ".join(map(str, case.expect_status))
    if first.status not in case.expect_status:
        raise CheckFailed(Reason.STATUS, f"{label}: status {first.status}, expected {expected}", first.evidence,
                          observed=first.status, limit=expected, unit="status")
    budgets = {k: v for k, v in (("mean_ms", case.mean_ms), ("p95_ms", case.p95_ms)) if v is not None}
    # Any round with another status fails a benchmark: an error budget of 0.
    stopper = (early_stop.EarlyStop({**budgets, "max_error_ratio": Decimal(0)}, case.rounds, case.expect_status)
               if early_stop.ENABLED else None)
    statuses: list[int] = []
    own_ms: list[float] = []  # opscheck's own timing of each timed round
    calls = 0

    def once() -> None:
        nonlocal calls
        calls += 1
        started = time.perf_counter()
        status = http.request(case.method, case.path, record=False).status
        took_ms = (time.perf_counter() - started) * 1000
        statuses.append(status)
        if calls > warmups:
            own_ms.append(took_ms)
            if stopper is not None and stopper.observe(status, took_ms):
                raise _Decided

    timer = "pytest-benchmark" if getattr(benchmark, "enabled", False) else "opscheck"
    try:
        if timer == "pytest-benchmark":
            benchmark.pedantic(once, rounds=case.rounds, iterations=1, warmup_rounds=warmups)
        else:  # pytest-benchmark would call `once` a single time: opscheck times the rounds itself
            for _ in range(warmups + case.rounds):
                once()
    except _Decided:
        pass
    stopped = stopper.verdicts if stopper is not None else []
    if stopped or timer == "opscheck":
        # An early stop: pytest-benchmark keeps no timing of the round that raised, so all come from opscheck's clock.
        raw = [ms / 1000 for ms in own_ms]
        timer = "opscheck" if not stopped else f"{timer} (stopped early: opscheck's timings)"
    else:
        raw = _raw_timings(benchmark)
    if not raw:
        raise CheckFailed(Reason.NO_DATA, f"{label}: no round was timed", first.evidence)
    # pedantic() runs the warm-up rounds first and times only the rounds after them, one call each.
    timed = statuses[-len(raw):] if len(statuses) >= len(raw) else []
    if len(timed) != len(raw):
        raise CheckFailed(Reason.ERROR, f"{label}: {len(raw)} timings but {len(statuses)} answers recorded; "
                          "cannot tell which timing belongs to which answer", first.evidence)
    timings = sorted(t * 1000 for t, status in zip(raw, timed) if status in case.expect_status)
    answers: dict[str, int] = {}
    for status in timed:
        answers[str(status)] = answers.get(str(status), 0) + 1
    answers = dict(sorted(answers.items(), key=lambda kv: (-kv[1], kv[0])))
    n_total, n_ok = len(raw), len(timings)
    bad = n_total - n_ok
    measured: dict[str, Any] = {"rounds": n_total, "n_total": n_total, "n_ok": n_ok, "answers": answers,
                                "planned_rounds": case.rounds, "timer": timer,
                                "early_stop": [{"budget": v.key, "limit": str(v.limit), "over": v.over,
                                                "planned": v.planned, "stopped_after": v.taken,
                                                "at_least": str(v.bound) if isinstance(v.bound, Decimal) else round(v.bound, 3)}
                                               for v in stopped] or None}
    if timings:
        mean = math.fsum(timings) / len(timings)  # exactly as the early verdict bounds it (measure.early)
        p95 = percentile(timings, 0.95)
        measured |= {"mean_ms": round(mean, 3), "p95_ms": round(p95, 3),
                     "min_ms": round(timings[0], 3), "max_ms": round(timings[-1], 3)}
    scope = "" if bad == 0 else f"; {n_ok} of {n_total} rounds with an expected status"
    stop_note = f"; stopped after {n_total} of {case.rounds}" if stopped else ""
    http.attachments.append({"kind": "latency", "title": f"{case.check_id}: {label} ({timer}, {n_total} rounds{scope}{stop_note})",
                             "latencies_ms": timings, "stats": measured,
                             "thresholds": {k: float(v) for k, v in (("mean budget", case.mean_ms), ("p95 budget", case.p95_ms)) if v is not None}})
    http.evidence.append(SampleSummary(
        method=case.method, url=first.evidence.url, mode=timer, n=n_total, requested=case.rounds, n_ok=n_ok,
        statuses=answers, percentiles={k: measured.get(k) for k in ("mean_ms", "p95_ms", "max_ms")}))
    if not timings:
        raise CheckFailed(Reason.NO_DATA, f"{label}: no answer with an expected status ({expected}) among "
                          f"{n_total} rounds: {describe_tally(answers)}{stop_note}", first.evidence)
    ratio = f"{format((Decimal(bad) * 100 / Decimal(n_total)).quantize(Decimal('0.01')).normalize(), 'f')} %"
    breaches = [f"{name} {value:.1f} ms > {limit} ms" for name, value, limit in
                (("mean", mean, case.mean_ms), ("p95", p95, case.p95_ms)) if limit is not None and Decimal(repr(value)) > limit]
    if bad:
        latency = f"; latency over the other {n_ok}: mean {mean:.1f} ms, p95 {p95:.1f} ms" + (
            f" ({'; '.join(breaches)})" if breaches and not stopped else "")
        raise CheckFailed(Reason.ERRORS, f"{label}: {bad} of {n_total} rounds answered another status than {expected} "
                          f"({describe_tally({k: v for k, v in answers.items() if int(k) not in case.expect_status})}; "
                          f"errors {ratio}){latency}{stop_note}", first.evidence,
                          observed=Decimal(bad) / Decimal(n_total), limit=Decimal(0), unit="ratio")
    if stopped:
        first_verdict = stopped[0]
        raise CheckFailed(Reason.LATENCY, f"{label}: {'; '.join(v.text('rounds') for v in stopped)} "
                          f"(n={n_total} of {case.rounds} planned, errors 0 %)", first.evidence,
                          observed=Decimal(repr(round(float(first_verdict.bound), 3))), limit=first_verdict.limit, unit="ms")
    breaches += _regressions(case, baseline, mean, p95)
    if breaches:
        over = [(value, limit) for value, limit in ((mean, case.mean_ms), (p95, case.p95_ms))
                if limit is not None and Decimal(repr(value)) > limit]  # a regression alone has no absolute limit
        facts = dict(observed=Decimal(repr(over[0][0])), limit=over[0][1], unit="ms") if over else {}
        raise CheckFailed(Reason.LATENCY, f"{label}: {'; '.join(breaches)} (n={n_total}, errors 0 %)", first.evidence,
                          **facts)


def _raw_timings(benchmark: Any) -> list[float]:
    stats = getattr(benchmark, "stats", None)
    inner = getattr(stats, "stats", None)
    return list(getattr(inner, "data", []) or [])


def _regressions(case: BenchCase, baseline: Path | None, mean: float, p95: float) -> list[str]:
    if baseline is None:
        return []
    try:
        previous = {c["id"]: c.get("measurements") or {} for c in json.loads(read_bounded(baseline, RESULTS_LIMIT, "baseline"))["checks"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(Reason.LATENCY, f"--baseline {baseline}: not a readable opscheck results.json ({exc})") from None
    old = previous.get(case.check_id, {})
    found = []
    for key, now in (("mean_ms", mean), ("p95_ms", p95)):
        if key not in old or not old[key]:
            continue
        change = (Decimal(repr(now)) / Decimal(repr(old[key])) - 1) * 100
        if change > case.max_regression_pct:
            found.append(f"{key.removesuffix('_ms')} regressed {change.quantize(Decimal('0.1'))} % vs baseline "
                         f"({old[key]:.1f} -> {now:.1f} ms; allowed {case.max_regression_pct} %)")
    return found


Case = BenchCase  # the family protocol's name for this module's case type
