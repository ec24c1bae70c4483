"""The trend report (one self-contained HTML page, no script, no network), the incident listing and
the Pushgateway delete calls.

    write_trend("reports/trend.html", store, build_report(store, ...))

Per check: an outcome timeline (one cell per run, the newest TIMELINE_RUNS runs), the latency per
run over time with its budget (the `limit` of the newest run judged in ms), uptime bars for each
window with their method, and the burn-rate table of its objectives. Then the incidents, each
linked to its runbook section, newest first (at most MAX_INCIDENTS). Everything is inline SVG and CSS; every text is HTML-escaped.
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
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:20px 0 6px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}
.check{border:1px solid #e0e0e0;border-radius:6px;padding:8px 14px;margin:14px 0}
.state-good{color:#2e7d32;font-weight:600}.state-bad{color:#c62828;font-weight:600}.state-unknown,.state-maintenance{color:#666;font-weight:600}
.firing{color:#c62828;font-weight:600}svg{display:block;max-width:100%}.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
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
             f"<p class=\"muted\">Generated {e(report['generated_at'])} over the last {days} days. "
             f"Unknown runs (reasons {e(', '.join(report['accounting']['unknown_reasons']))}, skipped checks) "
             "count neither up nor down; maintenance runs spend no error budget. Each figure names its method.</p>",
             "<p class=\"legend\">" + "".join(
                 f"<span><i class=\"sw\" style=\"background:{c}\"></i>{e(n)}</span>" for n, c in
                 (("up", COLOURS["good"]), ("flaky", FLAKY_COLOUR), ("degraded", DEGRADED_COLOUR), ("down", COLOURS["bad"]),
                  ("unknown", COLOURS["unknown"]), ("maintenance", COLOURS["maintenance"]))) + "</p>"]
    objectives_by_check: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for ob in report["objectives"]:
        objectives_by_check.setdefault((ob["service"], ob["env"], ob["check"]), []).append(ob)
    parts.append("<h2 id=\"checks\">Checks</h2>")
    if not report["checks"]:
        parts.append("<p>No stored runs in this window.</p>")
    for ch in report["checks"]:
        since = now - timedelta(days=days)
        runs = store.check_runs(ch["service"], ch["env"], ch["check"], since=since, until=now, limit=TIMELINE_RUNS)
        state = ch["state"]
        parts.append(f"<section class=\"check\" id=\"{e(_anchor(ch))}\"><h3>{e(ch['check'])} "
                     f"<span class=\"muted\">{e(ch['service'])} / {e(ch['env'] or '-')} · {e(ch['severity'])}</span></h3>")
        parts.append(f"<p>State <span class=\"state-{e(state)}\">{e(_state_word(state))}</span>"
                     f"{' (' + e(ch['reason']) + ')' if ch.get('reason') else ''} since {e(ch['since'] or '-')}; "
                     f"flaky {ch['flaky']} in {days} d; p95 now {e(_ms(ch['p95_ms']['now']))} vs 7 d ago "
                     f"{e(_ms(ch['p95_ms']['week_ago']))}.</p>")
        parts.append(f"<p class=\"muted\">Outcome timeline: the last {len(runs)} runs, oldest left.</p>")
        parts.append(_timeline(runs))
        parts.append(_latency_chart(runs))
        parts.append(_uptime_bars(ch))
        for ob in objectives_by_check.get((ch["service"], ch["env"], ch["check"]), []):
            parts.append(_objective_table(ob))
        parts.append("</section>")
    shown = sorted(incidents, key=lambda i: i.start, reverse=True)[:MAX_INCIDENTS]
    more = f", the newest {len(shown)} shown" if len(shown) < len(incidents) else ""
    parts.append(f"<h2 id=\"incidents\">Incidents ({len(incidents)}{more})</h2>")
    parts.append(_incident_table(shown, now))
    parts.append("</body></html>")
    return "\n".join(parts)


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
    if not runs:
        return "<p class=\"muted\">No runs in this window.</p>"
    cell, gap = 8, 1
    width = len(runs) * (cell + gap)
    rects = []
    for i, run in enumerate(runs):
        title = (f"{run.started_at.isoformat(timespec='seconds')} @ {run.location}: {run.outcome}"
                 f"{' [' + run.reason + ']' if run.reason else ''}{' (maintenance)' if run.maintenance else ''}"
                 f"{': ' + run.message if run.message else ''}")
        rects.append(f"<rect x=\"{i * (cell + gap)}\" y=\"0\" width=\"{cell}\" height=\"18\" fill=\"{_colour(run)}\">"
                     f"<title>{html.escape(title[:300])}</title></rect>")
    return (f"<svg role=\"img\" aria-label=\"outcome timeline\" width=\"{width}\" height=\"18\" "
            f"viewBox=\"0 0 {width} 18\" xmlns=\"http://www.w3.org/2000/svg\">{''.join(rects)}</svg>")


def _budget(runs: Sequence[Any]) -> float | None:
    for run in reversed(runs):
        if run.unit == "ms" and run.limit is not None:
            try:
                return float(Decimal(run.limit))
            except ArithmeticError:
                return None
    return None


def _latency_chart(runs: Sequence[Any]) -> str:
    values = [(i, r.latency_ms) for i, r in enumerate(runs) if r.latency_ms is not None]
    if not values:
        return "<p class=\"muted\">No latency recorded.</p>"
    budget = _budget(runs)
    width, height, pad = 720, 140, 36
    top = max([v for _, v in values] + ([budget] if budget is not None else [])) * 1.1 or 1.0
    n = max(1, len(runs) - 1)

    def x(i: int) -> float:
        return pad + (width - pad - 8) * i / n

    def y(v: float) -> float:
        return height - 20 - (height - 30) * v / top

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in values)
    out = [f"<svg role=\"img\" aria-label=\"latency per run\" width=\"{width}\" height=\"{height}\" "
           f"viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
           f"<line x1=\"{pad}\" y1=\"{height - 20}\" x2=\"{width - 8}\" y2=\"{height - 20}\" stroke=\"#999\"/>",
           f"<text x=\"2\" y=\"{y(top / 1.1) + 4:.1f}\" font-size=\"10\">{top / 1.1:.0f} ms</text>",
           f"<text x=\"2\" y=\"{height - 16}\" font-size=\"10\">0</text>",
           f"<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" points=\"{points}\"/>"]
    if budget is not None:
        out.append(f"<line x1=\"{pad}\" y1=\"{y(budget):.1f}\" x2=\"{width - 8}\" y2=\"{y(budget):.1f}\" "
                   f"stroke=\"#c62828\" stroke-dasharray=\"4 3\"/>")
        out.append(f"<text x=\"{width - 120}\" y=\"{y(budget) - 3:.1f}\" font-size=\"10\" fill=\"#c62828\">"
                   f"budget {budget:g} ms</text>")
    out.append(f"<text x=\"{pad}\" y=\"{height - 4}\" font-size=\"10\" fill=\"#666\">latency per run (sampled p95, "
               f"else elapsed), oldest left</text></svg>")
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
        rows.append(
            f"<tr><td>{e(i.check_id)}<br><span class=\"muted\">{e(i.service)} / {e(i.env or '-')} @ {e(i.location)}</span></td>"
            f"<td>{e(i.start.isoformat(timespec='seconds'))}</td><td>{e(i.end.isoformat(timespec='seconds')) if i.end else '<b>open</b>'}</td>"
            f"<td class=\"num\">{e(format_seconds(i.duration_s(now)))}</td><td class=\"num\">{e(format_seconds(i.time_to_detect_s))}"
            f"<br><span class=\"muted\">{e(i.detected_by)}</span></td><td class=\"num\">{e(format_seconds(i.time_to_recover_s))}</td>"
            f"<td>{e(i.reason or '-')}<br><span class=\"muted\">{e((i.message or '')[:160])}</span></td><td>{link}</td></tr>")
    return ("<table><tr><th>check</th><th>start</th><th>end</th><th>duration</th><th>time to detect</th>"
            "<th>time to recover</th><th>reason</th><th>runbook</th></tr>" + "".join(rows) + "</table>")
