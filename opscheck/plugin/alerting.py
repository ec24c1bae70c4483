"""pytest hooks for alerts and Prometheus export (issue 12): `--notify`, `--metrics-file`,
`--pushgateway`. Loaded through `pytest_plugins` of `opscheck.plugin`.

- Maintenance windows (`maintenance:`) are judged at the run's start: inside one, the history sink
  marks the run (`maintenance=True`) and no alert is sent.
- Alerts (`notify:` or `--notify URL`) are decided from the run history after the run is stored
  (the history sink's idempotent `ensure_recorded()` is called first). No history: no alerts, and
  the run says why. A receiver that fails or hangs never fails or hangs the run: its sends are
  bounded, retried once, reported in the terminal and in results.json's `notifications`.
- `--metrics-file PATH` writes the run's metrics atomically for node_exporter's textfile
  collector (a write that fails is an internal error: exit 3, as for results.json);
  `--pushgateway URL` pushes them (a push that fails is reported, the exit code stays the checks').
"""

from __future__ import annotations

from typing import Any

import pytest

SECTION = "notifications"
MAINTENANCE_KEY = "opscheck.maintenance"
HISTORY_KEY = "opscheck.history"
PUSH_TIMEOUT_S = 10.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck")
    group.addoption("--notify", dest="opscheck_notify", metavar="URL", default=None,
                    help="send alerts on state change to this generic JSON webhook (needs --history); "
                         "the profile's notify: section keeps its rules, this URL replaces its receivers.")
    group.addoption("--metrics-file", dest="opscheck_metrics_file", metavar="PATH", default=None,
                    help="write the run's results as Prometheus metrics (for node_exporter's textfile collector).")
    group.addoption("--pushgateway", dest="opscheck_pushgateway", metavar="URL", default=None,
                    help="push the run's metrics to a Prometheus Pushgateway, grouped by job, service, env, location.")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    notify_url = config.getoption("opscheck_notify", None)
    metrics_file = config.getoption("opscheck_metrics_file", None)
    pushgateway = config.getoption("opscheck_pushgateway", None)
    if state is None or state.target is None:
        if notify_url or metrics_file or pushgateway:
            raise pytest.UsageError("--notify/--metrics-file/--pushgateway need a run with a target: "
                                    "pass --env NAME or --base-url URL")
        return
    extras = state.profile.extras
    if not (notify_url or metrics_file or pushgateway or extras.get("notify") or extras.get("maintenance")):
        return  # nothing asked of this module: a plain run pays no import for it
    from opscheck.config.notify import NotifyConfig, check_url, for_url, url_secrets

    for option, url in (("--notify", notify_url), ("--pushgateway", pushgateway)):
        if url:
            state.redactor.add_secrets(url_secrets(url))
            cause = check_url(url)
            if cause:
                raise pytest.UsageError(f"{option}: {cause}")
    _maintenance(state)
    from opscheck.history import default_location

    location = config.getoption("opscheck_location", None) or default_location()
    config_: NotifyConfig | None = state.profile.extras.get("notify")
    if notify_url:
        import dataclasses

        cli = for_url(notify_url)
        config_ = dataclasses.replace(config_, receivers=cli.receivers, routes=(), fallback=None) if config_ else cli
    if config_ is not None and config_.receivers:
        state.redactor.add_secrets(config_.secrets())
        state.sinks.append(AlertSink(state, config_, location))
    if metrics_file or pushgateway:
        state.sinks.append(MetricsSink(state, metrics_file, pushgateway, location))


def _maintenance(state: Any) -> None:
    """Inside a maintenance window at the run's start: tell the history sink (the run is stored
    with maintenance=True) and note the windows for the alert sink and results.json."""
    from opscheck.config.notify import active_windows

    windows = state.profile.extras.get("maintenance") or []
    env = state.target.environment if state.target is not None else None
    try:
        active = active_windows(windows, state.started_at, env)
    except Exception as exc:  # noqa: BLE001 - the loader checked every window; this is the last guard
        raise pytest.UsageError(f"{state.profile.path}: maintenance: cannot evaluate a window: {type(exc).__name__}: {exc}") from None
    if not active:
        return
    state.cache[MAINTENANCE_KEY] = True
    state.cache[MAINTENANCE_KEY + ".windows"] = [w.describe() for w in active]
    _mark_history(state)


def _mark_history(state: Any) -> None:
    history = state.cache.get(HISTORY_KEY)
    if state.cache.get(MAINTENANCE_KEY) and history is not None and hasattr(history, "maintenance"):
        history.maintenance = True


def pytest_sessionstart(session: pytest.Session) -> None:
    """After every configure hook: the history sink exists now, whichever configured first."""
    from opscheck.plugin import STATE_KEY

    state = session.config.stash.get(STATE_KEY, None)
    if state is not None and not hasattr(session.config, "workerinput"):
        _mark_history(state)


def _section(state: Any) -> dict[str, Any]:
    """results.json's `notifications` part, shared by both sinks (either may run first)."""
    section = state.sections.get(SECTION)
    if section is None:
        section = state.sections[SECTION] = {"status": "off", "note": "alerts off (no notify: section, no --notify)",
                                             "maintenance": list(state.cache.get(MAINTENANCE_KEY + ".windows", [])),
                                             "alerts": [], "deliveries": []}
    return section


