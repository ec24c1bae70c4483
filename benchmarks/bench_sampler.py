"""opscheck's latency sampler vs wrk and hey, side by side, against a server with a known delay.

    python benchmarks/bench_sampler.py [--delay-ms 20] [--rate 200] [--seconds 10] [--hey-workers 10]

Each tool gets a fresh benchmarks/delay_server.py process on 127.0.0.1 (its own process, so it
never competes with the sampler for the GIL) that sleeps --delay-ms before answering and reports
its own time beyond that delay. The tools run one after another, never at once:

- opscheck: open loop at --rate for --seconds (latency from each request's scheduled time);
- wrk: closed loop, `wrk -t1 -c4 -d{seconds}s --latency` (prints p50/p90/p99, no p95);
- hey: `hey -z {seconds}s -q {rate/c} -c {c} -o csv`; p50/p95/p99 computed here from its
  per-request CSV with opscheck's percentile() (the CSV has 0.1 ms resolution);
- overhead: opscheck again against a 0 ms server: its p50 there is the cost of one measured
  request (scheduler lateness, httpx/httpcore, event loop, loopback TCP, server handling).

Targets are reported, not asserted: p50 within 1 ms of the injected delay; achieved rate within
1 % of the requested rate; p99 within 10 % of what wrk and hey measure.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import re
import selectors
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Self

from opscheck.sampler import percentile, run_open_loop, summarize, use_raw

SERVER = Path(__file__).with_name("delay_server.py")
SLACK_S = 30.0  # on top of --seconds, for every subprocess's timeout


@dataclass
class Result:
    name: str
    mode: str
    requests: int = 0
    errors: int = 0
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    rate: float | None = None
    server_extra_ms: float | None = None  # the server's own p50 beyond the injected delay
    lateness_p99: float | None = None  # opscheck only: scheduled -> actual send, p99 ms (harness health)
    notes: list[str] = field(default_factory=list)


class DelayServerProcess:
    """benchmarks/delay_server.py in its own process; `.stats` holds its own timings after exit."""

    def __init__(self, delay_ms: float, max_seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--delay-ms", str(delay_ms), "--precise", "--max-seconds", str(max_seconds)],
            stdout=subprocess.PIPE, text=True,
        )
        self.stats: dict[str, float | None] = {}
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=15):
                self.close()
                raise RuntimeError("delay server did not start within 15 s")
        host, port = self.proc.stdout.readline().split()
        self.url = f"http://{host}:{port}/"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=5)
        for line in (out or "").splitlines():
            if line.startswith("{"):
                self.stats = json.loads(line)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_opscheck(url: str, rate: float, seconds: float) -> Result:
    samples, elapsed = run_open_loop(url, rate_per_s=rate, duration_s=seconds, timeout_s=5.0)
    stats = summarize(samples, {200}, requested=len(samples), duration_s=elapsed)
    late = sorted((s.sent_s - s.scheduled_s) * 1000 for s in samples if s.sent_s is not None)
    client = "rawhttp" if use_raw(url) else "httpx"  # which client the sampler used for this URL
    return Result("opscheck sampler", f"open loop, {rate:g}/s, {client}", stats.n, stats.errors, stats.p50_ms, stats.p90_ms,
                  stats.p95_ms, stats.p99_ms, stats.achieved_rate, lateness_p99=percentile(late, 0.99) if late else None)


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match[1]) * _WRK_UNITS[match[2]]


def run_wrk(url: str, seconds: float) -> Result:
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{seconds:g}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + SLACK_S, check=True).stdout
    pct = {int(m[1]): _wrk_ms(m[2]) for m in re.finditer(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.MULTILINE)}
    total = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    errors = sum(int(m) for m in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result("wrk", "closed loop, c=4", int(total[1]) if total else 0, errors + (int(non2xx[1]) if non2xx else 0),
                  pct.get(50), pct.get(90), None, pct.get(99), float(rate[1]) if rate else None,
                  notes=["wrk prints p50/p75/p90/p99 only: no p95"])


def run_hey(url: str, rate: float, seconds: float, workers: int) -> Result:
    out = subprocess.run(["hey", "-z", f"{seconds:g}s", "-q", f"{rate / workers:g}", "-c", str(workers), "-o", "csv", url],
                         capture_output=True, text=True, timeout=seconds + SLACK_S, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out[out.index("response-time"):])))
    latencies = sorted(float(r["response-time"]) * 1000 for r in rows if r["status-code"] == "200")
    offsets = sorted(float(r["offset"]) for r in rows)
    rate_done = (len(offsets) - 1) / (offsets[-1] - offsets[0]) if len(offsets) > 1 and offsets[-1] > offsets[0] else None
    pct = {q: percentile(latencies, q / 100) if latencies else None for q in (50, 90, 95, 99)}
    return Result("hey", f"c={workers}, q={rate / workers:g}/s each", len(rows), len(rows) - len(latencies),
                  pct[50], pct[90], pct[95], pct[99], rate_done, notes=["hey's CSV has 0.1 ms resolution"])


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pkg_version(name: str) -> str:
    if shutil.which("dpkg-query") is None:
        return "?"
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, timeout=10,
                          check=False)
    return done.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (opscheck, hey)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hey-workers", type=int, default=10,
                        help="hey -c; each worker is limited to rate/c per second and waits for its answer")
    args = parser.parse_args(argv)
    delay, rate, seconds = args.delay_ms, args.rate, args.seconds
    max_s = seconds + 2 * SLACK_S

    results: list[Result] = []
    missing = [tool for tool in ("wrk", "hey") if shutil.which(tool) is None]
    with DelayServerProcess(delay, max_s) as server:
        results.append(run_opscheck(server.url, rate, seconds))
    results[-1].server_extra_ms = server.stats.get("own_p50_ms")
    failed: list[str] = []
    for tool in ("wrk", "hey"):
        if tool in missing:
            continue
        with DelayServerProcess(delay, max_s) as server:
            try:
                result = run_wrk(server.url, seconds) if tool == "wrk" else run_hey(server.url, rate, seconds, args.hey_workers)
            except (subprocess.SubprocessError, ValueError) as exc:  # a failed or hung tool loses its column only
                failed.append(f"{tool}: {exc}")
                continue
        result.server_extra_ms = server.stats.get("own_p50_ms")
        results.append(result)
    overhead_s = min(seconds, 5.0)
    with DelayServerProcess(0, max_s) as zero:
        overhead = run_opscheck(zero.url, rate, overhead_s)
    zero_own = zero.stats.get("own_p50_ms")

    ours = results[0]
    others = {r.name: r for r in results[1:]}
    verdicts: list[tuple[str, str, str]] = []
    if ours.p50 is not None:
        off = ours.p50 - delay
        verdicts.append(("p50 within 1 ms of the injected delay", f"{off:+.2f} ms", "PASS" if abs(off) <= 1 else "FAIL"))
    if ours.rate is not None:
        off_pct = (ours.rate - rate) / rate * 100
        verdicts.append(("achieved rate within 1 % of requested", f"{off_pct:+.2f} %", "PASS" if abs(off_pct) <= 1 else "FAIL"))
    for name, other in others.items():
        if ours.p99 is not None and other.p99:
            off_pct = (ours.p99 - other.p99) / other.p99 * 100
            verdicts.append((f"p99 within 10 % of {name}'s", f"{off_pct:+.1f} %", "PASS" if abs(off_pct) <= 10 else "FAIL"))

    cols = results
    print(f"\n### Latency sampler vs wrk and hey: {delay:g} ms injected delay, {seconds:g} s each, 127.0.0.1\n")
    print("| metric | true | " + " | ".join(r.name for r in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    print("| mode | | " + " | ".join(r.mode for r in cols) + " |")
    print("| requests (errors) | | " + " | ".join(f"{r.requests} ({r.errors})" for r in cols) + " |")
    for label, attr in (("p50 ms", "p50"), ("p90 ms", "p90"), ("p95 ms", "p95"), ("p99 ms", "p99")):
        print(f"| {label} | {delay:.2f} | " + " | ".join(_fmt(getattr(r, attr)) for r in cols) + " |")
    print(f"| achieved rate /s | {rate:g} requested | "
          + " | ".join(_fmt(r.rate, 1) + (" (closed loop: not rate-limited)" if r.name == "wrk" else "") for r in cols) + " |")
    print("| send lateness p99, ms (scheduled -> sent; harness health) | 0 | "
          + " | ".join(_fmt(r.lateness_p99, 2) if r.lateness_p99 is not None else "n/a" for r in cols) + " |")
    print("| server's own p50 beyond the delay, ms | 0 | " + " | ".join(_fmt(r.server_extra_ms, 3) for r in cols) + " |")
    print(f"| **overhead per request** (opscheck p50 vs a 0 ms server, {overhead_s:g} s at {rate:g}/s) | 0 | "
          f"{_fmt(overhead.p50, 2)} ms, of which server {_fmt(zero_own, 3)} ms" + " |" * len(cols))
    print()
    print("| target (opscheck sampler) | measured | result |")
    print("|---|---|---|")
    for target, measured, result in verdicts:
        print(f"| {target} | {measured} | {result} |")
    for r in results:
        for note in r.notes:
            print(f"\nNote ({r.name}): {note}.", end="")
    for failure in failed:
        print(f"\nFailed, column skipped: {failure}", end="")
    if missing:
        print(f"\nSkipped: {', '.join(missing)} not installed (apt-get install -y {' '.join(missing)}).", end="")
    print("\nOverhead per request = scheduler lateness + client work (rawhttp or httpx/httpcore) + event-loop hops + loopback TCP"
          " + the server's own parse/answer time (reported by the server itself).")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M UTC} | {platform.platform()} | {os.cpu_count()} cores | load {load} | "
          f"Python {platform.python_version()} | opscheck {version('opscheck')} | httpx {version('httpx')} | "
          f"httpcore {version('httpcore')} | anyio {version('anyio')} | "
          f"wrk {_pkg_version('wrk') if 'wrk' not in missing else 'missing'} | "
          f"hey {_pkg_version('hey') if 'hey' not in missing else 'missing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
