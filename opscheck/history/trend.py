"""The trend report (one self-contained HTML page, no script, no network), the incident listing and
the Pushgateway delete calls.

    write_trend("reports/trend.html", store, build_report(store, ...))

First what an on-call engineer looks for: a summary (a row per check: state, uptime per window, p95,
incidents, its latest alert), then the incidents, newest and open first (at most MAX_INCIDENTS; past
INCIDENTS_SHOWN the older ones fold into a <details>), each with its alerts (firing, reminders,
resolved: when, to which receiver, delivered or not) and linked to its runbook section. Then per
check: an outcome timeline (one cell per run, the newest TIMELINE_RUNS runs, the page's width) and
the latency per run on a time axis with its budget (the `limit` of the newest run judged in ms),
both labelled with their first and last run's time, uptime bars for each window with their method,
and the burn-rate table of its objectives. Timestamps never wrap. Everything is inline SVG and CSS,
laid out for 1366 px; every text is HTML-escaped.
"""

from __future__ import annotations

import html
import os
import tempfile
from base64 import urlsafe_b64encode
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Sequence

from opscheck.history.accounting import classify, show_percent
from opscheck.history.incidents import Incident, derive, format_seconds

TIMELINE_RUNS = 240
MAX_INCIDENTS = 200
INCIDENTS_SHOWN = 12  # open, then newest; the rest fold away
CHART_W = 1100  # SVG user units; the SVGs scale to the page's width
COLOURS = {"good": "#2e7d32", "bad": "#c62828", "unknown": "#9e9e9e", "maintenance": "#1565c0"}
FLAKY_COLOUR = "#8e44ad"
DEGRADED_COLOUR = "#b36b00"


def collect_incidents(store: Any, *, service: str | None = None, env: str | None = None, days: int = 30,
                      now: datetime | None = None) -> tuple[datetime, list[Incident]]:
    """(now, incidents that overlap the last `days` days), oldest first."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=days)
    found: list[Incident] = []
    for svc, envname, check_id in store.series(service, env):
        runs = store.check_states(svc, envname, check_id, since=since, until=now)
        if not runs:
            continue
        alerts = store.deliveries(service=svc, env=envname, check_id=check_id, since=since)
        incidents = derive(svc, envname, runs, alerts)
        details = store.run_details(check_id, sorted({i.run_id for i in incidents})) if incidents else {}
        for incident in incidents:
            first = details.get(incident.run_id)
            if first is not None:
                incident.severity, incident.message, incident.release = first.severity, first.message, first.release
                incident.runbook_section, incident.runbook_anchor = first.runbook_section, first.runbook_anchor
                incident.runbook_link = first.runbook_link
        found.extend(incidents)
    return now, sorted(found, key=lambda i: (i.start, i.service, i.check_id, i.location))


def render_incidents(incidents: Sequence[Incident], now: datetime) -> str:
    """A text table: start, end, duration, time to detect, time to recover, check, reason, runbook."""
    if not incidents:
        return "no incidents in this window"
    lines = [f"{'start (UTC)':<20} {'end':<20} {'duration':>9} {'detect':>7} {'recover':>8}  check / location / reason -> runbook"]
    for i in incidents:
        end = i.end.isoformat(timespec="seconds").replace("+00:00", "Z") if i.end else "OPEN"
        lines.append(f"{i.start.isoformat(timespec='seconds').replace('+00:00', 'Z'):<20} {end:<20} "
                     f"{format_seconds(i.duration_s(now)):>9} {format_seconds(i.time_to_detect_s):>7} "
                     f"{format_seconds(i.time_to_recover_s):>8}  {i.service}/{i.env or '-'} {i.check_id} @ {i.location} "
                     f"[{i.reason or '-'}] ({i.failing_runs} failing runs, detected by {i.detected_by}) "
                     f"-> {i.runbook_section or '(no runbook section)'} {i.runbook_link or ''}".rstrip())
    return "\n".join(lines)


def pushgateway_deletes(groups: Sequence[tuple[str, str, str, datetime]], base: str, job: str, cutoff: datetime,
                        *, service: str | None = None, env: str | None = None) -> list[str]:
    """`curl -X DELETE` lines for (service, env, location) groups whose newest run is before
    `cutoff`. Label values go base64url-encoded (`label@base64/value`, the Pushgateway's form for
    values with a slash or empty values) when they need it."""
    from opscheck.evidence.redact import strip_userinfo

    shown = strip_userinfo(base)[0].rstrip("/")
    out = []
    for svc, envname, location, last in groups:
        if (service is not None and svc != service) or (env is not None and envname != env) or last >= cutoff:
            continue
        path = "/".join(_label(k, v) for k, v in (("job", job), ("service", svc), ("env", envname),
                                                   ("location", location)))
        out.append(f"curl -X DELETE '{shown}/metrics/{path}'   # last run {last.isoformat(timespec='seconds')}")
    return out


def _label(name: str, value: str) -> str:
    if value and "/" not in value and value.isprintable() and "'" not in value and "%" not in value:
        from urllib.parse import quote

        return f"{name}/{quote(value, safe='')}"
    encoded = urlsafe_b64encode(value.encode()).decode() or "="
    return f"{name}@base64/{encoded}"


# --- HTML ------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1320px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:20px 0 6px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}
.check{border:1px solid #e0e0e0;border-radius:6px;padding:8px 14px;margin:14px 0}
.state-good{color:#2e7d32;font-weight:600}.state-bad{color:#c62828;font-weight:600}.state-unknown,.state-maintenance{color:#666;font-weight:600}
.firing{color:#c62828;font-weight:600}svg{display:block;max-width:100%}.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.num,.ts{white-space:nowrap;font-variant-numeric:tabular-nums}svg.wide{width:100%;height:auto}
.summary{background:#fafafa;border:1px solid #e0e0e0;border-radius:6px;padding:6px 14px}
ul.alerts{margin:0;padding-left:16px;min-width:380px}.summary h2{margin-top:8px}.bad{color:#c62828;font-weight:600}
.open{color:#c62828;font-weight:700}details summary{cursor:pointer;margin:8px 0}
"""


