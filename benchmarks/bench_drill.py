"""Restore drill benchmarks (issue 13).

1. Snapshot and verify of --gib GiB of CSV files (default 1): wall time, throughput and peak
   memory (the child process's own peak RSS), next to `sha256sum` over the same files and to
   hashlib alone (the hash without the CSV row counting). Goals: hashing at least 80 % of
   sha256sum's speed, peak memory under 100 MB.
2. Row count, newest timestamp and checksum of a --rows-row (default 1,000,000) PostgreSQL table,
   in a throwaway cluster (tests/pgcluster.py; skipped when PostgreSQL is not installed).

Everything runs in a temporary folder that is removed at the end. Every measurement runs
--repeat times (median and min reported), alternating the tools so the page cache and the load
treat them alike; the files are read once first, so every tool reads from the page cache.

    python benchmarks/bench_drill.py [--gib 1] [--rows 1000000] [--repeat 3] [--skip-pg] [--skip-files]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILES = 8

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from opscheck.config.restore import RestoreSpec
mode, root = sys.argv[1], Path(sys.argv[2])
t = time.perf_counter()
if mode == "snapshot":
    from opscheck.drill.snapshot import take_snapshot
    spec = RestoreSpec(profile_dir=root, files=("**/*.csv",))
    doc = take_snapshot(spec, service="bench", environment=None, backup_time=None, environ={})
    Path(sys.argv[3]).write_text(json.dumps(doc))
    n = len(doc["files"]["entries"])
elif mode == "verify":
    from opscheck.drill.files import verify_file
    doc = json.loads(Path(sys.argv[3]).read_text())
    bad = [c.status for c in (verify_file(root, e) for e in doc["files"]["entries"]) if c.status != "ok"]
    assert not bad, bad
    n = len(doc["files"]["entries"])
else:  # hashlib alone, the same chunked reads, no row counting
    import hashlib
    n = 0
    buf = bytearray(1 << 20)
    for p in sorted(root.glob("**/*.csv")):
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while (k := f.readinto(buf)):
                h.update(memoryview(buf)[:k])
        n += 1
elapsed = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across exec.
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(json.dumps({"seconds": elapsed, "files": n, "peak_rss_mb": (hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024}))
"""


def make_csv(folder: Path, total_bytes: int) -> list[Path]:
    """FILES files of realistic CSV: an id, a quoted text with a comma in every 4th row, numbers, a timestamp."""
    rows = []
    for i in range(20000):
        name = f'"item {i}, batch {i % 97}"' if i % 4 == 0 else f"item-{i}"
        rows.append(f"{i},{name},{(i * 37) % 101},{i * 1.25:.2f},2026-11-30T0{i % 10}:00:00Z\n")
    block = ("id,name,quantity,amount,updated_at\n" + "".join(rows)).encode()
    per_file = total_bytes // FILES
    paths = []
    for n in range(FILES):
        path = folder / f"part-{n:02d}.csv"
        with open(path, "wb") as handle:
            written = 0
            handle.write(b"id,name,quantity,amount,updated_at\n")
            body = block.split(b"\n", 1)[1]
            while written < per_file:
                handle.write(body)
                written += len(body)
        paths.append(path)
    return paths


def run_child(mode: str, root: Path, manifest: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(root), str(manifest)], capture_output=True, text=True,
                         timeout=1800, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_sha256sum(paths: list[Path]) -> float:
    t = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - t


def bench_files(gib: float, repeat: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="opscheck-bench-drill-"))
    try:
        data = work / "data"
        data.mkdir()
        paths = make_csv(data, int(gib * (1 << 30)))
        size = sum(p.stat().st_size for p in paths)
        manifest = work / "manifest.json"
        run_sha256sum(paths)  # warm the page cache: every tool reads cached pages
        times: dict[str, list[float]] = {"sha256sum": [], "hashlib only": [], "snapshot": [], "verify": []}
        peaks: dict[str, float] = {}
        for _ in range(repeat):
            times["sha256sum"].append(run_sha256sum(paths))
            for mode, label in (("hash", "hashlib only"), ("snapshot", "snapshot"), ("verify", "verify")):
                result = run_child(mode, data, manifest)
                times[label].append(result["seconds"])
                peaks[label] = max(peaks.get(label, 0.0), result["peak_rss_mb"])
        return {"bytes": size, "files": len(paths), "times": times, "peaks": peaks}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_pg(rows: int, repeat: int) -> dict | None:
    from tests.pgcluster import pg_bindir, start_cluster

    if pg_bindir() is None:
        return None
    from sqlalchemy import create_engine, text

    from opscheck.config.restore import ChecksumSpec, DatabaseSpec, TableSpec
    from opscheck.drill.database import snapshot_tables

    cluster = start_cluster()
    try:
        db = cluster.create_database()
        url = cluster.url(db)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12,2), note text, "
                              "updated_at timestamptz NOT NULL)"))
            conn.execute(text(f"INSERT INTO orders SELECT g, g * 1.25, 'order ' || g, "
                              f"now() - (({rows} - g) || ' seconds')::interval FROM generate_series(1, {rows}) g"))
            conn.execute(text("ANALYZE orders"))
        engine.dispose()
        plain = DatabaseSpec("DB", (TableSpec("orders", updated_at="updated_at"),), timeout_s=600)
        summed = DatabaseSpec("DB", (TableSpec("orders", updated_at="updated_at", checksum=ChecksumSpec(key="id")),), timeout_s=600)
        out: dict[str, list[float]] = {"count + newest": [], "count + newest + checksum": []}
        for _ in range(repeat):
            for label, spec in (("count + newest", plain), ("count + newest + checksum", summed)):
                t = time.perf_counter()
                facts = snapshot_tables(spec, url)["tables"][0]
                out[label].append(time.perf_counter() - t)
                assert facts["rows"] == rows
        return {"rows": rows, "times": out}
    finally:
        cluster.stop()
        shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-files", action="store_true")
    args = parser.parse_args()
    print(f"# bench_drill: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start")
    if not args.skip_files:
        files = bench_files(args.gib, args.repeat)
        mib = files["bytes"] / (1 << 20)
        print(f"\n## {files['files']} CSV files, {mib:.0f} MiB ({args.repeat} rounds, page cache warm)\n")
        print("| tool | median s | min s | MiB/s (median) | vs sha256sum | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|")
        base = statistics.median(files["times"]["sha256sum"])
        for label, values in files["times"].items():
            median = statistics.median(values)
            peak = files["peaks"].get(label)
            print(f"| {label} | {median:.2f} | {min(values):.2f} | {mib / median:.0f} | {base / median * 100:.0f} % | "
                  f"{f'{peak:.0f}' if peak else '-'} |")
        snap = statistics.median(files["times"]["snapshot"])
        worst_peak = max(files["peaks"].values())
        print(f"\n- goal: snapshot hashing >= 80 % of sha256sum's speed: {base / snap * 100:.0f} % "
              f"({'met' if base / snap >= 0.8 else 'NOT met'})")
        print(f"- goal: peak memory < 100 MB: {worst_peak:.0f} MB ({'met' if worst_peak < 100 else 'NOT met'})")
    if not args.skip_pg:
        pg = bench_pg(args.rows, args.repeat)
        if pg is None:
            print("\n(PostgreSQL not installed: table benchmark skipped)")
        else:
            print(f"\n## PostgreSQL table of {pg['rows']:,} rows ({args.repeat} rounds)\n")
            print("| what | median s | min s |")
            print("|---|---:|---:|")
            for label, values in pg["times"].items():
                print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
