"""The history sink: stores a finished run once, and says what happened.

A live run (opscheck.plugin.nightly) and `opscheck history import results.json` share this code:
both hand a `RunInfo` and its `CheckResult` records to `HistorySink`.

    sink = HistorySink("history.db", location="eu-west", release=None, run_key=None, slot_s=300,
                       profile_path="opscheck.yaml")
    sink.on_finish(run, records)        # or sink.ensure_recorded(run, records): idempotent
    sink.store, sink.write, sink.error  # HistoryStore | None, RunWrite | None, str | None
    sink.section()                      # results.json's "history" part (JSON-able, redacted)

An unreachable or locked store never raises out of the sink: `error` holds the one-line reason
and the run keeps its results in results.json for a later import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from opscheck.results import CheckResult, RunInfo


class HistorySink:
    """A Sink (opscheck.results.Sink) writing the run to the history store once."""

    def __init__(self, url: str | None, *, location: str, release: str | None, run_key: str | None,
                 slot_s: int, profile_path: str, profile_hash: str | None = None, source: str = "run") -> None:
        self.url = url
        self.location = location
        self.release = release
        self.run_key_option = run_key
        self.slot_s = slot_s
        self.profile_path = profile_path
        self.profile_hash = profile_hash
        self.source = source
        self.store: Any = None  # HistoryStore, once opened
        self.write: Any = None  # RunWrite, once recorded
        self.error: str | None = None
        self.run_key: str | None = None
        self.slot: datetime | None = None
        self.done = False
        self.was_maintenance = False
        # Set by whoever knows maintenance windows (opscheck.plugin.alerting) before the run is
        # recorded: True, or a callable(started_at) -> bool. Maintenance runs spend no error budget.
        self.maintenance: bool | Callable[[datetime], bool] = False
        self._run: RunInfo | None = None
        self._records: list[CheckResult] = []

    def on_result(self, record: CheckResult) -> None:
        pass

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        self._run, self._records = run, list(records)
        self.ensure_recorded(run, records)

    def in_maintenance(self, started: datetime) -> bool:
        flag = self.maintenance
        try:
            return bool(flag(started)) if callable(flag) else bool(flag)
        except Exception:  # noqa: BLE001 - a broken window check never loses the run
            return False

    def ensure_recorded(self, run: RunInfo | None = None, records: list[CheckResult] | None = None) -> Any:
        """Record the run unless it was already tried; returns the RunWrite, or None when there
        is no history or it could not be written (then `error` says why). Never raises."""
        if self.done or self.url is None:
            return self.write
        run = run or self._run
        records = self._records if records is None else records
        if run is None:
            return None
        self.done = True
        from opscheck.history.store import (HistoryUnavailable, default_run_key, hash_profile, open_store,
                                            parse_started, slot_of)

        try:
            started = parse_started(run.started_at)
            self.slot = slot_of(started, self.slot_s)
            self.run_key = self.run_key_option or default_run_key(run.service, run.environment, self.location, self.slot)
            if self.profile_hash is None:
                self.profile_hash = hash_profile(self.profile_path)
            self.was_maintenance = self.in_maintenance(started)
            self.store = open_store(self.url)
            self.write = self.store.record_run(
                run, records, location=self.location, release=self.release, run_key=self.run_key,
                profile_path=self.profile_path, profile_hash=self.profile_hash,
                maintenance=self.was_maintenance, slot=self.slot, source=self.source)
        except HistoryUnavailable as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the history never fails the checks; the run says so
            from opscheck.history.store import redact_url

            self.error = f"history store {redact_url(self.url)}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return self.write

    def section(self) -> dict[str, Any]:
        """results.json's `history` part (see results.schema.json `$defs/history`)."""
        from opscheck.history.store import redact_url

        stored = self.write is not None and not self.write.duplicate
        return {
            "store": redact_url(self.url) if self.url else None,
            "stored": stored,
            "duplicate": bool(self.write is not None and self.write.duplicate),
            "run_id": self.write.run_id if self.write is not None else None,
            "run_key": self.run_key,
            "slot": self.slot.isoformat() if self.slot else None,
            "location": self.location,
            "release": self.release,
            "profile_hash": self.profile_hash,
            "maintenance": self.was_maintenance,
            "error": self.error,
        }

    def summary_line(self) -> str:
        """One line for the terminal."""
        if self.error is not None:
            return f"HISTORY NOT STORED: {self.error}"
        if self.write is None:
            return "history: not recorded"
        if self.write.duplicate:
            return (f"history: DUPLICATE run key {self.run_key}: this run was not stored "
                    f"(run {self.write.run_id} already holds the slot)")
        return f"history: stored run {self.write.run_id} ({self.write.checks} checks, key {self.run_key})"