def write_trend(path: str, store: Any, report: dict[str, Any], *, now: datetime | None = None) -> None:
    """Write the page atomically (a temp file renamed over `path`). Raises OSError, HistoryUnavailable."""
    now = now or datetime.fromisoformat(report["generated_at"])
    days = int(report["days"])
    _, incidents = collect_incidents(store, service=report["service"], env=report["env"], days=days, now=now)
    page = render_trend(store, report, incidents, now)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trend-", suffix=".html", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def render_trend(store: Any, report: dict[str, Any], incidents: Sequence[Incident], now: datetime) -> str:
    e = html.escape
    days = int(report["days"])
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
             "<title>opscheck trend report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>opscheck trend report</h1>",
             f"<p class=\"muted\">Generated {_ts_text(report['generated_at'])} over the last {days} days. "
             f"Unknown runs (reasons {e(', '.join(report['accounting']['unknown_reasons']))}, skipped checks) "
             "count neither up nor down; maintenance runs spend no error budget. Each figure names its method.</p>",
             ]
    legend = ("<p class=\"legend\">" + "".join(
                 f"<span><i class=\"sw\" style=\"background:{c}\"></i>{e(n)}</span>" for n, c in
                 (("up", COLOURS["good"]), ("flaky", FLAKY_COLOUR), ("degraded", DEGRADED_COLOUR), ("down", COLOURS["bad"]),
                  ("unknown", COLOURS["unknown"]), ("maintenance", COLOURS["maintenance"]))) + "</p>")
    objectives_by_check: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for ob in report["objectives"]:
        objectives_by_check.setdefault((ob["service"], ob["env"], ob["check"]), []).append(ob)
    # Open incidents first, then the newest: what needs attention now leads the page.
    shown = sorted(incidents, key=lambda i: (i.end is None, i.start), reverse=True)[:MAX_INCIDENTS]
    parts.append(_summary(report, incidents, now))
    more = f", the newest {len(shown)} shown" if len(shown) < len(incidents) else ""
    parts.append(f"<h2 id=\"incidents\">Incidents ({len(incidents)}{more})</h2>")
    parts.append(_incident_table(shown[:INCIDENTS_SHOWN], now))
    if len(shown) > INCIDENTS_SHOWN:
        parts.append(f"<details><summary>{len(shown) - INCIDENTS_SHOWN} older incidents</summary>"
                     f"{_incident_table(shown[INCIDENTS_SHOWN:], now)}</details>")
    parts.append("<h2 id=\"checks\">Checks</h2>")
    parts.append(legend)
    if not report["checks"]:
        parts.append("<p>No stored runs in this window.</p>")
    for ch in report["checks"]:
        since = now - timedelta(days=days)
        runs = store.check_runs(ch["service"], ch["env"], ch["check"], since=since, until=now, limit=TIMELINE_RUNS)
        state = ch["state"]
        parts.append(f"<section class=\"check\" id=\"{e(_anchor(ch))}\"><h3>{e(ch['check'])} "
                     f"<span class=\"muted\">{e(ch['service'])} / {e(ch['env'] or '-')} · {e(ch['severity'])}</span></h3>")
        parts.append(f"<p>State <span class=\"state-{e(state)}\">{e(_state_word(state))}</span>"
                     f"{' (' + e(ch['reason']) + ')' if ch.get('reason') else ''} since {_ts_text(ch['since'])}; "
                     f"flaky {ch['flaky']} in {days} d; p95 now {e(_ms(ch['p95_ms']['now']))} vs 7 d ago "
                     f"{e(_ms(ch['p95_ms']['week_ago']))}.</p>")
        parts.append(f"<p class=\"muted\">Outcome timeline: the last {len(runs)} runs, oldest left.</p>")
        parts.append(_timeline(runs))
        parts.append(_latency_chart(runs))
        parts.append(_uptime_bars(ch))
        for ob in objectives_by_check.get((ch["service"], ch["env"], ch["check"]), []):
            parts.append(_objective_table(ob))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _ts(value: datetime | None) -> str:
    """One timestamp that never wraps: `2026-11-30 02:47:09 UTC`."""
    if value is None:
        return "-"
    text = value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<span class=\"ts\">{text}</span>"


