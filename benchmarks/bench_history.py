"""The run history's costs: writing one run, and `opscheck history` over a large history.

    python benchmarks/bench_history.py [--writes 30] [--runs 10000] [--checks 50] [--pg-url URL | --no-pg]

1. Writing one run of 100 checks (`HistoryStore.record_run`, one transaction) to a SQLite file and
   to PostgreSQL: `--writes` runs each, wall time per run, median and interquartile range. Without
   `--pg-url`, a throwaway PostgreSQL cluster is started on loopback (tests/pgcluster.py) when
   PostgreSQL is installed.
2. `opscheck history` (the report: uptime 1/7/30 d, p95 now vs 7 d ago, flaky, state) over
   `--runs` runs of `--checks` checks, one run every 5 minutes (so 30 days hold ~8,600 of them),
   stored in SQLite: `build_report` in-process (median of 5), and the whole CLI command in a
   fresh process (startup included, median of 3). The goal is under 2 s. Wall time and CPU time
   (user + system) are both shown: on a shared runner the wall time includes waiting for a CPU.
   The history is loaded in bulk (one transaction), not through record_run: only the reading is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opscheck.history import schema as S  # noqa: E402
from opscheck.history.store import open_store  # noqa: E402
from opscheck.results import Attempt, CheckResult, RunbookRef, RunInfo  # noqa: E402

OUTCOMES = ("passed",) * 45 + ("failed", "degraded", "flaky", "skipped", "failed")


def make_records(n: int, seed: int) -> list[CheckResult]:
    out = []
    for k in range(n):
        outcome = OUTCOMES[(seed * 7 + k * 13) % len(OUTCOMES)]
        r = CheckResult(id=f"smoke::check-{k:03d}", nodeid=f"n{k}", family="smoke", name=f"check-{k:03d}",
                        severity="critical", runbook=RunbookRef("API Not Responding", "api-not-responding",
                                                                "RUNBOOK.md#api-not-responding"),
                        profile_field="smoke", profile_line=k + 3, outcome=outcome,
                        reason="status" if outcome == "failed" else None,
                        message="GET /x: status 503, expected 200" if outcome == "failed" else None)
        r.duration_ms = 12.5 + k
        r.evidence = [{"kind": "http", "elapsed_ms": 10.0 + (seed + k) % 17}]
        r.attempts = [Attempt(outcome)]
        out.append(r)
    return out


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return q[0], statistics.median(values), q[2]


def bench_writes(url: str, label: str, writes: int) -> str:
    store = open_store(url)
    records = make_records(100, 1)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    times = []
    for i in range(writes):
        run = RunInfo("bench", "prod", None, "opscheck.yaml", (start + timedelta(minutes=i)).isoformat(), 1.0, 0)
        t = time.perf_counter()
        write = store.record_run(run, records, location="bench", release=None, run_key=f"{label}-{i}",
                                 profile_path="opscheck.yaml", profile_hash="h")
        times.append((time.perf_counter() - t) * 1000)
        assert not write.duplicate and write.checks == 100
    store.close()
    q1, med, q3 = quartiles(times)
    return f"| one run of 100 checks -> {label} | {med:.1f} ms | {q1:.1f}-{q3:.1f} ms | - | {writes} |"


def bulk_fill(url: str, runs: int, checks: int, end: datetime) -> None:
    """`runs` runs of `checks` checks, one every 5 minutes up to `end`, in one transaction."""
    from sqlalchemy import insert

    store = open_store(url)
    base = end - timedelta(minutes=5 * runs)
    run_rows, check_rows = [], []
    for i in range(runs):
        started = base + timedelta(minutes=5 * i)
        run_rows.append({"id": i + 1, "run_key": f"bench/{i}", "service": "bench", "env": "prod", "location": "eu",
                         "release": None, "slot": started, "started_at": started, "duration_s": 2.0, "exit_code": 0,
                         "profile_path": "opscheck.yaml", "profile_hash": "h", "opscheck_version": "bench",
                         "base_url": None, "maintenance": False, "source": "run", "recorded_at": started,
                         "checks": checks})
        for k in range(checks):
            outcome = OUTCOMES[(i * 7 + k * 13) % len(OUTCOMES)]
            check_rows.append({"run_id": i + 1, "service": "bench", "env": "prod", "location": "eu",
                               "started_at": started, "maintenance": False, "check_id": f"smoke::check-{k:03d}",
                               "family": "smoke", "name": f"check-{k:03d}", "severity": "critical", "outcome": outcome,
                               "reason": "status" if outcome == "failed" else None, "message": None,
                               "duration_ms": 12.5, "latency_ms": 10.0 + (i + k) % 17, "p50_ms": None, "p95_ms": None,
                               "p99_ms": None, "observed": None, "limit_value": None, "unit": None, "fingerprint": None,
                               "attempts": 2 if outcome == "flaky" else 1, "runbook_section": "API Not Responding",
                               "runbook_anchor": "api-not-responding", "runbook_link": "RUNBOOK.md#api-not-responding"})
    with store.engine.begin() as conn:
        conn.execute(insert(S.runs), run_rows)
        for start in range(0, len(check_rows), 50_000):
            conn.execute(insert(S.check_results), check_rows[start:start + 50_000])
    with store.engine.connect() as conn:  # as SQLite's automatic checkpoints leave a store between runs
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def bench_report(folder: Path, runs: int, checks: int) -> list[str]:
    from opscheck.history.report import build_report

    url = str(folder / "big.db")
    end = datetime.now(timezone.utc)
    t = time.perf_counter()
    bulk_fill(url, runs, checks, end)
    fill_s = time.perf_counter() - t
    store = open_store(url)
    inproc, inproc_cpu = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        report = build_report(store, days=30)
        inproc.append(time.perf_counter() - t)
        inproc_cpu.append(time.process_time() - c)
    assert len(report["checks"]) == checks
    import resource

    cli, cli_cpu = [], []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "opscheck", "history", "--history", url], capture_output=True,
                             text=True, timeout=120, env=env, cwd=folder)
        cli.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        assert out.returncode == 0, out.stderr
    q1, med, q3 = quartiles(inproc)
    c1, cmed, c3 = quartiles(cli)
    size_mb = (folder / "big.db").stat().st_size / 1e6 + ((folder / "big.db-wal").stat().st_size / 1e6
                                                          if (folder / "big.db-wal").exists() else 0)
    return [f"| `build_report` over {runs:,} runs x {checks} checks (SQLite, {size_mb:.0f} MB) | {med:.2f} s | "
            f"{q1:.2f}-{q3:.2f} s | {statistics.median(inproc_cpu):.2f} s | 5 |",
            f"| `opscheck history` CLI, fresh process, same store | {cmed:.2f} s | {c1:.2f}-{c3:.2f} s | "
            f"{statistics.median(cli_cpu):.2f} s | 3 |",
            f"(bulk load of the history: {fill_s:.1f} s, not part of the figures)"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=30)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--checks", type=int, default=50)
    ap.add_argument("--pg-url", default=None, help="a PostgreSQL SQLAlchemy URL (default: a throwaway cluster)")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    rows = ["| what | median wall | IQR | median CPU | n |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="opscheck-bench-history-") as tmp:
        folder = Path(tmp)
        rows.append(bench_writes(str(folder / "writes.db"), "SQLite (WAL)", args.writes))
        cluster: Any = None
        if not args.no_pg:
            url = args.pg_url
            if url is None:
                from tests.pgcluster import pg_bindir, start_cluster

                if pg_bindir() is not None:
                    cluster = start_cluster()
                    url = cluster.url(cluster.create_database())
            try:
                if url is not None:
                    rows.append(bench_writes(url, "PostgreSQL (loopback)", args.writes))
                else:
                    rows.append("| one run of 100 checks -> PostgreSQL | not measured: PostgreSQL not installed | | | |")
            finally:
                if cluster is not None:
                    cluster.stop()
        notes = bench_report(folder, args.runs, args.checks)
        rows.extend(notes[:2])
        print("\n".join(rows))
        print(notes[2])
    print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
