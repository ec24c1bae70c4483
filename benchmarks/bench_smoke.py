"""CPU and wall-clock cost of N opscheck smoke checks vs the same N requests as a bare pytest file.

    python benchmarks/bench_smoke.py [--checks 100] [--repeat 5] [--extra-bare-reports] [--compare DIR]

The bare file is also run with opscheck's garbage-collector policy (`opscheck.plugin.gcpolicy`:
long-lived objects frozen, left frozen at the end): that variant shows what opscheck's own work
per check costs, apart from what the policy saves over a plain pytest run.

`--compare DIR` (repeatable) also times the opscheck package found in DIR (a checkout or
`git archive` of another commit, e.g. `git archive HEAD~3 | tar -x -C /tmp/old`), put first on
PYTHONPATH, in the same rounds: before and after measured side by side under the same load.

Every variant is a separate `python -m pytest` subprocess timed end to end (interpreter start
included) against the bundled reference service on loopback. `pytest --version` is timed the
same way as the fixed interpreter+plugin startup floor.

Each run is measured twice: wall clock, and the CPU time (user + system) of the pytest process
alone (the service runs in another process). On a shared machine the wall clock moves with the
load; the CPU time much less, so the CPU columns are the ones to compare across runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
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

from opscheck.cli import checks_dir
from opscheck.demo.launcher import DemoService

TIMEOUT_S = 300.0
BARE_TEST = '''\
import httpx
import pytest

URL = {url!r}
client = httpx.Client()  # one module-level client, like opscheck's one shared client


@pytest.mark.parametrize("i", range({n}), ids=[f"s{{i:03d}}" for i in range({n})])
def test_health(i):
    r = client.get(URL + "/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
'''

BARE_GC_PLUGIN = '''\
"""The bare file under opscheck's GC policy, registered as opscheck's plugin does."""
from opscheck.plugin.gcpolicy import GcPolicy


def pytest_configure(config):
    config.pluginmanager.register(GcPolicy(), GcPolicy.name)
'''


@dataclass
class Variant:
    name: str
    checks: int
    argv: list[str]
    reports: tuple[str, ...] = ()  # files that must exist in the run's report dir afterwards
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the pytest process
    pythonpath: str | None = None  # another opscheck tree to import instead of the installed one


RUNBOOK = "# Bench Runbook\n\n## API Not Responding\nRestart the pods.\n\n## Health Checks\nCheck /health.\n"


def write_profile(path: Path, n: int) -> None:
    # A realistic profile: a runbook to parse and a section for every check, as users write them.
    path.with_name("RUNBOOK.md").write_text(RUNBOOK, encoding="utf-8")
    lines = ["service: bench", "runbook: RUNBOOK.md", "defaults: {smoke: {runbook: '#api-not-responding'}}", "smoke:"]
    lines += [f"  - {{name: s{i:03d}, path: /health, expect: {{status: 200, json: {{status: ok}}}}}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def child_env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPSCHECK_"))}
    # Warm .pyc caches for every variant, kept in the temp dir so nothing is written into the repo
    # (this environment may set PYTHONDONTWRITEBYTECODE, which would recompile on every run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped children only: the service is still running
    return usage.ru_utime + usage.ru_stime


def run_once(v: Variant, cwd: Path, env: dict[str, str], report_dir: Path) -> tuple[float, float]:
    """(wall-clock s, CPU s of the pytest process) for one run of the variant."""
    argv = [a.replace("{REPORTS}", str(report_dir)) for a in v.argv]
    if v.pythonpath is not None:
        env = {**env, "PYTHONPATH": v.pythonpath}
    cpu_start = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu_start
    expected = rf"\b{v.checks} passed\b" if v.checks else r"^pytest \d"
    missing = [f for f in v.reports if not (report_dir / f).is_file() or (report_dir / f).stat().st_size == 0]
    if proc.returncode != 0 or not re.search(expected, proc.stdout + proc.stderr, re.MULTILINE) or missing:
        raise SystemExit(f"{v.name}: exit {proc.returncode}, missing reports {missing}, expected {expected!r}\n"
                         f"$ {' '.join(argv)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    for f in v.reports:  # so the next run's existence check means something
        (report_dir / f).unlink()
    return elapsed, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description="opscheck smoke checks vs a bare pytest file, wall clock")
    ap.add_argument("--checks", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--extra-bare-reports", action="store_true", help="also time the bare file with --junitxml and --html")
    ap.add_argument("--compare", metavar="DIR", type=Path, action="append", default=[],
                    help="also time the opscheck package in DIR (another commit's tree) in the same rounds; repeatable")
    args = ap.parse_args()
    n = args.checks
    load_before = os.getloadavg()  # the machine may be shared: the figures are only read with the load beside them

    with tempfile.TemporaryDirectory(prefix="opscheck-bench-") as tmp, DemoService() as svc:
        work = Path(tmp)
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # isolates from the repository's pyproject
        write_profile(work / "profile.yaml", n)
        (work / "test_bare.py").write_text(BARE_TEST.format(url=svc.base_url, n=n), encoding="utf-8")
        (work / "bare_gc_policy.py").write_text(BARE_GC_PLUGIN, encoding="utf-8")
        env = child_env(work / "pycache")
        py = [sys.executable, "-m", "pytest"]
        # Same ini, rootdir and plugin set for all. --confcutdir stops pytest from also loading the
        # repo-root conftest.py (which adds pytester) above the checks dir.
        iso = ["-c", str(work / "pytest.ini"), "--rootdir", str(work), "-p", "no:cacheprovider"]
        variants = [
            Variant("pytest --version (floor)", 0, [*py, "--version", *iso]),
            Variant("bare pytest + httpx", n, [*py, str(work / "test_bare.py"), *iso, "-q"]),
            Variant("bare + opscheck's GC policy", n, [*py, str(work / "test_bare.py"), *iso, "-q", "-p", "bare_gc_policy"]),
        ]
        if args.extra_bare_reports:
            bare_reports = [*py, str(work / "test_bare.py"), *iso, "-q", "--junitxml", "{REPORTS}/junit.xml",
                            "--html", "{REPORTS}/report.html", "--self-contained-html"]
            variants.append(Variant("bare + junitxml + html", n, bare_reports, ("junit.xml", "report.html")))
            # Like for like: the same two reports and the same GC policy as an opscheck run.
            variants.append(Variant("bare + junitxml + html + GC policy", n, [*bare_reports, "-p", "bare_gc_policy"],
                                    ("junit.xml", "report.html")))
        opscheck_argv = [*py, str(checks_dir()), "--confcutdir", str(checks_dir()), *iso, "-q", "--profile",
                         str(work / "profile.yaml"), "--base-url", svc.base_url, "--report-dir", "{REPORTS}"]
        outputs = ("report.html", "junit.xml", "results.json")
        for tree in (d.resolve() for d in args.compare):
            if not (tree / "opscheck" / "__init__.py").is_file():
                raise SystemExit(f"--compare: {tree} has no opscheck/__init__.py")
            # The bundled check files are the installed ones (two lines each); the plugin is DIR's.
            variants.append(Variant(f"opscheck @ {tree.name} (3 reports)", n, opscheck_argv, outputs, pythonpath=str(tree)))
        variants.append(Variant("opscheck (3 reports)", n, opscheck_argv, outputs))

        for v in variants:  # untimed warm-up: fills the .pyc cache and the server's first-request paths
            run_once(v, work, env, work / "reports")
        for r in range(args.repeat):
            k = r % len(variants)  # rotate the starting variant each round (AB, BA, ...) to cancel drift
            for v in variants[k:] + variants[:k]:
                elapsed, cpu = run_once(v, work, env, work / "reports")
                v.times.append(elapsed)
                v.cpu.append(cpu)

    floor, bare = statistics.median(variants[0].times), statistics.median(variants[1].times)
    bare_cpu = statistics.median(variants[1].cpu)
    print("| variant | checks | median s | min s | ratio vs bare | CPU s (median) | CPU ratio vs bare |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v in variants:
        med, cpu = statistics.median(v.times), statistics.median(v.cpu)
        net = f" (net {(med - floor) / (bare - floor):.2f})" if v.checks else ""
        print(f"| {v.name} | {v.checks} | {med:.3f} | {min(v.times):.3f} | {med / bare:.2f}{net} | {cpu:.3f} | {cpu / bare_cpu:.2f} |")
    print(f"\nratio = median / bare median; net = (median - floor) / (bare median - floor), floor = pytest --version. "
          f"CPU = user + system time of the pytest process. {args.repeat} timed runs each after 1 warm-up.")
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} · {platform.platform()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()} · pytest {version('pytest')}, httpx {version('httpx')}, "
          f"pytest-html {version('pytest-html')}")
    print("load average (1, 5, 15 min): before " + ", ".join(f"{x:.2f}" for x in load_before)
          + " · after " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("per check over bare, ms (wall clock / CPU): " + ", ".join(
        f"{v.name} {(statistics.median(v.times) - bare) / n * 1000:+.2f} / {(statistics.median(v.cpu) - bare_cpu) / n * 1000:+.2f}"
        for v in variants[2:]))
    gc_cpu = statistics.median(variants[2].cpu)
    print("per check over bare with opscheck's GC policy, ms CPU: " + ", ".join(
        f"{v.name} {(statistics.median(v.cpu) - gc_cpu) / n * 1000:+.2f}" for v in variants[3:]))
    like = next((v for v in variants if v.name == "bare + junitxml + html + GC policy"), None)
    if like is not None:  # opscheck's own work: same reports, same GC policy
        like_cpu = statistics.median(like.cpu)
        print("like for like (over bare + junitxml + html + GC policy), ms CPU per check / CPU ratio: " + ", ".join(
            f"{v.name} {(statistics.median(v.cpu) - like_cpu) / n * 1000:+.2f} / {statistics.median(v.cpu) / like_cpu:.2f}"
            for v in variants if v.name.startswith("opscheck")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
