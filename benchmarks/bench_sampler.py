"""opscheck's latency sampler vs wrk and hey, side by side, against a server with a known delay.

    python benchmarks/bench_sampler.py [--delay-ms 20] [--rate 200] [--seconds 10] [--hey-workers N] [--hey-also 10]

Each tool gets a fresh benchmarks/delay_server.py process on 127.0.0.1 (its own process, so it
never competes with the sampler for the GIL) that sleeps --delay-ms before answering and reports
its own time beyond that delay. The tools run one after another, never at once:

- opscheck: open loop at --rate for --seconds (latency from each request's scheduled time), once
  sleeping between events (the default) and once with `busy_poll: true` (the loop polls);
- wrk: closed loop, `wrk -t1 -c4 -d{seconds}s --latency` (prints p50/p90/p99, no p95);
- hey: `hey -z {seconds}s -q {rate/c} -c {c} -o csv`; p50/p95/p99 computed here from its
  per-request CSV with opscheck's percentile() (the CSV has 0.1 ms resolution). By default c is the
  fewest workers that can hold the rate (rate x delay x 1.25, rounded up: 5 at 200/s and 20 ms),
  so that as little of hey's own scheduling as possible lands in its figures: against the same 20 ms
  server its p50 was ~0.6 ms lower at c=5 than at c=10 (p99 22.9-25.7 ms at c=5, 23.0-27.1 ms at
  c=10 over three runs each, where wrk measured 20.9-21.0). `--hey-also` adds a column at another
  c (default 10), to show that spread;
- overhead: opscheck again against a 0 ms server: its p50 there is the cost of one measured
  request (scheduler lateness, client work, event loop, loopback TCP, server handling), for http
  and, when `cryptography` is installed (the dev extra), for https with rawhttp and with httpx.
- client CPU: each tool's CPU time over the wall time of its run (100 % = one core busy).

Targets are reported, not asserted: p50 within 1 ms of the injected delay; achieved rate within
1 % of the requested rate; p99 within 10 % of what wrk and hey measure.

    python benchmarks/bench_sampler.py --load [--hogs N] [--rounds 3] [--seconds 5] [--rate 200] [--delay-ms 20]

Busy polling against sleeping, on an idle runner and on a busy one, side by side: --rounds rounds,
each running the sampler with `busy_poll` on and off (in alternating order) against a fresh delay
server, first idle, then with --hogs CPU-bound processes (default: one per CPU, not pinned: the
other jobs of a shared runner) running beside it. Per mode and condition: the median over the rounds
of p50, p99 and max, of the send lateness and event-loop lag p99 and of the CPU starvation that
opscheck.measure.runner records, and in how many rounds busy polling's p99 was worse than sleeping's.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import re
import resource
import ssl
import tempfile
import time
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

from opscheck.measure import sampler
from opscheck.measure.sampler import run_open_loop, summarize, use_raw
from opscheck.measure.stats import percentile

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
    cpu_pct: float | None = None  # the tool's CPU time / wall time of its run, % of one core
    notes: list[str] = field(default_factory=list)


class DelayServerProcess:
    """benchmarks/delay_server.py in its own process; `.stats` holds its own timings after exit."""

    def __init__(self, delay_ms: float, max_seconds: float, tls: tuple[Path, Path] | None = None) -> None:
        tls_args = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--delay-ms", str(delay_ms), "--precise", "--max-seconds", str(max_seconds),
             *tls_args],
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
        self.url = f"{'https' if tls else 'http'}://{host}:{port}/"

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


def run_opscheck(url: str, rate: float, seconds: float, *, busy_poll: bool = True,
                 verify: bool | ssl.SSLContext = True) -> Result:
    cpu = time.process_time()
    samples, elapsed = run_open_loop(url, rate_per_s=rate, duration_s=seconds, timeout_s=5.0, busy_poll=busy_poll,
                                     verify=verify)
    cpu = time.process_time() - cpu
    stats = summarize(samples, {200}, requested=len(samples), duration_s=elapsed)
    late = sorted((s.sent_s - s.scheduled_s) * 1000 for s in samples if s.sent_s is not None)
    client = "rawhttp" if use_raw(url) else "httpx"  # which client the sampler used for this URL
    name = "opscheck, busy polling" if busy_poll else "opscheck, sleeping"
    return Result(name, f"open loop, {rate:g}/s, {client}", stats.n, stats.errors, stats.p50_ms, stats.p90_ms,
                  stats.p95_ms, stats.p99_ms, stats.achieved_rate, lateness_p99=percentile(late, 0.99) if late else None,
                  cpu_pct=cpu / elapsed * 100 if elapsed else None)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped children only: the tool, not the live server
    return usage.ru_utime + usage.ru_stime


def _self_signed(folder: Path) -> tuple[Path, Path] | None:
    """A throwaway certificate for 127.0.0.1, or None without `cryptography` (the https rows are skipped)."""
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match[1]) * _WRK_UNITS[match[2]]


def run_wrk(url: str, seconds: float) -> Result:
    cpu, wall = _children_cpu(), time.monotonic()
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{seconds:g}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + SLACK_S, check=True).stdout
    cpu_pct = (_children_cpu() - cpu) / (time.monotonic() - wall) * 100
    pct = {int(m[1]): _wrk_ms(m[2]) for m in re.finditer(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.MULTILINE)}
    total = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    errors = sum(int(m) for m in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result("wrk", "closed loop, c=4", int(total[1]) if total else 0, errors + (int(non2xx[1]) if non2xx else 0),
                  pct.get(50), pct.get(90), None, pct.get(99), float(rate[1]) if rate else None, cpu_pct=cpu_pct,
                  notes=["wrk prints p50/p75/p90/p99 only: no p95"])


def run_hey(url: str, rate: float, seconds: float, workers: int) -> Result:
    cpu, wall = _children_cpu(), time.monotonic()
    out = subprocess.run(["hey", "-z", f"{seconds:g}s", "-q", f"{rate / workers:g}", "-c", str(workers), "-o", "csv", url],
                         capture_output=True, text=True, timeout=seconds + SLACK_S, check=True).stdout
    cpu_pct = (_children_cpu() - cpu) / (time.monotonic() - wall) * 100
    rows = list(csv.DictReader(io.StringIO(out[out.index("response-time"):])))
    latencies = sorted(float(r["response-time"]) * 1000 for r in rows if r["status-code"] == "200")
    offsets = sorted(float(r["offset"]) for r in rows)
    rate_done = (len(offsets) - 1) / (offsets[-1] - offsets[0]) if len(offsets) > 1 and offsets[-1] > offsets[0] else None
    pct = {q: percentile(latencies, q / 100) if latencies else None for q in (50, 90, 95, 99)}
    return Result(f"hey c={workers}", f"c={workers}, q={rate / workers:g}/s each", len(rows), len(rows) - len(latencies),
                  pct[50], pct[90], pct[95], pct[99], rate_done, cpu_pct=cpu_pct, notes=["hey's CSV has 0.1 ms resolution"])


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pkg_version(name: str) -> str:
    if shutil.which("dpkg-query") is None:
        return "?"
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, timeout=10,
                          check=False)
    return done.stdout.strip() or "?"


_HOG = ("import time\nend = time.monotonic() + {seconds}\n"
        "while time.monotonic() < end:\n    pass\n")  # bounded: ends by itself even if this script dies


@dataclass
class LoadRun:
    p50: float | None
    p99: float | None
    max: float | None
    late_p99: float | None
    lag_p99: float | None
    starved: float | None
    cpu_pct: float | None


def _sampler_under(url: str, rate: float, seconds: float, busy_poll: bool) -> LoadRun:
    from opscheck.measure.runner import RunnerProbe

    probe = RunnerProbe()
    samples, elapsed = run_open_loop(url, rate_per_s=rate, duration_s=seconds, timeout_s=5.0, busy_poll=busy_poll,
                                     probe=probe)
    stats = summarize(samples, {200}, requested=len(samples), duration_s=elapsed)
    load = probe.load(samples, busy_poll, open_loop=True)
    return LoadRun(stats.p50_ms, stats.p99_ms, stats.max_ms, load.send_late_p99_ms, load.loop_lag_p99_ms,
                   load.cpu_starved_ratio, (load.process_cpu_ratio or 0) * 100)


def _median(values: list[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    return percentile(present, 0.5) if present else None


def main_load(args: argparse.Namespace) -> int:
    """Busy polling vs sleeping, idle and under CPU load: one run, side by side (see the docstring)."""
    hogs = args.hogs or (os.cpu_count() or 1)
    rate, seconds, delay = args.rate, args.seconds, args.delay_ms
    runs: dict[tuple[str, bool], list[LoadRun]] = {}
    for index in range(args.rounds):
        for condition in ("idle", "busy"):
            procs: list[subprocess.Popen[bytes]] = []
            try:
                if condition == "busy":
                    code = _HOG.format(seconds=2 * (seconds + SLACK_S))
                    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(hogs)]
                    time.sleep(0.5)  # let them start and take the CPUs
                order = (True, False) if index % 2 == 0 else (False, True)  # neither mode always goes first
                for busy_poll in order:
                    with DelayServerProcess(delay, seconds + 2 * SLACK_S) as server:
                        runs.setdefault((condition, busy_poll), []).append(
                            _sampler_under(server.url, rate, seconds, busy_poll))
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait(timeout=10)
    print(f"\n### Busy polling vs sleeping: open loop {rate:g}/s for {seconds:g} s against a {delay:g} ms server, "
          f"{args.rounds} rounds; busy = {hogs} CPU-bound processes beside it on {os.cpu_count()} CPUs\n")
    print("| runner | loop | p50 ms | p99 ms | max ms | send lateness p99 ms | loop lag p99 ms | CPU starved | client CPU, % of one core |")
    print("|---|---|---|---|---|---|---|---|---|")
    for condition in ("idle", "busy"):
        for busy_poll in (True, False):
            rs = runs[(condition, busy_poll)]
            starved = _median([r.starved for r in rs])
            print(f"| {condition} | {'busy polling' if busy_poll else 'sleeping'} | {_fmt(_median([r.p50 for r in rs]))} | "
                  f"{_fmt(_median([r.p99 for r in rs]))} ({_fmt(min(r.p99 or 0 for r in rs))}-{_fmt(max(r.p99 or 0 for r in rs))}) | "
                  f"{_fmt(_median([r.max for r in rs]))} | {_fmt(_median([r.late_p99 for r in rs]))} | "
                  f"{_fmt(_median([r.lag_p99 for r in rs]))} | "
                  f"{'n/a' if starved is None else f'{starved * 100:.0f} %'} | {_fmt(_median([r.cpu_pct for r in rs]), 0)} |")
    print()
    for condition in ("idle", "busy"):
        pairs = list(zip(runs[(condition, True)], runs[(condition, False)]))
        worse = sum(1 for busy, sleep in pairs if (busy.p99 or 0) > (sleep.p99 or 0))
        print(f"- {condition} runner: busy polling's p99 was worse than sleeping's in {worse} of {len(pairs)} rounds")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{datetime.now(UTC):%Y-%m-%d %H:%M UTC} | {platform.platform()} | {os.cpu_count()} cores | load before the end {load} | "
          f"Python {platform.python_version()} | opscheck {version('opscheck')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (opscheck, hey)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hey-workers", type=int, default=0,
                        help="hey -c (default: the fewest that hold the rate); each worker is limited to rate/c "
                             "per second and waits for its answer")
    parser.add_argument("--hey-also", type=int, default=10, help="hey again with this -c, as its own column (0: no)")
    parser.add_argument("--load", action="store_true", help="only busy polling vs sleeping, idle and under CPU load")
    parser.add_argument("--hogs", type=int, default=0, help="--load: CPU-bound processes beside the sampler (default: one per CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="--load: rounds per mode and condition")
    args = parser.parse_args(argv)
    if args.load:
        return main_load(args)
    delay, rate, seconds = args.delay_ms, args.rate, args.seconds
    hey_workers = args.hey_workers or max(1, math.ceil(rate * delay / 1000 * 1.25))
    max_s = seconds + 2 * SLACK_S

    results: list[Result] = []
    missing = [tool for tool in ("wrk", "hey") if shutil.which(tool) is None]
    for busy_poll in (False, True):  # the default (sleeping) first: the targets below are judged on it
        with DelayServerProcess(delay, max_s) as server:
            results.append(run_opscheck(server.url, rate, seconds, busy_poll=busy_poll))
        results[-1].server_extra_ms = server.stats.get("own_p50_ms")
    failed: list[str] = []
    tools = [("wrk", 0), ("hey", hey_workers)] + ([("hey", args.hey_also)] if args.hey_also not in (0, hey_workers) else [])
    for tool, workers in tools:
        if tool in missing:
            continue
        with DelayServerProcess(delay, max_s) as server:
            try:
                result = run_wrk(server.url, seconds) if tool == "wrk" else run_hey(server.url, rate, seconds, workers)
            except (subprocess.SubprocessError, ValueError) as exc:  # a failed or hung tool loses its column only
                failed.append(f"{tool}: {exc}")
                continue
        result.server_extra_ms = server.stats.get("own_p50_ms")
        results.append(result)
    overhead_s = min(seconds, 5.0)
    overheads: list[tuple[str, Result, float | None]] = []
    with tempfile.TemporaryDirectory() as folder:
        cert = _self_signed(Path(folder))
        runs: list[tuple[str, tuple[Path, Path] | None, bool, str]] = [
            ("http, rawhttp, busy poll", None, True, "auto"), ("http, rawhttp, busy_poll off", None, False, "auto"),
            ("http, httpx, busy poll", None, True, "httpx")]
        if cert:
            runs += [("https, rawhttp, busy poll", cert, True, "auto"), ("https, httpx, busy poll", cert, True, "httpx")]
        for label, tls, busy_poll, client in runs:
            verify = ssl.create_default_context(cafile=str(tls[0])) if tls else True
            sampler.CLIENT = client
            try:
                with DelayServerProcess(0, max_s, tls) as zero:
                    overhead = run_opscheck(zero.url, rate, overhead_s, busy_poll=busy_poll, verify=verify)
            finally:
                sampler.CLIENT = "auto"
            overheads.append((label, overhead, zero.stats.get("own_p50_ms")))

    ours = results[0]
    others = {r.name: r for r in results[2:]}
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
    wrk = others.get("wrk")
    for name, other in others.items():  # context: how far the reference tools are from each other
        if name != "wrk" and wrk is not None and wrk.p99 and other.p99:
            verdicts.append((f"(context, not a target) {name}'s p99 vs wrk's", f"{(other.p99 - wrk.p99) / wrk.p99 * 100:+.1f} %",
                             "info"))

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
    print("| client CPU, % of one core | | " + " | ".join(_fmt(r.cpu_pct, 0) for r in cols) + " |")
    print(f"\n**Overhead per request**: opscheck's p50 against a 0 ms server, {overhead_s:g} s at {rate:g}/s\n")
    print("| scheme, client, loop | p50 ms | p99 ms | of which the server's own p50 | client CPU, % of one core |")
    print("|---|---|---|---|---|")
    for label, result, own in overheads:
        print(f"| {label} | {_fmt(result.p50)} | {_fmt(result.p99)} | {_fmt(own, 3)} | {_fmt(result.cpu_pct, 0)} |")
    if len(overheads) < 5:
        print("| https | skipped: `cryptography` is not installed (pip install -e '.[dev]') | | | |")
    print()
    print("| target (opscheck sampler) | measured | result |")
    print("|---|---|---|")
    for target, measured, result in verdicts:
        print(f"| {target} | {measured} | {result} |")
    for note in dict.fromkeys(note for r in results for note in r.notes):
        print(f"\nNote: {note}.", end="")
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