def _ts_text(text: str | None) -> str:
    if not text:
        return "-"
    try:
        return _ts(datetime.fromisoformat(text))
    except ValueError:
        return f"<span class=\"ts\">{html.escape(text)}</span>"


def _summary(report: dict[str, Any], incidents: Sequence[Incident], now: datetime) -> str:
    """The page's top: counts, then a row per check linking to its card."""
    e = html.escape
    checks = report["checks"]
    states: dict[str, int] = {}
    for ch in checks:
        states[_state_word(ch["state"]).lower()] = states.get(_state_word(ch["state"]).lower(), 0) + 1
    open_ = [i for i in incidents if i.end is None]
    alerts = [a for i in incidents for a in i.alerts]
    unique = {(a["sent_at"], a["state"], a["receiver"]) for a in alerts}
    failed = {(a["sent_at"], a["state"], a["receiver"]) for a in alerts if not a["ok"]}
    line = (f"{len(checks)} check{'s' if len(checks) != 1 else ''}: "
            + (", ".join(f"{n} {w}" for w, n in states.items()) or "none")
            + f" · <span class=\"{'open' if open_ else ''}\">{len(open_)} open incident{'s' if len(open_) != 1 else ''}</span>"
            + f", {len(incidents)} in {int(report['days'])} d · alerts: {len(unique)} sent"
            + (f", <span class=\"bad\">{len(failed)} not delivered</span>" if failed else ""))
    windows = list(checks[0]["uptime"]) if checks else []
    head = ("<tr><th>check</th><th>state</th>" + "".join(f"<th class=\"num\">uptime {e(w)}</th>" for w in windows)
            + "<th class=\"num\">p95 now</th><th class=\"num\">incidents</th><th>latest alert</th></tr>")
    rows = []
    for ch in checks:
        mine = [i for i in incidents if (i.service, i.env, i.check_id) == (ch["service"], ch["env"], ch["check"])]
        latest = max((a for i in mine for a in i.alerts), key=lambda a: a["sent_at"], default=None)
        cells = "".join(f"<td class=\"num\">{e(show_percent(Decimal(u['percent'])) if u['percent'] is not None else 'no data')}</td>"
                        for u in ch["uptime"].values())
        rows.append(f"<tr><td><a href=\"#{e(_anchor(ch))}\">{e(ch['check'])}</a><br><span class=\"muted\">"
                    f"{e(ch['service'])} / {e(ch['env'] or '-')}</span></td>"
                    f"<td><span class=\"state-{e(ch['state'])}\">{e(_state_word(ch['state']))}</span><br>"
                    f"<span class=\"muted\">since {_ts_text(ch['since'])}</span></td>{cells}"
                    f"<td class=\"num\">{e(_ms(ch['p95_ms']['now']))}</td>"
                    f"<td class=\"num\">{len(mine)}{' (' + str(sum(i.end is None for i in mine)) + ' open)' if any(i.end is None for i in mine) else ''}</td>"
                    f"<td>{_alert_text(latest) if latest else '<span class=muted>none</span>'}</td></tr>")
    return (f"<section id=\"summary\" class=\"summary\"><h2>Summary</h2><p>{line}</p>"
            f"<table>{head}{''.join(rows)}</table></section>")


