"""CPU time of one request: opscheck's HttpClient.request vs bare httpx, against the reference service.

    python benchmarks/bench_request.py [--requests 100] [--rounds 60]

Both send GET /health on loopback and parse the JSON body. Rounds of `--requests` requests
alternate between the two, the starting one rotated each round, and each round is timed with
time.process_time() (user + system CPU of this process, the deadline watchdog thread included;
the service runs in another process). The medians are printed with their interquartile range:
on a shared machine only differences well outside it mean anything.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import httpx

from opscheck.config.settings import HttpSettings
from opscheck.demo.launcher import DemoService
from opscheck.evidence.redact import Redactor
from opscheck.transport.http import HttpClient


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100, help="requests per timed round")
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    with DemoService() as svc, httpx.Client() as bare_client, \
            HttpClient(HttpSettings(headers={"X-Api-Key": "bench-secret-value"}), Redactor()) as ops_client:
        url = svc.base_url + "/health"

        def bare() -> None:
            r = bare_client.get(url)
            assert r.status_code == 200 and r.json()["status"] == "ok"

        def opscheck() -> None:
            r = ops_client.request("GET", url)
            assert r.status == 200 and r.json("GET /health")["status"] == "ok"

        variants: dict[str, Callable[[], None]] = {"bare httpx": bare, "opscheck HttpClient": opscheck}
        for f in variants.values():  # warm-up: connections, caches, the watchdog thread
            for _ in range(200):
                f()
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                f, start = variants[name], time.process_time()
                for _ in range(args.requests):
                    f()
                cpu[name].append((time.process_time() - start) / args.requests * 1e6)
    base = statistics.median(cpu[names[0]])
    print("| variant | CPU us per request (median) | IQR | over bare |")
    print("|---|---:|---:|---:|")
    for name in names:
        q = statistics.quantiles(cpu[name], n=4)
        print(f"| {name} | {statistics.median(cpu[name]):.1f} | {q[0]:.1f}-{q[2]:.1f} | {statistics.median(cpu[name]) - base:+.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
