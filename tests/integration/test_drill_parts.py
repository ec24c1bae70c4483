"""The restore drill's parts against real processes and a real SQLite database: the restore
command's bounds and output tail, the table facts and checksums, and the snapshot's refusals."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from opscheck.config.restore import ChecksumSpec, DatabaseSpec, RestoreSpec, TableSpec
from opscheck.drill.database import Database, DatabaseError, snapshot_tables, table_facts
from opscheck.drill.process import READER_GRACE_S, TAIL_LINES, run_command
from opscheck.drill.snapshot import SnapshotUsageError, take_snapshot


def test_a_restore_command_keeps_its_exit_code_and_a_bounded_tail_of_its_output() -> None:
    ticks: list[float] = []
    result = run_command([sys.executable, "-c", "import sys\nfor i in range(100): print('line', i)\nsys.exit(3)"], 30,
                         on_tick=lambda elapsed, last: ticks.append(elapsed))
    assert result.exit_code == 3 and not result.timed_out
    assert len(result.tail) == TAIL_LINES and result.tail[-1] == "line 99"


def test_a_restore_command_that_cannot_start_is_an_error_not_a_crash() -> None:
    result = run_command(["/nonexistent/restore-tool"], 5)
    assert result.exit_code is None and "cannot start" in (result.error or "")


def test_a_background_process_holding_the_output_open_does_not_stall_the_drill(tmp_path: Path) -> None:
    import psutil

    pid_file = tmp_path / "background.pid"
    started = time.monotonic()
    result = run_command(["/bin/sh", "-c", f"sleep 30 & echo $! > {pid_file}; echo done"], 20)
    try:
        assert result.exit_code == 0 and "done" in result.tail
        assert time.monotonic() - started < READER_GRACE_S + 10  # bounded: did not wait for the sleep
    finally:
        try:
            psutil.Process(int(pid_file.read_text())).kill()  # the one process this test left behind
        except (OSError, ValueError, psutil.Error):
            pass


def test_a_restore_command_past_its_timeout_is_killed_with_its_whole_tree(tmp_path: Path) -> None:
    import psutil

    pid_file = tmp_path / "grandchild.pid"
    started = time.monotonic()
    result = run_command(["/bin/sh", "-c", f"sleep 300 & echo $! > {pid_file}; echo started; wait"], 1.0)
    assert result.timed_out and result.exit_code is None and "started" in result.tail
    assert time.monotonic() - started < 15  # the 1 s bound, the kill grace and slack
    grandchild = int(pid_file.read_text())
    assert grandchild in result.killed
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount NUMERIC, updated_at TEXT)"))
        conn.execute(text("INSERT INTO orders VALUES (:i, :a, :t)"),
                     [{"i": i, "a": i * 1.5, "t": f"2026-11-30 02:{i:02d}:00"} for i in range(1, 41)])
    engine.dispose()
    return url


ORDERS = TableSpec("orders", updated_at="updated_at", checksum=ChecksumSpec(key="id"))


def test_table_facts_give_rows_newest_and_a_checksum_over_the_key_range(sqlite_url: str) -> None:
    facts = snapshot_tables(DatabaseSpec("DB", (ORDERS,)), sqlite_url)["tables"][0]
    assert facts["rows"] == 40 and facts["newest"] == "2026-11-30T02:40:00+00:00"
    assert (facts["checksum"]["first"], facts["checksum"]["last"], facts["checksum"]["rows"]) == (1, 40, 40)
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:  # the same count, another value: only the checksum sees it
        conn.execute(text("UPDATE orders SET amount = 0 WHERE id = 7"))
        conn.execute(text("INSERT INTO orders VALUES (41, 1, '2026-11-30 03:00:00')"))  # outside the recorded range
    engine.dispose()
    with Database(sqlite_url, 10).connect() as db:
        again = table_facts(db, ORDERS, (1, 40))
    assert again["rows"] == 41 and again["checksum"]["rows"] == 40
    assert again["checksum"]["sha256"] != facts["checksum"]["sha256"]


def test_a_missing_table_and_an_unreachable_database_are_one_clean_line(sqlite_url: str, tmp_path: Path) -> None:
    with Database(sqlite_url, 10).connect() as db, pytest.raises(DatabaseError, match="no such table"):
        table_facts(db, TableSpec("gone"))
    url = "postgresql+psycopg://app:pw-secret-1@127.0.0.1:9/db"
    with pytest.raises(DatabaseError) as error:
        with Database(url, 2).connect():
            pass
    assert "pw-secret-1" not in str(error.value) and "cannot connect" in str(error.value)


def test_a_sqlite_statement_past_the_database_timeout_is_interrupted(sqlite_url: str) -> None:
    started = time.monotonic()
    with Database(sqlite_url, 0.5).connect() as db, pytest.raises(DatabaseError):
        db.run("endless", text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"))
    assert time.monotonic() - started < 10


def test_a_snapshot_refuses_globs_that_match_nothing_and_an_unset_database_variable(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    spec = RestoreSpec(profile_dir=tmp_path, files=("data/*.csv",))
    with pytest.raises(SnapshotUsageError, match="matches no file"):
        take_snapshot(spec, service="s", environment=None, backup_time=None, environ={})
    spec = RestoreSpec(profile_dir=tmp_path, database=DatabaseSpec("NOT_SET_DB", (ORDERS,)))
    with pytest.raises(SnapshotUsageError, match="NOT_SET_DB is not set"):
        take_snapshot(spec, service="s", environment=None, backup_time=None, environ={})
