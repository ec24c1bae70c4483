"""One run's alerts: read each check's state from the history, decide, route, send, log, report.

`Notifier.run(records, run_id)` returns the `notifications` part of results.json (see
results.schema.json, `$defs/notifications`):

    {"status": "sent" | "quiet" | "delivery_failed" | "maintenance" | "no_history" | "history_error",
     "note": "one line for the terminal",
     "maintenance": ["window description", ...],
     "alerts": [{"check", "action": "firing|resolved|reminder", "why", "receivers": [names]}],
     "deliveries": [{"receiver", "kind", "check", "state", "reminder", "refresh", "attempts", "ok", "error"}]}

Delivery log: every send (alerts, Alertmanager refreshes, the fallback notice, test alerts) is
written with `HistoryStore.record_delivery`; the alert state of a check is its newest firing or
resolved delivery. Test alerts and fallback notices are logged under their own check ids
(TEST_CHECK, DELIVERY_CHECK) so they never change a check's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from opscheck.config.notify import NotifyConfig, Receiver
from opscheck.evidence.redact import Redactor
from opscheck.notify import payloads, rules
from opscheck.notify.payloads import Alert
from opscheck.notify.send import Sender, SendResult
from opscheck.results import CheckResult

TEST_CHECK = "opscheck::test-alert"
DELIVERY_CHECK = "opscheck::alert-delivery"
MAX_RUNS_READ = 5000


def body_for(receiver: Receiver, alert: Alert) -> Any:
    if receiver.kind == "slack":
        return payloads.slack_payload(alert)
    if receiver.kind == "alertmanager":
        return payloads.alertmanager_payload(alert, receiver.ttl)
    return payloads.webhook_payload(alert)


@dataclass
class Planned:
    """One check's decision with what it will send."""

    record: CheckResult
    decision: rules.Decision
    alert: Alert | None
    receivers: list[Receiver]
    refresh: list[Receiver]  # Alertmanager receivers re-told that a firing alert still fires


