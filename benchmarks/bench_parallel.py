"""Wall clock of 300 smoke checks run serially, with `-n 2` and with `-n 4` (pytest-xdist), in one run.

    python benchmarks/bench_parallel.py [--checks 300] [--delay-ms 20] [--repeat 3] [--workers 2,4]

The target is benchmarks/delay_server.py in a process of its own: every answer is 200 after
`--delay-ms` (asyncio, so concurrent requests wait concurrently, as a real service's would). The
profile has one smoke entry per check, each on its own path. Every variant is
`python -m opscheck run ...` in a subprocess, timed end to end (interpreter, plugin start-up and
xdist's workers included), and its results.json must say every check passed, else the script
stops: a fast run that checked nothing is no figure. Rounds are interleaved (serial, -n 2, -n 4,
serial, ...), so load on a shared machine falls on every variant alike.

Printed: a Markdown table (median and min wall clock, speed-up against serial, CPU seconds of the
run's process tree, checks per second), the machine, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

TIMEOUT_S = 600.0
HERE = Path(__file__).resolve().parent


@dataclass
class Variant:
    name: str
    extra: list[str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


def start_target(delay_ms: float) -> tuple[subprocess.Popen[str], str]:
    """The delay server in its own process; (process, base URL). Bounded wait for its address line."""
    proc = subprocess.Popen([sys.executable, str(HERE / "delay_server.py"), "--delay-ms", str(delay_ms)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=15):
            proc.kill()
            raise SystemExit("the delay server did not print its address within 15 s")
    host, port = proc.stdout.readline().split()
    return proc, f"http://{host}:{port}"


def write_profile(folder: Path, checks: int) -> Path:
    lines = ["service: parallel-bench", "smoke:"]
    lines += [f"  - {{name: s{i:03d}, path: /s{i:03d}, expect: {{status: 200, json: {{ok: true}}}}}}" for i in range(checks)]
    path = folder / "opscheck.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_once(variant: Variant, profile: Path, base_url: str, folder: Path, checks: int) -> None:
    report_dir = folder / "reports"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_BASE_URL")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "opscheck", "run", "--profile", str(profile), "--base-url", base_url,
                           "--report-dir", str(report_dir), "-q", *variant.extra],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{variant.name}: exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    results = json.loads((report_dir / "results.json").read_text())
    counts = results["run"]["counts"]
    if counts.get("passed") != checks or len(results["checks"]) != checks:
        raise SystemExit(f"{variant.name}: expected {checks} passed checks, results.json says {counts}")
    variant.walls.append(wall)
    # xdist's workers are children of the pytest process, waited for before it exits: included.
    variant.cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="2,4", help="comma-separated -n values besides serial")
    args = parser.parse_args()
    if args.checks < 1 or args.repeat < 1:
        parser.error("--checks and --repeat must be >= 1")
    variants = [Variant("serial", [])]
    for n in (int(w) for w in args.workers.split(",") if w.strip()):
        variants.append(Variant(f"-n {n}", ["-n", str(n)]))
    load_before = os.getloadavg()
    proc, base_url = start_target(args.delay_ms)
    try:
        with tempfile.TemporaryDirectory(prefix="opscheck-bench-parallel-") as tmp:
            folder = Path(tmp)
            profile = write_profile(folder, args.checks)
            for round_no in range(args.repeat):
                for variant in variants:
                    run_once(variant, profile, base_url, folder, args.checks)
                    print(f"round {round_no + 1}: {variant.name}: {variant.walls[-1]:.2f} s", file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    load_after = os.getloadavg()
    serial = statistics.median(variants[0].walls)
    floor = args.checks * args.delay_ms / 1000
    print(f"{args.checks} smoke checks against a local target answering in {args.delay_ms:g} ms "
          f"(serial floor {floor:.1f} s of waiting), {args.repeat} rounds, interleaved\n")
    print("| variant | median s | min s | speed-up vs serial | CPU s (median) | checks/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants:
        median = statistics.median(v.walls)
        print(f"| {v.name} | {median:.2f} | {min(v.walls):.2f} | {serial / median:.2f}x | "
              f"{statistics.median(v.cpus):.2f} | {args.checks / median:.0f} |")
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, pytest {version('pytest')}, pytest-xdist {version('pytest-xdist')}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
