"""The history store against real SQLite files and a real PostgreSQL cluster: concurrent writers
lose nothing, a writer killed mid-run leaves no half-written run, a second insert of a run key is a
no-op, an unreachable store fails fast with its password hidden, and both stores give the same
figures from the same runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from opscheck.config.objectives import Objective
from opscheck.history.report import build_report
from opscheck.history.store import HistoryUnavailable, open_store
from opscheck.results import RunInfo
from tests.history_data import T0, fill, record

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import sys, datetime
from opscheck.history.store import open_store
from opscheck.results import CheckResult, RunInfo
url, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = open_store(url)
t0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
dups = 0
for i in range(n):
    started = t0 + datetime.timedelta(minutes=i, seconds=worker)
    run = RunInfo("svc", "prod", None, "p.yaml", started.isoformat(), 1.0, 0)
    recs = [CheckResult(id=f"smoke::c{k}", nodeid="n", family="smoke", name=f"c{k}", severity="critical",
                        runbook=None, profile_field="", profile_line=None, outcome="passed", reason=None, message=None)
            for k in range(4)]
    store.record_run(run, recs, location=f"loc{worker}", release=None, run_key=f"w{worker}-{i}",
                     profile_path="p.yaml", profile_hash="h")
    if i % 5 == 0:  # every writer also races the others on one shared key per 5 runs
        dups += store.record_run(run, recs, location=f"loc{worker}", release=None, run_key=f"shared-{i}",
                                 profile_path="p.yaml", profile_hash="h").duplicate
print(dups)
"""

KILLED = r"""
import sys, time, datetime, pathlib
from opscheck.history.store import open_store
from opscheck.results import CheckResult, RunInfo
url, marker = sys.argv[1], pathlib.Path(sys.argv[2])
store = open_store(url)
def stop_here():
    marker.write_text("inside")
    time.sleep(60)
store._between_rows = stop_here
run = RunInfo("svc", "prod", None, "p.yaml", "2026-11-01T00:00:00+00:00", 1.0, 0)
recs = [CheckResult(id="smoke::c", nodeid="n", family="smoke", name="c", severity="critical", runbook=None,
                    profile_field="", profile_line=None, outcome="passed", reason=None, message=None)]
store.record_run(run, recs, location="here", release=None, run_key="killed", profile_path="p", profile_hash="h")
"""


def run_writers(url: str, procs: int = 8, runs: int = 25) -> list[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(w), str(runs)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env) for w in range(procs)]
    dups = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        dups.append(int(out.strip()))
    return dups


def assert_nothing_lost(url: str, procs: int = 8, runs: int = 25) -> None:
    store = open_store(url)
    stored = store.runs()
    keys = [r["run_key"] for r in stored]
    assert len(keys) == len(set(keys))
    own = [k for k in keys if k.startswith("w")]
    assert sorted(own) == sorted(f"w{w}-{i}" for w in range(procs) for i in range(runs))
    assert sorted(k for k in keys if k.startswith("shared")) == sorted(f"shared-{i}" for i in range(0, runs, 5))
    from sqlalchemy import func, select

    from opscheck.history import schema as S

    rows = store.read("count", lambda conn: conn.execute(select(func.count()).select_from(S.check_results)).scalar())
    assert rows == 4 * len(keys)


def test_eight_processes_writing_25_runs_each_to_sqlite_lose_nothing_and_store_each_shared_key_once(tmp_path):
    url = str(tmp_path / "history.db")  # no file yet: the writers race to create it and its tables
    dups = run_writers(url)
    assert sum(dups) == 7 * 5  # of 8 inserts of each of the 5 shared keys, 7 were no-ops
    assert_nothing_lost(url)


def test_eight_processes_writing_25_runs_each_to_postgresql_lose_nothing_and_store_each_shared_key_once(pg_cluster):
    url = pg_cluster.url(pg_cluster.create_database())
    dups = run_writers(url)  # the first writers race to create the tables, too
    assert sum(dups) == 7 * 5
    assert_nothing_lost(url)


def _kill_mid_run(url: str, tmp_path: Path) -> None:
    marker = tmp_path / "inside"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILLED, url, str(marker)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "the writer never reached the middle of its run"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(10)


