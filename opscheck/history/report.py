"""What the history says, per check: uptime over 1 d, 7 d and the report window, p95 latency now
against 7 days ago, flaky count, current state and since when; then each objective's attainment,
error budget and burn rates (opscheck.history.accounting), and incidents (opscheck.history.incidents).

    report = build_report(store, service="inventory-api", env="prod", days=30, objectives=[...])
    print(render_text(report)) or json.dumps(report)

`build_report` returns a JSON-able dict (every figure exact decimal text, times ISO 8601 UTC):
    {"generated_at", "service", "env", "days", "accounting": {...},
     "checks": [{"service", "env", "check", "family", "severity", "method",
                 "uptime": {"1d": Uptime.to_dict(), "7d": ..., "30d": ...},
                 "p95_ms": {"now": "12.4" | null, "week_ago": ..., "now_runs": n, "week_ago_runs": n},
                 "flaky": n, "state": "good|bad|unknown|maintenance", "since": iso, "last_run": iso,
                 "reason": str|null, "runs": n}],
     "objectives": [ObjectiveStatus.to_dict()]}

Uptime with the runs method is counted in SQL (one GROUP BY over the window, the same CASE as
`accounting.classify`), so 10,000 runs of 50 checks need no row-by-row read; a check with a
timeslices objective is counted from its runs in Python (`accounting.uptime`).
p95 "now" is over the last 24 h of runs, "7 d ago" over the 24 h that ended 7 days ago; each run's
latency is its sampled p95, or its one exchange's elapsed time (linear interpolation, as
opscheck.measure.stats). Maintenance and unknown runs are left out of latency.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Sequence

from opscheck.history import schema as S
from opscheck.history.accounting import (BURN_PAIRS, GOOD_OUTCOMES, METHOD_RUNS, METHOD_TIMESLICES, UNKNOWN_REASONS,
                                         Point, Uptime, classify, evaluate, exact, percent, ratio, show_percent,
                                         uptime)
from opscheck.history.incidents import format_seconds

DAY = 86400
STREAK_PAGE = 200


def class_case() -> Any:
    """`accounting.classify` as a SQL CASE over check_results (SQLite and PostgreSQL)."""
    from sqlalchemy import and_, case, or_

    c = S.check_results.c
    return case(
        (c.maintenance.is_(True), "maintenance"),
        (or_(c.outcome == "skipped", and_(c.reason.in_(sorted(UNKNOWN_REASONS)), c.outcome.notin_(["passed", "flaky"]))),
         "unknown"),
        (c.outcome.in_(sorted(GOOD_OUTCOMES)), "good"),
        else_="bad")


def _windows(days: int) -> list[tuple[str, int]]:
    out = [("1d", DAY), ("7d", 7 * DAY)]
    if days not in (1, 7):
        out.append((f"{days}d", days * DAY))
    return sorted(out, key=lambda w: w[1])


def _points(runs: Sequence[Any]) -> list[Point]:
    return [Point(r.started_at, classify(r.outcome, r.reason, r.maintenance), r.location) for r in runs]


def build_report(store: Any, *, service: str | None = None, env: str | None = None, days: int = 30,
                 now: datetime | None = None, objectives: Sequence[Any] = (),
                 objectives_service: str | None = None) -> dict[str, Any]:
    """The report over [now - days, now) (see the module docstring). `objectives` (config
    Objective) apply to `objectives_service` only when it is given (the profile's service), else
    to every service with that check id. Raises HistoryUnavailable."""
    from sqlalchemy import func, select

    now = now or datetime.now(timezone.utc)
    windows = _windows(days)
    longest = max(w for _, w in windows)
    c = S.check_results.c
    dims = [c.service, c.env, c.check_id, c.outcome, c.reason, c.maintenance, c.attempts]
    columns: list[Any] = list(dims)  # only indexed columns: family and severity come with the state
    columns += [func.sum(_when(c.started_at >= now - timedelta(seconds=seconds))) for _, seconds in windows]
    # Grouped by the raw fields in ix_checks_summary's order and classified here, by the one rule
    # (accounting.classify): a few hundred groups instead of a CASE per row and window.
    query = (select(*columns).where(c.started_at >= now - timedelta(seconds=longest), c.started_at < now)
             .group_by(*dims))
    if service is not None:
        query = query.where(c.service == service)
    if env is not None:
        query = query.where(c.env == env)
    rows = store.read("summarising the history", lambda conn: conn.execute(query).all())
    flaky_index = next(i for i, (_, seconds) in enumerate(windows) if seconds == days * DAY)
    series: dict[tuple[str, str, str], dict[str, Any]] = {}
    for svc, envname, check_id, outcome, reason, maintenance, attempts, *counts in rows:
        entry = series.setdefault((svc, envname, check_id), {
            "flaky": 0,
            "counts": [{"good": 0, "bad": 0, "unknown": 0, "maintenance": 0} for _ in windows]})
        cls = classify(outcome, reason, bool(maintenance))
        for i, n in enumerate(counts):
            entry["counts"][i][cls] += int(n or 0)
        if cls == "good" and (outcome == "flaky" or (outcome == "passed" and (attempts or 1) > 1)):
            entry["flaky"] += int(counts[flaky_index] or 0)
    by_check = {o.check: o for o in objectives}
    checks = []
    for (svc, envname, check_id), entry in sorted(series.items()):
        objective = by_check.get(check_id) if objectives_service in (None, svc) else None
        method = METHOD_TIMESLICES if objective is not None and objective.method == METHOD_TIMESLICES else METHOD_RUNS
        ups: dict[str, Uptime] = {}
        if method == METHOD_RUNS:
            for (label, seconds), n in zip(windows, entry["counts"]):
                g, b, u, m = n["good"], n["bad"], n["unknown"], n["maintenance"]
                ups[label] = Uptime(METHOD_RUNS, seconds, g, b, g + b + u + m, u, m, percent(ratio(g, g + b)))
        else:
            points = _points(store.check_runs(svc, envname, check_id, since=now - timedelta(seconds=longest), until=now))
            for label, seconds in windows:
                ups[label] = uptime(points, now, seconds, METHOD_TIMESLICES, objective.timeslice_s, objective.timeslice_target)
        state = current_state(store, svc, envname, check_id, now)
        latency_now = _latencies(store, svc, envname, check_id, now - timedelta(days=1), now)
        latency_then = _latencies(store, svc, envname, check_id, now - timedelta(days=8), now - timedelta(days=7))
        runs = sum(entry["counts"][-1].values())
        checks.append({
            "service": svc, "env": envname, "check": check_id, "family": state.pop("family"),
            "severity": state.pop("severity"),
            "method": method, "uptime": {label: u.to_dict() for label, u in ups.items()},
            "p95_ms": {"now": _p95(latency_now), "week_ago": _p95(latency_then),
                       "now_runs": len(latency_now), "week_ago_runs": len(latency_then)},
            "flaky": entry["flaky"], "runs": runs, **state,
        })
    statuses = []
    for objective in objectives:
        for svc, envname in sorted({(ch["service"], ch["env"]) for ch in checks if ch["check"] == objective.check
                                    and objectives_service in (None, ch["service"])}):
            since = now - timedelta(seconds=max(objective.window_s, BURN_PAIRS[-1][1]))
            points = _points(store.check_runs(svc, envname, objective.check, since=since, until=now))
            status = evaluate(points, now, check=objective.check, target=objective.target, window_s=objective.window_s,
                              method=objective.method, timeslice_s=objective.timeslice_s,
                              timeslice_target=objective.timeslice_target, label=objective.label)
            statuses.append({"service": svc, "env": envname, **status.to_dict(),
                             "timeslice_s": objective.timeslice_s if objective.method == METHOD_TIMESLICES else None})
    return {
        "generated_at": now.isoformat(timespec="seconds"), "service": service, "env": env, "days": days,
        "accounting": {"unknown_reasons": sorted(UNKNOWN_REASONS), "good_outcomes": sorted(GOOD_OUTCOMES),
                       "windows": [label for label, _ in windows],
                       "p95": "last 24 h against the 24 h ending 7 days ago; per run: sampled p95, else elapsed"},
        "checks": checks, "objectives": statuses,
    }


def _when(condition: Any) -> Any:
    from sqlalchemy import case

    return case((condition, 1), else_=0)


def _latencies(store: Any, service: str, env: str, check_id: str, start: datetime, end: datetime) -> list[float]:
    """The check's per-run latencies in [start, end), good and bad runs only (ix_checks_lookup)."""
    from sqlalchemy import select

    c = S.check_results.c
    query = select(c.outcome, c.reason, c.maintenance, c.latency_ms).where(
        c.service == service, c.env == env, c.check_id == check_id, c.started_at >= start, c.started_at < end)
    rows = store.read("reading latencies", lambda conn: conn.execute(query).all())
    return [float(v) for o, r, m, v in rows if v is not None and classify(o, r, bool(m)) in ("good", "bad")]


def _p95(values: list[float] | None) -> str | None:
    if not values:
        return None
    from opscheck.measure.stats import percentile

    return exact(Decimal(repr(round(percentile(sorted(values), 0.95), 3))), 3)


def current_state(store: Any, service: str, env: str, check_id: str, now: datetime) -> dict[str, Any]:
    """{"state", "since", "last_run", "reason", "family", "severity"}: the latest run's class, when
    its streak began, and the check's family and severity as the latest run recorded them."""
    from sqlalchemy import func, select

    c = S.check_results.c
    cls = class_case()
    base = select(c.started_at, cls, c.reason, c.family, c.severity).where(
        c.service == service, c.env == env, c.check_id == check_id, c.started_at < now)
    page = store.read("reading the current state", lambda conn: conn.execute(
        base.order_by(c.started_at.desc(), c.id.desc()).limit(STREAK_PAGE)).all())
    if not page:
        return {"state": "unknown", "since": None, "last_run": None, "reason": None, "family": None, "severity": None}
    state, reason, family, severity = page[0][1], page[0][2], page[0][3], page[0][4]
    since = page[0][0]
    for at, other, *_ in page:
        if other != state:
            break
        since = at
    else:
        if len(page) == STREAK_PAGE:  # a long streak: find where it began in SQL
            changed = store.read("reading the current state", lambda conn: conn.execute(
                select(func.max(c.started_at)).where(c.service == service, c.env == env, c.check_id == check_id,
                                                     c.started_at < now, cls != state)).scalar())
            first = select(func.min(c.started_at)).where(c.service == service, c.env == env, c.check_id == check_id,
                                                         c.started_at < now)
            if changed is not None:
                first = first.where(c.started_at > changed)
            found = store.read("reading the current state", lambda conn: conn.execute(first).scalar())
            since = _aware(found) if found is not None else since
    return {"state": state, "since": _aware(since).isoformat(timespec="seconds"),
            "last_run": _aware(page[0][0]).isoformat(timespec="seconds"), "reason": reason if state == "bad" else None,
            "family": family, "severity": severity}


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


STATE_WORDS = {"good": "UP", "bad": "FAILING", "unknown": "UNKNOWN", "maintenance": "MAINTENANCE"}


def render_text(report: dict[str, Any]) -> str:
    """The report for a terminal: one block per check, then the objectives."""
    lines = [f"opscheck history at {report['generated_at']} (uptime windows {', '.join(report['accounting']['windows'])}; "
             f"unknown runs: reasons {', '.join(report['accounting']['unknown_reasons'])} and skipped checks)"]
    if not report["checks"]:
        lines.append("no stored runs match (service/env) in this window")
    group = None
    for ch in report["checks"]:
        if (ch["service"], ch["env"]) != group:
            group = (ch["service"], ch["env"])
            lines.append("")
            lines.append(f"{ch['service']} / {ch['env'] or '-'}")
        lines.append(f"  {ch['check']}  [{ch['severity']}]")
        ups = "   ".join(f"{label} {_uptime_text(u)}" for label, u in ch["uptime"].items())
        lines.append(f"    uptime  {ups}")
        p95 = ch["p95_ms"]
        lines.append(f"    p95     now {_ms(p95['now'])} ({p95['now_runs']} runs, last 24 h)   "
                     f"7 d ago {_ms(p95['week_ago'])} ({p95['week_ago_runs']} runs)")
        lines.append(f"    flaky   {ch['flaky']} in {report['days']} d")
        state = STATE_WORDS.get(ch["state"], ch["state"])
        since = f" since {ch['since']}" if ch["since"] else ""
        why = f" ({ch['reason']})" if ch.get("reason") else ""
        lines.append(f"    state   {state}{why}{since}; last run {ch['last_run'] or '-'}")
    if report["objectives"]:
        lines.append("")
        lines.append("objectives (error budget: 1 - error/allowed; burn rate: error ratio / (1 - target))")
        for ob in report["objectives"]:
            up = ob["uptime"]
            unit = "slices" if ob["method"] == METHOD_TIMESLICES else "runs"
            lines.append(f"  {ob['name']}  [{ob['service']} / {ob['env'] or '-'}]")
            lines.append(f"    attainment {_pct(ob['attainment'])} ({ob['method']}: {up['good']}/{up['good'] + up['bad']} {unit}"
                         f"{', ' + str(up['unknown_runs']) + ' unknown runs' if up['unknown_runs'] else ''}) "
                         f"against {ob['target']} %: {'met' if ob['met'] else 'NOT MET' if ob['met'] is False else 'no data'}")
            lines.append(f"    error budget remaining {_pct(ob['error_budget_remaining'])}")
            burns = "; ".join(
                f"{b['threshold']}x {format_seconds(b['long_window_s'])}/{format_seconds(b['short_window_s'])}: "
                f"{b['long'] if b['long'] is not None else 'no data'}/{b['short'] if b['short'] is not None else 'no data'}"
                f"{' FIRING' if b['firing'] else ''}" for b in ob["burn_rates"])
            lines.append(f"    burn rates ({ob['method']}) {burns}")
    return "\n".join(lines)


def _uptime_text(u: dict[str, Any]) -> str:
    unit = "slices" if u["method"] == METHOD_TIMESLICES else "runs"
    value = show_percent(Decimal(u["percent"])) if u["percent"] is not None else "no data"
    extra = f", {u['unknown_runs']} unknown" if u["unknown_runs"] else ""
    extra += f", {u['maintenance_runs']} maint." if u["maintenance_runs"] else ""
    return f"{value} ({u['method']} {u['good']}/{u['good'] + u['bad']} {unit}{extra})"


def _pct(text: str | None) -> str:
    return show_percent(Decimal(text)) if text is not None else "no data"


def _ms(text: str | None) -> str:
    return f"{text} ms" if text is not None else "no data"
