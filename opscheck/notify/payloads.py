"""What each receiver gets: one `Alert`, three wire formats.

Generic JSON webhook (`{webhook: URL}`), `POST URL` with `Content-Type: application/json`:

    {"version": 1, "source": "opscheck",
     "state": "firing",                 # firing | resolved | test
     "reminder": false,                 # true: still failing, sent again after remind_every
     "service": "checkout", "env": "prod", "check": "smoke::health", "family": "smoke",
     "severity": "critical", "reason": "status",
     "message": "GET /health: status 503, expected 200",      # one line
     "runbook": {"section": "API Not Responding", "link": "https://.../RUNBOOK.md#api-not-responding"},
     "locations": ["eu-west", "us-east"],                      # where it was seen failing
     "since": "2026-11-30T02:00:03+00:00",                     # first failing run of the streak
     "at": "2026-11-30T04:00:02+00:00",                        # this alert
     "run_id": 4711, "failing_slots": 3}

Slack-compatible incoming webhook (`{slack: URL}`, also Mattermost and Rocket.Chat): `{"text": ...}`
with mrkdwn naming state, check, service, env, severity, reason, the one-line message and a link to
the runbook section.

Alertmanager (`{alertmanager: URL}`): `POST URL/api/v2/alerts` with a list of one alert:
labels alertname=OpscheckCheckFailing, service, env, check, family, severity, reason;
annotations summary, description, runbook_url; startsAt = the streak's first failing run; endsAt =
now + the receiver's ttl while firing (a later run re-sends it), now when resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

PAYLOAD_VERSION = 1
ALERTNAME = "OpscheckCheckFailing"
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Alert:
    """One alert about one check. `state`: firing | resolved | test. Times aware UTC."""

    state: str
    service: str
    env: str
    check: str
    family: str
    severity: str
    reason: str | None
    message: str | None
    runbook_section: str | None = None
    runbook_link: str | None = None
    locations: tuple[str, ...] = ()
    since: datetime | None = None
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    run_id: int | None = None
    reminder: bool = False
    failing_slots: int = 0

    def one_line(self) -> str:
        text = " ".join((self.message or "").split())
        return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"

    def title(self) -> str:
        word = {"firing": "FAILING", "resolved": "RECOVERED", "test": "TEST"}.get(self.state, self.state.upper())
        if self.reminder:
            word = "STILL FAILING"
        return f"{word}: {self.check} on {self.service} ({self.env or '-'})"


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The generic JSON payload (module docstring)."""
    return {
        "version": PAYLOAD_VERSION, "source": "opscheck", "state": alert.state, "reminder": alert.reminder,
        "service": alert.service, "env": alert.env, "check": alert.check, "family": alert.family,
        "severity": alert.severity, "reason": alert.reason, "message": alert.one_line(),
        "runbook": ({"section": alert.runbook_section, "link": alert.runbook_link}
                    if alert.runbook_section or alert.runbook_link else None),
        "locations": list(alert.locations),
        "since": alert.since.isoformat(timespec="seconds") if alert.since else None,
        "at": alert.at.isoformat(timespec="seconds"), "run_id": alert.run_id, "failing_slots": alert.failing_slots,
    }


def _mrkdwn(text: str) -> str:
    # Slack's three control characters in text; links and mentions are ours alone.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message: `text` in mrkdwn."""
    icon = {"firing": ":red_circle:", "resolved": ":large_green_circle:", "test": ":white_circle:"}.get(alert.state, "")
    lines = [f"{icon} *{_mrkdwn(alert.title())}*",
             f"severity *{_mrkdwn(alert.severity)}* · reason *{_mrkdwn(alert.reason or '-')}* · family {_mrkdwn(alert.family)}"]
    if alert.locations:
        lines[-1] += f" · seen from {_mrkdwn(', '.join(alert.locations))}"
    if alert.one_line():
        lines.append(f"> {_mrkdwn(alert.one_line())}")
    if alert.since is not None and alert.state != "test":
        lines.append(f"failing since {alert.since:%Y-%m-%d %H:%M} UTC")
    if alert.runbook_link:
        label = _mrkdwn(alert.runbook_section or "runbook").replace("|", "/")
        lines.append(f"Runbook: <{alert.runbook_link}|{label}>")
    elif alert.runbook_section:
        lines.append(f"Runbook: {_mrkdwn(alert.runbook_section)}")
    return {"text": "\n".join(lines), "username": "opscheck"}


def alertmanager_payload(alert: Alert, ttl: timedelta) -> list[dict[str, Any]]:
    """The body of `POST /api/v2/alerts` (Alertmanager's OpenAPI `postableAlerts`)."""
    labels = {"alertname": ALERTNAME, "service": alert.service, "env": alert.env or "-", "check": alert.check,
              "family": alert.family, "severity": alert.severity, "reason": alert.reason or "unknown"}
    if alert.state == "test":
        labels["alertname"] = "OpscheckTest"
    starts = alert.since or alert.at
    ends = alert.at if alert.state == "resolved" else alert.at + ttl
    if alert.state == "test":
        ends = alert.at + timedelta(minutes=5)
    summary = alert.title()
    description = alert.one_line() or summary
    return [{
        "labels": labels,
        "annotations": {"summary": summary, "description": description, "runbook_url": alert.runbook_link or ""},
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(max(ends, starts)),
    }]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def fallback_payload(kind: str, failed: str, errors: list[str], at: datetime, service: str, env: str) -> Any:
    """What the fallback receiver hears when another receiver failed: who failed, what was lost."""
    alert = Alert(state="firing", service=service, env=env, check="opscheck::alert-delivery", family="notify",
                  severity="warning", reason="delivery",
                  message=f"receiver {failed} failed: {'; '.join(errors[:3])}"
                          + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""), at=at)
    if kind == "slack":
        return slack_payload(alert)
    if kind == "alertmanager":
        return alertmanager_payload(alert, timedelta(hours=1))
    body = webhook_payload(alert)
    body["state"] = "fallback"
    body["failed_receiver"] = failed
    return body