def test_a_sqlite_writer_killed_between_its_run_row_and_its_check_rows_leaves_no_half_written_run(tmp_path):
    url = str(tmp_path / "history.db")
    open_store(url).close()
    _kill_mid_run(url, tmp_path)
    store = open_store(url)
    assert store.runs() == [] and store.series() == []
    # ...and the store still takes writes: the lock died with the process.
    assert store.record_run(RunInfo("svc", "prod", None, "p", "2026-11-01T00:00:00+00:00"), [record("smoke::c", "passed")],
                            location="here", release=None, run_key="killed", profile_path="p", profile_hash="h").duplicate is False


def test_a_postgresql_writer_killed_mid_run_leaves_no_half_written_run(pg_cluster, tmp_path):
    url = pg_cluster.url(pg_cluster.create_database())
    open_store(url).close()
    _kill_mid_run(url, tmp_path)
    store = open_store(url, deadline_s=20)
    assert store.runs() == [] and store.series() == []
    write = store.record_run(RunInfo("svc", "prod", None, "p", "2026-11-01T00:00:00+00:00"), [record("smoke::c", "passed")],
                             location="here", release=None, run_key="killed", profile_path="p", profile_hash="h")
    assert write.duplicate is False and write.checks == 1


def test_an_unreachable_postgresql_store_fails_within_its_deadline_in_one_line_without_the_password():
    started = time.monotonic()
    with pytest.raises(HistoryUnavailable) as caught:
        open_store("postgresql+psycopg://ops:hunter2-pw-99@127.0.0.1:9/history", deadline_s=4)
    assert time.monotonic() - started < 4 + 3
    text = str(caught.value)
    assert "hunter2-pw-99" not in text and "\n" not in text and "127.0.0.1:9" in text


def test_a_bare_path_in_a_missing_folder_and_a_bad_url_are_refused_in_one_line(tmp_path):
    with pytest.raises(HistoryUnavailable, match="does not exist"):
        open_store(str(tmp_path / "nope" / "history.db"))
    with pytest.raises(HistoryUnavailable, match="not a usable URL"):
        open_store("nosuchdriver+x://u:topsecret@h/db")


OBJECTIVES = [Objective("smoke::health", Decimal("99.9"), 7 * 86400, "timeslices", 600, Decimal(100)),
              Objective("slo::search", Decimal("95"), 3 * 86400, "occurrences")]


def test_sqlite_and_postgresql_give_the_same_figures_from_the_same_runs(tmp_path, pg_cluster):
    sqlite = open_store(str(tmp_path / "history.db"))
    postgres = open_store(pg_cluster.url(pg_cluster.create_database()))
    fill(sqlite)
    fill(postgres)
    now = T0 + timedelta(minutes=10 * 300)
    a = build_report(sqlite, service="svc", env="prod", days=30, now=now, objectives=OBJECTIVES)
    b = build_report(postgres, service="svc", env="prod", days=30, now=now, objectives=OBJECTIVES)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    checks = {c["check"]: c for c in a["checks"]}
    health = checks["smoke::health"]
    assert health["method"] == "timeslices" and health["uptime"]["1d"]["method"] == "timeslices"
    search = checks["slo::search"]
    assert search["uptime"]["30d"]["unknown_runs"] == 2 * 9 - 2 * 0  # i % 37 == 0 for 9 of 300 runs, 2 locations
    assert search["flaky"] == 2 * 27  # i % 11 == 0 for 28 runs, but i = 0 failed with no_data
    fresh = checks["data::fresh"]
    assert fresh["state"] == "good" and fresh["uptime"]["30d"]["maintenance_runs"] == 10
    from opscheck.history.accounting import Point, classify, uptime

    for check in checks.values():  # the SQL CASE of the state and the GROUP BY agree with the one rule
        runs = sqlite.check_runs("svc", "prod", check["check"], until=now)
        assert check["state"] == classify(runs[-1].outcome, runs[-1].reason, runs[-1].maintenance)
        if check["method"] == "runs":
            points = [Point(r.started_at, classify(r.outcome, r.reason, r.maintenance)) for r in runs]
            assert check["uptime"]["1d"] == uptime(points, now, 86400).to_dict()
    objective = next(o for o in a["objectives"] if o["check"] == "smoke::health")
    assert objective["method"] == "timeslices" and objective["attainment"] is not None