def _alert_text(a: dict[str, Any]) -> str:
    """`2026-11-30 02:47:09 UTC FIRING -> webhook receiver "notify-url": delivered (1 attempt)`."""
    e = html.escape
    state = "REMINDER" if a.get("reminder") else str(a.get("state", "")).upper()
    to = f"{e(a.get('kind') or 'a')} receiver \"{e(str(a.get('receiver')))}\""
    tries = a.get("attempts")
    tried = f" ({tries} attempt{'s' if tries != 1 else ''})" if isinstance(tries, int) else ""
    result = (f"delivered{tried}" if a.get("ok")
              else f"<span class=\"bad\">NOT delivered{tried}</span>{': ' + e(str(a['error'])[:160]) if a.get('error') else ''}")
    when = _ts_text(a.get("sent_at"))
    return f"{when} {e(state)} → {to}: {result}"


def _anchor(ch: dict[str, Any]) -> str:
    return "check-" + "".join(x if x.isalnum() else "-" for x in f"{ch['service']}-{ch['env']}-{ch['check']}")


def _state_word(state: str) -> str:
    return {"good": "UP", "bad": "FAILING", "unknown": "UNKNOWN", "maintenance": "MAINTENANCE"}.get(state, state)


def _ms(text: str | None) -> str:
    return f"{text} ms" if text is not None else "no data"


def _colour(run: Any) -> str:
    cls = classify(run.outcome, run.reason, run.maintenance)
    if cls == "good" and (run.outcome == "flaky" or run.attempts > 1):
        return FLAKY_COLOUR
    if cls == "good" and run.outcome == "degraded":
        return DEGRADED_COLOUR
    return COLOURS[cls]


def _timeline(runs: Sequence[Any]) -> str:
    """One cell per run across the page's width, the first and last run's time under it."""
    if not runs:
        return "<p class=\"muted\">No runs in this window.</p>"
    step = CHART_W / len(runs)
    gap = 1.0 if step >= 4 else 0.0
    rects = []
    for i, run in enumerate(runs):
        title = (f"{run.started_at.isoformat(timespec='seconds')} @ {run.location}: {run.outcome}"
                 f"{' [' + run.reason + ']' if run.reason else ''}{' (maintenance)' if run.maintenance else ''}"
                 f"{': ' + run.message if run.message else ''}")
        rects.append(f"<rect x=\"{i * step:.2f}\" y=\"0\" width=\"{max(step - gap, 0.5):.2f}\" height=\"26\" "
                     f"fill=\"{_colour(run)}\"><title>{html.escape(title[:300])}</title></rect>")
    return (f"<svg class=\"wide\" role=\"img\" aria-label=\"outcome timeline\" viewBox=\"0 0 {CHART_W} 44\" "
            f"xmlns=\"http://www.w3.org/2000/svg\">{''.join(rects)}{_time_labels(runs, 0, CHART_W, 40)}</svg>")


