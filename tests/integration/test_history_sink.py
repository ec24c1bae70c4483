"""The history sink with plain records (no pytest): it records a run once however often it is
asked, takes the maintenance flag the alerting sink sets, and never raises for a broken store."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from opscheck.history.recorder import HistorySink
from opscheck.history.store import open_store
from opscheck.results import RunInfo
from tests.history_data import record

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "opscheck" / "results.schema.json").read_text())
HISTORY_SCHEMA = {**SCHEMA["$defs"]["history"], "$defs": SCHEMA["$defs"]}
RUN = RunInfo("svc", "prod", None, "opscheck.yaml", "2026-11-30T03:07:12+00:00", 1.2, 0)


def sink(url: str) -> HistorySink:
    return HistorySink(url, location="eu-west", release="2.0", run_key=None, slot_s=900, profile_path="opscheck.yaml")


def test_ensure_recorded_writes_once_however_often_it_is_called_and_on_finish_adds_nothing(tmp_path):
    url = str(tmp_path / "history.db")
    history = sink(url)
    history.maintenance = lambda started: started.hour == 3  # as the alerting sink may set it
    first = history.ensure_recorded(RUN, [record("smoke::health", "passed")])
    assert history.ensure_recorded() is first
    history.on_finish(RUN, [record("smoke::health", "failed", "status")])
    assert first.duplicate is False and history.error is None
    (stored,) = open_store(url).runs()
    assert stored["run_key"] == "svc/prod/eu-west/2026-11-30T03:00:00Z" and stored["maintenance"] is True
    section = history.section()
    jsonschema.validate(section, HISTORY_SCHEMA)
    assert section["stored"] is True and section["maintenance"] is True and section["slot"] == "2026-11-30T03:00:00+00:00"


def test_a_second_sink_for_the_same_slot_is_a_duplicate_and_says_so(tmp_path):
    url = str(tmp_path / "history.db")
    sink(url).ensure_recorded(RUN, [record("smoke::health", "passed")])
    again = sink(url)
    write = again.ensure_recorded(RUN, [record("smoke::health", "passed")])
    assert write.duplicate is True and again.section()["duplicate"] is True and again.section()["stored"] is False
    assert "DUPLICATE run key" in again.summary_line()


def test_a_store_that_cannot_be_opened_leaves_an_error_and_no_exception(tmp_path):
    history = sink(str(tmp_path / "missing-folder" / "history.db"))
    assert history.ensure_recorded(RUN, [record("smoke::health", "passed")]) is None
    section = history.section()
    jsonschema.validate(section, HISTORY_SCHEMA)
    assert section["stored"] is False and "does not exist" in section["error"]
    assert history.summary_line().startswith("HISTORY NOT STORED")


def test_without_a_history_the_sink_records_nothing():
    history = HistorySink(None, location="x", release=None, run_key=None, slot_s=300, profile_path="p")
    assert history.ensure_recorded(RUN, []) is None and history.store is None and history.error is None
