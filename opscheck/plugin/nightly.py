"""pytest hooks for the run history (issue 12): `--history`, `--location`, `--release`, `--run-key`,
`--slot`. Loaded through `pytest_plugins` of `opscheck.plugin`.

With `--history URL` the controller stores the finished run once (opscheck.history.recorder). The
sink sits at `state.cache["opscheck.history"]` (also without `--history`, with `.store` None), so
the alerting sink can call its idempotent `ensure_recorded()` before it reads the history.

A store that cannot be reached or is locked never fails a check: the terminal says so, results.json
keeps the run (with its run key) for `opscheck history import`, and a run whose checks all passed
exits 6 instead of 0. A failing run keeps its exit 1 (or 2-5): the checks' verdict comes first, and
results.json's `history.stored: false` says the import is still due.
"""

from __future__ import annotations

from typing import Any

import pytest

CACHE_KEY = "opscheck.history"
HISTORY_ENV = "OPSCHECK_HISTORY"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck")
    group.addoption("--history", dest="opscheck_history", metavar="URL", default=None,
                    help="store the run in a history: a SQLite file path (history.db) or a SQLAlchemy URL "
                         "(postgresql+psycopg://user@host/db); default $OPSCHECK_HISTORY, so a password "
                         "can come from the environment instead of the command line.")
    group.addoption("--location", dest="opscheck_location", metavar="NAME", default=None,
                    help="where this run was made (region or runner) in the history (default: the host name).")
    group.addoption("--release", dest="opscheck_release", metavar="TEXT", default=None,
                    help="deploy marker stored with the run (e.g. a version or commit).")
    group.addoption("--run-key", dest="opscheck_run_key", metavar="KEY", default=None,
                    help="a run stored twice under one key is stored once "
                         "(default: service/env/location/slot start).")
    group.addoption("--slot", dest="opscheck_slot", metavar="DURATION", default="5m",
                    help="the schedule interval the default run key floors the start time to (default 5m).")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    import os

    url = config.getoption("opscheck_history", None) or os.environ.get(HISTORY_ENV) or None
    if state is None or state.target is None:
        if config.getoption("opscheck_history", None):
            raise pytest.UsageError("--history needs a run with a target: pass --env NAME or --base-url URL")
        return
    from opscheck.history import default_location
    from opscheck.history.recorder import HistorySink

    slot_text = config.getoption("opscheck_slot") or "5m"
    try:
        from opscheck.measure.bands import parse_duration

        slot_s = int(parse_duration(slot_text))
        if slot_s < 1:
            raise ValueError("must be at least 1 s")
    except Exception as exc:  # noqa: BLE001 - a bad option is a usage error, in one line
        raise pytest.UsageError(f"--slot: {slot_text!r}: {exc}") from None
    location = config.getoption("opscheck_location") or default_location()
    sink = HistorySink(url or None, location=location, release=config.getoption("opscheck_release"),
                       run_key=config.getoption("opscheck_run_key"), slot_s=slot_s,
                       profile_path=str(state.profile.path))
    state.cache[CACHE_KEY] = sink
    if url:
        state.sinks.append(_PluginSink(sink, state))


class _PluginSink:
    """The history sink inside a pytest run: records, then files the result in the run's state."""

    def __init__(self, sink: Any, state: Any) -> None:
        self.sink, self.state = sink, state

    def on_result(self, record: Any) -> None:
        pass

    def on_finish(self, run: Any, records: list[Any]) -> None:
        self.sink.on_finish(run, records)
        self.state.sections["history"] = self.state.redactor.data(self.sink.section())
        if self.sink.error is not None:
            from opscheck.results import EXIT_HISTORY_UNAVAILABLE

            session = self.state.session
            if session is not None and int(session.exitstatus) == 0:
                session.exitstatus = EXIT_HISTORY_UNAVAILABLE
                self.state.exit_code = EXIT_HISTORY_UNAVAILABLE


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    sink = state.cache.get(CACHE_KEY) if state is not None else None
    if sink is None or sink.url is None or not sink.done:
        return
    line = state.redactor.text(sink.summary_line())
    if sink.error is not None:
        from opscheck.results import EXIT_HISTORY_UNAVAILABLE

        where = f"{state.report_dir}/results.json" if state.report_dir is not None else "results.json"
        terminalreporter.write_line(f"opscheck {line}", red=True, bold=True)
        terminalreporter.write_line(f"opscheck history: the run is kept in {where}; store it later with "
                                    f"`opscheck history import {where} --history URL`"
                                    + (f" (exit code {EXIT_HISTORY_UNAVAILABLE})" if exitstatus == EXIT_HISTORY_UNAVAILABLE else ""),
                                    red=True)
    else:
        terminalreporter.write_line(f"opscheck {line}", yellow=bool(sink.write and sink.write.duplicate))