def _time_labels(runs: Sequence[Any], left: float, right: float, y: float) -> str:
    """The first and last run's time at the ends of an axis (SVG text, 12 units)."""
    first, last = runs[0].started_at, runs[-1].started_at
    fmt = "%Y-%m-%d %H:%M UTC"
    start = html.escape(first.astimezone(timezone.utc).strftime(fmt))
    end = html.escape(last.astimezone(timezone.utc).strftime(fmt))
    return (f"<text x=\"{left}\" y=\"{y}\" font-size=\"12\" fill=\"#555\">{start}</text>"
            f"<text x=\"{right}\" y=\"{y}\" font-size=\"12\" fill=\"#555\" text-anchor=\"end\">{end}</text>")


def _budget(runs: Sequence[Any]) -> float | None:
    for run in reversed(runs):
        if run.unit == "ms" and run.limit is not None:
            try:
                return float(Decimal(run.limit))
            except ArithmeticError:
                return None
    return None


def _latency_chart(runs: Sequence[Any]) -> str:
    """The latency per run against its start time (a time axis from the first to the last run, with
    both times and the middle one labelled), 0 and the highest value on the y axis, the budget dashed."""
    timed = [r for r in runs if r.latency_ms is not None]
    if not timed:
        return "<p class=\"muted\">No latency recorded.</p>"
    budget = _budget(runs)
    width, height, pad, bottom = CHART_W, 170, 56, 40
    top = max([r.latency_ms for r in timed] + ([budget] if budget is not None else [])) * 1.1 or 1.0
    t0, t1 = runs[0].started_at, runs[-1].started_at
    span = max((t1 - t0).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return pad + (width - pad - 8) * (at - t0).total_seconds() / span

    def y(v: float) -> float:
        return height - bottom - (height - bottom - 10) * v / top

    points = " ".join(f"{x(r.started_at):.1f},{y(r.latency_ms):.1f}" for r in timed)
    axis = height - bottom
    middle = t0 + (t1 - t0) / 2
    out = [f"<svg class=\"wide\" role=\"img\" aria-label=\"latency per run\" viewBox=\"0 0 {width} {height}\" "
           f"xmlns=\"http://www.w3.org/2000/svg\">",
           f"<line x1=\"{pad}\" y1=\"{axis}\" x2=\"{width - 8}\" y2=\"{axis}\" stroke=\"#999\"/>",
           f"<line x1=\"{pad}\" y1=\"10\" x2=\"{pad}\" y2=\"{axis}\" stroke=\"#ccc\"/>",
           f"<text x=\"{pad - 4}\" y=\"{y(top / 1.1) + 4:.1f}\" font-size=\"12\" text-anchor=\"end\">{top / 1.1:.0f} ms</text>",
           f"<text x=\"{pad - 4}\" y=\"{axis + 4}\" font-size=\"12\" text-anchor=\"end\">0</text>"]
    for at, anchor in ((t0, "start"), (middle, "middle"), (t1, "end")):
        out.append(f"<line x1=\"{x(at):.1f}\" y1=\"{axis}\" x2=\"{x(at):.1f}\" y2=\"{axis + 5}\" stroke=\"#999\"/>"
                   f"<text x=\"{x(at):.1f}\" y=\"{axis + 18}\" font-size=\"12\" fill=\"#555\" text-anchor=\"{anchor}\">"
                   f"{html.escape(at.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}</text>")
    out.append(f"<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" points=\"{points}\"/>")
    if budget is not None:
        out.append(f"<line x1=\"{pad}\" y1=\"{y(budget):.1f}\" x2=\"{width - 8}\" y2=\"{y(budget):.1f}\" "
                   f"stroke=\"#c62828\" stroke-dasharray=\"4 3\"/>")
        out.append(f"<text x=\"{width - 8}\" y=\"{y(budget) - 3:.1f}\" font-size=\"12\" fill=\"#c62828\" "
                   f"text-anchor=\"end\">budget {budget:g} ms</text>")
    out.append(f"<text x=\"{pad}\" y=\"{height - 4}\" font-size=\"12\" fill=\"#666\">latency per run (sampled p95, "
               f"else elapsed) against the run's start time</text></svg>")
    return "".join(out)


def _uptime_bars(ch: dict[str, Any]) -> str:
    rows = []
    for label, u in ch["uptime"].items():
        value = Decimal(u["percent"]) if u["percent"] is not None else None
        width = 0 if value is None else float(value) * 3
        unit = "slices" if u["method"] == "timeslices" else "runs"
        rows.append(
            f"<tr><td>{html.escape(label)}</td><td><svg width=\"300\" height=\"12\" xmlns=\"http://www.w3.org/2000/svg\">"
            f"<rect width=\"300\" height=\"12\" fill=\"#eee\"/><rect width=\"{width:.1f}\" height=\"12\" "
            f"fill=\"{COLOURS['good'] if value is not None else COLOURS['unknown']}\"/></svg></td>"
            f"<td class=\"num\">{html.escape(show_percent(value))}</td><td>{html.escape(u['method'])}: {u['good']}/"
            f"{u['good'] + u['bad']} {unit}; {u['unknown_runs']} unknown, {u['maintenance_runs']} maintenance runs</td></tr>")
    return "<table><tr><th>window</th><th>uptime</th><th class=\"num\">%</th><th>method and counts</th></tr>" + "".join(rows) + "</table>"


def _objective_table(ob: dict[str, Any]) -> str:
    e = html.escape
    head = (f"<p><b>Objective {e(ob['name'])}</b>: attainment {e(_pct(ob['attainment']))} against {e(ob['target'])} % "
            f"({e(ob['method'])}), error budget remaining {e(_pct(ob['error_budget_remaining']))}.</p>")
    rows = []
    for b in ob["burn_rates"]:
        firing = b["firing"]
        verdict = "<span class=\"firing\">FIRING</span>" if firing else ("no data" if firing is None else "ok")
        rows.append(f"<tr><td class=\"num\">{e(b['threshold'])}</td><td>{e(format_seconds(b['long_window_s']))}</td>"
                    f"<td class=\"num\">{e(b['long'] if b['long'] is not None else 'no data')}</td>"
                    f"<td>{e(format_seconds(b['short_window_s']))}</td>"
                    f"<td class=\"num\">{e(b['short'] if b['short'] is not None else 'no data')}</td><td>{verdict}</td></tr>")
    return (head + "<table><tr><th>burn-rate threshold</th><th>long window</th><th>burn rate</th><th>short window</th>"
            "<th>burn rate</th><th>alert</th></tr>" + "".join(rows) + "</table>")


def _pct(text: str | None) -> str:
    return show_percent(Decimal(text)) if text is not None else "no data"


def _incident_table(incidents: Sequence[Incident], now: datetime) -> str:
    if not incidents:
        return "<p>No incidents in this window.</p>"
    e = html.escape
    rows = []
    for i in incidents:
        link = (f"<a href=\"{e(i.runbook_link)}\">{e(i.runbook_section or i.runbook_link)}</a>"
                if i.runbook_link else e(i.runbook_section or "(no runbook section)"))
        end = _ts(i.end) if i.end else "<span class=\"open\">open</span>"
        alerts = ("<ul class=\"alerts\">" + "".join(f"<li>{_alert_text(a)}</li>" for a in i.alerts) + "</ul>"
                  if i.alerts else "<span class=\"muted\">no alert sent</span>")
        rows.append(
            f"<tr><td>{e(i.check_id)}<br><span class=\"muted\">{e(i.service)} / {e(i.env or '-')} @ {e(i.location)}</span></td>"
            f"<td>{_ts(i.start)}<br>{end}</td>"
            f"<td class=\"num\">{e(format_seconds(i.duration_s(now)))}</td><td class=\"num\">{e(format_seconds(i.time_to_detect_s))}"
            f"<br><span class=\"muted\">{e(i.detected_by)}</span></td><td class=\"num\">{e(format_seconds(i.time_to_recover_s))}</td>"
            f"<td>{e(i.reason or '-')}<br><span class=\"muted\">{e((i.message or '')[:160])}</span></td>"
            f"<td>{alerts}</td><td>{link}</td></tr>")
    return ("<table><tr><th>check</th><th>start / end</th><th>duration</th><th>time to detect</th>"
            "<th>time to recover</th><th>reason</th><th>alerts</th><th>runbook</th></tr>" + "".join(rows) + "</table>")