class AlertSink:
    """Decides and sends the run's alerts once the run is in the history (see module docstring)."""

    def __init__(self, state: Any, config: Any, location: str) -> None:
        self.state, self.config, self.location = state, config, location

    def on_result(self, record: Any) -> None:
        pass

    def on_finish(self, run: Any, records: list[Any]) -> None:
        state = self.state
        section = _section(state)
        prometheus = section.get("prometheus")
        result = self._notify(run, records)
        result["maintenance"] = list(state.cache.get(MAINTENANCE_KEY + ".windows", []))
        if prometheus is not None:
            result["prometheus"] = prometheus
        section.clear()
        section.update(state.redactor.data(result))

    def _notify(self, run: Any, records: list[Any]) -> dict[str, Any]:
        state = self.state
        empty: dict[str, Any] = {"alerts": [], "deliveries": []}
        history = state.cache.get(HISTORY_KEY)
        if history is None or getattr(history, "url", None) is None:
            return {"status": "no_history", **empty,
                    "note": "no alerts: alerts need the run history to see a state change (pass --history PATH or URL)"}
        if state.cache.get(MAINTENANCE_KEY):
            windows = ", ".join(state.cache.get(MAINTENANCE_KEY + ".windows", [])) or "a maintenance window"
            history.ensure_recorded(run, records)
            return {"status": "maintenance", **empty, "note": f"no alerts: inside maintenance window {windows}"}
        write = history.ensure_recorded(run, records)
        if write is None or history.store is None:
            return {"status": "history_error", **empty,
                    "note": f"no alerts: the run history is unavailable ({history.error or 'the run was not stored'})"}
        if getattr(write, "duplicate", False):
            return {"status": "quiet", **empty,
                    "note": f"no alerts: duplicate run key; run {write.run_id} already holds this slot and decided its alerts"}
        from opscheck.notify.dispatch import Notifier

        notifier = Notifier(self.config, history.store, state.redactor, service=run.service, env=run.environment,
                            location=self.location, verify_tls=state.profile.http.verify_tls)
        return notifier.run(records, write.run_id)


class MetricsSink:
    """Writes and pushes the run's Prometheus metrics (opscheck.export.prometheus)."""

    def __init__(self, state: Any, path: str | None, gateway: str | None, location: str) -> None:
        self.state, self.path, self.gateway, self.location = state, path, gateway, location

    def on_result(self, record: Any) -> None:
        pass

    def on_finish(self, run: Any, records: list[Any]) -> None:
        from opscheck.export.prometheus import ExportError, build_registry, push, write_textfile

        state = self.state
        exit_code = run.exit_code
        history = state.cache.get(HISTORY_KEY)
        if history is not None and getattr(history, "url", None) is not None:
            # The history sink may change a passing run's exit code (store unavailable); the
            # exported code must be the one the run ends with. Recording is idempotent.
            history.ensure_recorded(run, records)
            if history.error is not None and exit_code == 0:
                from opscheck.results import EXIT_HISTORY_UNAVAILABLE

                exit_code = EXIT_HISTORY_UNAVAILABLE
        registry = build_registry(run, records, location=self.location, exit_code=exit_code)
        info: dict[str, Any] = {"textfile": self.path, "written": False,
                                "pushgateway": state.redactor.url(self.gateway) if self.gateway else None,
                                "pushed": False, "error": None}
        _section(state)["prometheus"] = info
        if self.gateway:
            try:
                push(self.gateway, registry, service=run.service, env=run.environment, location=self.location,
                     timeout_s=PUSH_TIMEOUT_S, redactor=state.redactor)
                info["pushed"] = True
            except ExportError as exc:
                info["error"] = str(exc)
        if self.path:
            try:
                write_textfile(self.path, registry)
                info["written"] = True
            except ExportError as exc:
                info["error"] = "; ".join(filter(None, [info["error"], str(exc)]))
                raise


def _receivers(names: list[str], kinds: dict[str, str]) -> str:
    """`webhook receiver "notify-url"`, `slack receiver "oncall" and webhook receiver "audit"`: the kind
    says where the alert went (a receiver is never the terminal)."""
    if not names:
        return "no receiver: no route matched"
    return " and ".join(f'{kinds.get(n) or "a"} receiver "{n}"' for n in names)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    section = state.sections.get(SECTION) if state is not None else None
    if not section:
        return
    from opscheck.report.terminal import plural

    write = terminalreporter.write_line
    status = section.get("status")
    if status != "off":
        bad = status in ("delivery_failed", "history_error")
        write(f"opscheck notify: {section.get('note', '')}", red=bad, yellow=status in ("maintenance", "no_history"), bold=bad)
        kinds = {d.get("receiver"): d.get("kind") for d in section.get("deliveries", [])}
        for alert in section.get("alerts", []):
            write(f"  {alert['action'].upper()} {alert['check']} -> {_receivers(alert['receivers'], kinds)}: {alert['why']}")
        for delivery in section.get("deliveries", []):
            if not delivery["ok"]:
                attempts = plural(delivery["attempts"], "attempt")
                write(f"  NOT DELIVERED to {delivery['kind']} receiver \"{delivery['receiver']}\": {delivery['state']} "
                      f"{delivery['check']} after {attempts}: {delivery['error']}", red=True)
    prometheus = section.get("prometheus")
    if prometheus:
        done = []
        if prometheus.get("written"):
            done.append(f"wrote {prometheus['textfile']}")
        if prometheus.get("pushed"):
            done.append(f"pushed to {prometheus['pushgateway']}")
        if done:
            write(f"opscheck metrics: {'; '.join(done)}")
        if prometheus.get("error"):
            write(f"opscheck metrics: NOT EXPORTED: {prometheus['error']}", red=True, bold=True)