class Notifier:
    """Alerts of one run for one service and environment, seen from `location`."""

    def __init__(self, config: NotifyConfig, store: Any, redactor: Redactor, *, service: str, env: str | None,
                 location: str | None, now: Callable[[], datetime] | None = None, verify_tls: bool = True) -> None:
        self.config = config
        self.store = store
        self.redactor = redactor
        self.service = service
        self.env = env or ""
        self.location = location
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.verify_tls = verify_tls
        redactor.add_secrets(config.secrets())

    # --- deciding ----------------------------------------------------------------------------

    def plan(self, records: list[CheckResult], run_id: int | None = None) -> list[Planned]:
        """The decision for each check of this run (reads the history; raises HistoryUnavailable)."""
        now = self.now()
        out = []
        for record in records:
            last = self.store.last_delivery(self.service, self.env, record.id)
            last_state = last.state if last is not None and last.state in ("firing", "resolved") else None
            last_firing_at = None
            if last_state == "firing":
                sent = [d for d in self.store.deliveries(self.service, self.env, record.id, since=now - self.config.lookback)
                        if d.state == "firing" and not (d.detail or {}).get("refresh")]
                last_firing_at = sent[-1].sent_at if sent else last.sent_at
            decision = self._decide(record.id, now, last_state, last_firing_at)
            fields = {"severity": record.severity, "family": record.family, "check": record.id, "service": self.service}
            routed = self.config.receivers_for(fields)
            alert, receivers, refresh = None, [], []
            if decision.action is not None:
                alert = self._alert(record, decision, now, run_id)
                receivers = [r for r in routed if not (decision.action == "reminder" and r.kind == "alertmanager")]
                refresh = [r for r in routed if decision.action == "reminder" and r.kind == "alertmanager"]
            elif last_state == "firing" and decision.since is not None:
                refresh = [r for r in routed if r.kind == "alertmanager"]
                if refresh:
                    alert = self._alert(record, decision, now, run_id, state="firing")
            out.append(Planned(record, decision, alert, receivers, refresh))
        return out

    def _decide(self, check_id: str, now: datetime, last_state: str | None, last_firing_at: datetime | None) -> rules.Decision:
        """Reads only the newest runs the rules need: a few slots' worth per threshold and quorum
        location, more (x4 each time, at most MAX_RUNS_READ) while the current streak reaches back
        past what was read, so `since` is the streak's true start within the lookback."""
        config = self.config
        need = max(config.failure_threshold, config.success_threshold) + 1
        limit = min(MAX_RUNS_READ, 8 * need * max(config.quorum, 2))
        while True:
            runs = self.store.check_runs(self.service, self.env, check_id, since=now - config.lookback, limit=limit)
            decision = rules.decide(runs, last_state=last_state, last_firing_at=last_firing_at, now=now,
                                    failure_threshold=config.failure_threshold,
                                    success_threshold=config.success_threshold,
                                    remind_every=config.remind_every, quorum=config.quorum)
            known = decision.extra.get("known", 0)
            truncated = len(runs) >= limit and limit < MAX_RUNS_READ
            if not truncated or known > decision.streak or (decision.since is None and known >= need):
                return decision
            limit = min(MAX_RUNS_READ, limit * 4)

    def _alert(self, record: CheckResult, decision: rules.Decision, now: datetime, run_id: int | None,
               state: str | None = None) -> Alert:
        action = state or decision.action or "firing"
        run = decision.run
        section = record.runbook.section if record.runbook else (getattr(run, "runbook_section", None) if run else None)
        link = record.runbook.link if record.runbook else (getattr(run, "runbook_link", None) if run else None)
        message = record.message if record.outcome == "failed" and action != "resolved" else decision.message
        if action == "resolved":
            message = f"recovered: passed {decision.streak} run(s) in a row" + (f"; was: {decision.message}" if decision.message else "")
        return Alert(
            state="resolved" if action == "resolved" else "firing", service=self.service, env=self.env,
            check=record.id, family=record.family, severity=record.severity,
            reason=decision.reason, message=self.redactor.text(message or ""), runbook_section=section,
            runbook_link=link, locations=decision.locations, since=decision.since, at=now, run_id=run_id,
            reminder=action == "reminder", failing_slots=decision.streak if action != "resolved" else 0)

    # --- sending -----------------------------------------------------------------------------

    def run(self, records: list[CheckResult], run_id: int | None = None) -> dict[str, Any]:
        """Decide and send this run's alerts; the results.json section. Never raises."""
        from opscheck.history.store import HistoryUnavailable

        section: dict[str, Any] = {"status": "quiet", "note": "", "maintenance": [], "alerts": [], "deliveries": []}
        try:
            planned = self.plan(records, run_id)
        except HistoryUnavailable as exc:
            section.update(status="history_error", note=self.redactor.text(f"no alerts: the history could not be read: {exc}"))
            return section
        except Exception as exc:  # noqa: BLE001 - deciding must never fail the run's checks
            section.update(status="history_error",
                           note=self.redactor.text(f"no alerts: deciding them failed: {type(exc).__name__}: {exc}"))
            return section
        with Sender(self.redactor, self.config.timeout_s, self.config.budget_s, self.verify_tls) as sender:
            for item in planned:
                if item.alert is None:
                    continue
                if item.decision.action is not None:
                    section["alerts"].append({"check": item.record.id, "action": item.decision.action,
                                              "why": item.decision.why,
                                              "receivers": [r.name for r in item.receivers]})
                state = item.alert.state
                for receiver in item.receivers:
                    self._deliver(sender, section, receiver, item.alert, state, run_id, refresh=False)
                for receiver in item.refresh:
                    self._deliver(sender, section, receiver, item.alert, "firing", run_id, refresh=True)
            self._fallback(sender, section, run_id)
        alerts = section["alerts"]
        failed = [d for d in section["deliveries"] if not d["ok"]]
        if failed:
            names = sorted({d["receiver"] for d in failed})
            section["status"] = "delivery_failed"
            section["note"] = f"{len(alerts)} alert(s); delivery failed to {', '.join(names)}"
        elif alerts:
            section["status"] = "sent"
            section["note"] = f"{len(alerts)} alert(s) sent"
        else:
            section["note"] = "no state change: no alert"
        unrouted = [a["check"] for a in alerts if not a["receivers"]]
        if unrouted:
            section["note"] += f"; no route for {', '.join(unrouted)}"
        return section

    def _deliver(self, sender: Sender, section: dict[str, Any], receiver: Receiver, alert: Alert, state: str,
                 run_id: int | None, *, refresh: bool, check: str | None = None, body: Any = None) -> SendResult:
        result = sender.send(receiver, body if body is not None else body_for(receiver, alert))
        entry = {"receiver": receiver.name, "kind": receiver.kind, "check": check or alert.check, "state": state,
                 "reminder": alert.reminder, "refresh": refresh, "attempts": result.attempts, "ok": result.ok,
                 "error": result.error}
        section["deliveries"].append(entry)
        self._log(entry, run_id, section)
        return result

    def _log(self, entry: dict[str, Any], run_id: int | None, section: dict[str, Any]) -> None:
        try:
            self.store.record_delivery(
                service=self.service, env=self.env, check_id=entry["check"], receiver=entry["receiver"],
                state=entry["state"], attempts=entry["attempts"], ok=entry["ok"], error=entry["error"], run_id=run_id,
                location=self.location, sent_at=self.now(),
                detail={"kind": entry["kind"], "reminder": entry["reminder"], "refresh": entry["refresh"]})
        except Exception as exc:  # noqa: BLE001 - a lost log line is reported, never fatal
            entry["logged"] = False
            section.setdefault("log_errors", []).append(self.redactor.text(f"{type(exc).__name__}: {exc}"))

    def _fallback(self, sender: Sender, section: dict[str, Any], run_id: int | None) -> None:
        name = self.config.fallback
        fallback = self.config.receivers.get(name) if name else None
        failed: dict[str, list[str]] = {}
        for entry in section["deliveries"]:
            if not entry["ok"] and entry["receiver"] != name:
                failed.setdefault(entry["receiver"], []).append(f"{entry['state']} {entry['check']}: {entry['error']}")
        if fallback is None or not failed:
            return
        now = self.now()
        for receiver_name, errors in failed.items():
            body = payloads.fallback_payload(fallback.kind, receiver_name, errors, now, self.service, self.env)
            alert = Alert("firing", self.service, self.env, DELIVERY_CHECK, "notify", "warning", "delivery", None, at=now)
            self._deliver(sender, section, fallback, alert, "fallback", run_id, refresh=False, check=DELIVERY_CHECK,
                          body=body)

    # --- notify --test -------------------------------------------------------------------------

    def test(self) -> dict[str, Any]:
        """A test alert through every route's receivers (and the fallback), each once; logged when
        a store is given. The section, as `run` returns it."""
        section: dict[str, Any] = {"status": "sent", "note": "", "maintenance": [], "alerts": [], "deliveries": []}
        names: list[str] = []
        for route in self.config.routes:
            names += [n for n in route.to if n not in names]
        if not self.config.routes:
            names = list(self.config.receivers)
        if self.config.fallback and self.config.fallback not in names:
            names.append(self.config.fallback)
        now = self.now()
        alert = Alert("test", self.service, self.env, TEST_CHECK, "notify", "info", None,
                      "opscheck notify --test: a test alert; no action needed", at=now)
        with Sender(self.redactor, self.config.timeout_s, self.config.budget_s, self.verify_tls) as sender:
            for name in names:
                receiver = self.config.receivers[name]
                if self.store is None:
                    result = sender.send(receiver, body_for(receiver, alert))
                    section["deliveries"].append({"receiver": name, "kind": receiver.kind, "check": TEST_CHECK,
                                                  "state": "test", "reminder": False, "refresh": False,
                                                  "attempts": result.attempts, "ok": result.ok, "error": result.error})
                else:
                    self._deliver(sender, section, receiver, alert, "test", None, refresh=False)
        failed = [d["receiver"] for d in section["deliveries"] if not d["ok"]]
        section["status"] = "delivery_failed" if failed else "sent"
        section["note"] = (f"test alert failed for {', '.join(failed)}" if failed
                           else f"test alert delivered to {len(section['deliveries'])} receiver(s)")
        return section
