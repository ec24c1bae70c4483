"""Render a local HTML report in headless Chromium and write a PNG screenshot of it.

    python benchmarks/screenshot_report.py REPORT.html OUT.png [--width 1400 --height 1600]
    python benchmarks/screenshot_report.py --demo OUT.png [--width 1400 --height 1600]
    python benchmarks/screenshot_report.py --per-outcome REPORT.html OUT_PREFIX
    python benchmarks/screenshot_report.py --runs OUT_DIR [--only pass,slow,degraded-flaky] [--width 1366]

`--runs` makes the three reports an on-call engineer meets and screenshots each at --width
(1366 px by default here): `pass` (`opscheck demo`), `slow` (`opscheck demo --fault slow`: failures
with latency plots; as long as that run takes) and `degraded-flaky` (the demo profile with its SLO
warn band at 0.01 ms, against the reference service with the `first_request_cut` fault and
`--retries 2`, OpenAPI conformance left out: checks that pass only on a retry are flaky). Each gives OUT_DIR/<run>/ (the
reports), OUT_DIR/<run>.png (the top of the page) and OUT_DIR/<run>-full.png (the whole page, up to
12,000 px), and one line: exit code, banner verdict, page and table width against the window. It
fails (exit 1) when a verdict is not the expected one or the page is wider than the window.

`--per-outcome` writes OUT_PREFIX-<outcome>.png for every outcome the report's summary counts
(passed, degraded, flaky, skipped, failed, ...), each filtered to that outcome alone with
pytest-html's `?visible=` parameter, so each picture shows that outcome's rows, filter and count.

`--demo` writes a temporary page with sample charts from opscheck.report.charts and screenshots
that instead. The PNG is then checked (exists, > 10 KB, PNG signature) and its path and size
are printed. Works offline: Chromium's background networking is switched off, because on a
machine without a network it otherwise stalls on refused connections.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from html import escape, unescape
from pathlib import Path

TIMEOUT_S = 60.0
MIN_PNG_BYTES = 10 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROG = "screenshot_report"


class ScreenshotError(Exception):
    """A one-line reason the screenshot could not be made."""


def find_chromium(explicit: str | None) -> str:
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ScreenshotError(f"chromium not found or not executable: {explicit}")
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError("chromium not found on PATH (install Debian's `chromium` package)")


def screenshot(
    chromium: str, page: Path, out: Path, width: int, height: int, timeout_s: float = TIMEOUT_S,
    query: str = "",
) -> int:
    """Screenshot `page` (with `?query` if given) into `out` with a throwaway profile; returns the
    PNG's size in bytes."""
    page, out = page.resolve(), out.resolve()
    if not page.is_file():
        raise ScreenshotError(f"no such report: {page}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # a stale PNG must not pass the checks below
    _run_chromium(chromium, page, [f"--window-size={width},{height}", f"--screenshot={out}"], timeout_s, query)
    return check_png(out)


def dump_dom(chromium: str, page: Path, timeout_s: float = TIMEOUT_S, query: str = "",
             width: int | None = None, height: int | None = None) -> str:
    """The page's DOM after its scripts ran (Chromium's --dump-dom), as serialized HTML; laid out
    in a window of `width` x `height` px when given."""
    page = page.resolve()
    if not page.is_file():
        raise ScreenshotError(f"no such report: {page}")
    size = [f"--window-size={width},{height or 1000}"] if width else []
    out = _run_chromium(chromium, page, [*size, "--dump-dom"], timeout_s, query)
    return out.decode("utf-8", "replace")


# Run after pytest-html's own script has built the tables: measures the laid-out page and writes
# the figures into <body data-probe="...">, which --dump-dom then carries out.
PROBE_JS = """
(function () {
  const all = (sel) => [...document.querySelectorAll(sel)];
  const right = (el) => Math.round(el.getBoundingClientRect().right);
  // A plot is cut when an ancestor that clips (overflow not visible) ends before the plot does.
  const plots = all('.opscheck-plot svg').map((svg) => {
    const box = svg.getBoundingClientRect();
    let cut = 0;
    for (let el = svg.parentElement; el && el !== document.body; el = el.parentElement) {
      const style = getComputedStyle(el);
      if (style.overflowX !== 'visible' || style.overflowY !== 'visible') {
        const outer = el.getBoundingClientRect();
        if (box.bottom > outer.bottom + 1 || box.right > outer.right + 1) cut += 1;
      }
    }
    return {height: Math.round(box.height), width: Math.round(box.width), cut};
  });
  const banner = document.getElementById('opscheck-verdict');
  const probe = {
    viewport: document.documentElement.clientWidth,
    pageWidth: document.documentElement.scrollWidth,
    pageHeight: document.documentElement.scrollHeight,
    tableWidth: Math.round(document.getElementById('results-table').getBoundingClientRect().width),
    widestRow: Math.max(0, ...all('#results-table tr').map(right)),
    reasonRight: Math.max(0, ...all('#results-table td.col-reason').map(right)),
    runbookRight: Math.max(0, ...all('#results-table td.col-runbook').map(right)),
    plots,
    checks: all('#results-table td.col-testId').map((td) => td.textContent),
    environment: all('#environment tr').map((tr) => tr.cells[0].textContent),
    verdict: banner ? banner.dataset.verdict : null,
    banner: banner ? banner.innerText : null,
    sectionsAfterBanner: !!(banner && banner.nextElementSibling && banner.nextElementSibling.id === 'opscheck-sections'),
  };
  document.body.setAttribute('data-probe', JSON.stringify(probe));
})();
"""


def layout_probe(chromium: str, report: Path, width: int = 1366, height: int = 1000, query: str = "collapsed=",
                 timeout_s: float = TIMEOUT_S) -> tuple[dict, str]:
    """Lay out `report` in a `width` px window (by default with every row's details open:
    pytest-html's `?collapsed=`) and measure it: (figures, the DOM as serialized HTML).

    Figures: viewport, pageWidth and pageHeight (px), tableWidth, widestRow, reasonRight and
    runbookRight (the right edge of the widest row and of the Reason and Runbook cells), plots
    (each plot's size and `cut`: how many clipping ancestors end before it does), checks (the
    Check column's texts), environment (the environment table's keys in order), verdict and
    banner (the banner's data-verdict and text), sectionsAfterBanner. The report itself is not
    changed: a copy with the probe script is measured. Raises ScreenshotError."""
    page = report.read_text(encoding="utf-8")
    if "</body>" not in page:
        raise ScreenshotError(f"{report}: no </body>: not an HTML report")
    with tempfile.TemporaryDirectory(prefix="opscheck-probe-") as d:
        copy = Path(d) / "probe.html"
        copy.write_text(page.replace("</body>", f"<script>{PROBE_JS}</script></body>", 1), encoding="utf-8")
        dom = dump_dom(chromium, copy, timeout_s, query, width, height)
    found = re.search(r'<body[^>]*data-probe="([^"]*)"', dom)
    if found is None:
        raise ScreenshotError(f"{report}: the layout probe left no figures (did the page's script fail?)")
    return json.loads(unescape(found.group(1))), dom


def _run_chromium(chromium: str, page: Path, extra: list[str], timeout_s: float, query: str) -> bytes:
    uri = page.as_uri() + (f"?{query}" if query else "")
    with tempfile.TemporaryDirectory(prefix="opscheck-chromium-", ignore_cleanup_errors=True) as d:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={d}",
            *extra,
            uri,
        ]
        # Own process group, so a timeout ends Chromium's helper processes too, and only those.
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ScreenshotError(f"chromium timed out after {timeout_s:g} s") from None
        finally:
            _kill_group(proc)  # stray helpers that outlived the browser process
        if proc.returncode != 0:
            last = _last_line(err)
            raise ScreenshotError(f"chromium exited with {proc.returncode}: {last}")
    return out


def counted_outcomes(report: Path) -> list[str]:
    """The outcomes report.html's summary counts at least once, in its order."""
    page = report.read_text(encoding="utf-8")
    found = re.findall(r'data-test-result="(\w+)"(?![^>]*disabled)[^>]*>', page)
    return list(dict.fromkeys(found))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


def _last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def check_png(path: Path) -> int:
    if not path.is_file():
        raise ScreenshotError(f"chromium wrote no screenshot at {path}")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(len(PNG_SIGNATURE))
    if head != PNG_SIGNATURE:
        raise ScreenshotError(f"{path} is not a PNG (signature {head!r})")
    if size <= MIN_PNG_BYTES:
        raise ScreenshotError(f"{path} is only {size} bytes (expected > {MIN_PNG_BYTES})")
    return size


def demo_page() -> str:
    """A page with sample charts: typical, long-tail (log bins), percentile curve, empty."""
    try:
        from opscheck.report.charts import latency_svg, percentile_curve_svg
    except ImportError:  # not installed in this interpreter: use the checkout this script is in
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from opscheck.report.charts import latency_svg, percentile_curve_svg

    rng = random.Random(20240601)  # fixed seed: the same page every time
    typical = [rng.lognormvariate(3.0, 0.35) for _ in range(5000)]
    typical += [rng.uniform(60, 140) for _ in range(40)]  # a few slow requests
    tail = [20.0] * 990 + [2000.0] * 10
    thresholds = {"p95 budget": 400.0, "p50 budget": 250.0}
    tight = {"p95 budget": 60.0, "p50 budget": 25.0}

    def pcts(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            f"p{q}": ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
            for q in (50, 95, 99)
        }

    charts = [
        (
            "Histogram, budgets beyond the data",
            latency_svg(
                typical,
                thresholds=thresholds,
                percentiles=pcts(typical),
                title='GET /api/orders <staging> & "eu-west"',
            ),
        ),
        (
            "Histogram, budgets inside the data",
            latency_svg(
                typical, thresholds=tight, percentiles=pcts(typical), title="GET /api/orders"
            ),
        ),
        (
            "Histogram, long tail (log-spaced bins)",
            latency_svg(
                tail + [float("nan"), -1.0],
                thresholds={"p99 budget": 1000.0},
                percentiles=pcts(tail),
                title="GET /search",
            ),
        ),
        (
            "Percentile curve",
            percentile_curve_svg(typical, thresholds=thresholds, title="GET /api/orders"),
        ),
        (
            "Percentile curve, long tail",
            percentile_curve_svg(
                tail, thresholds={"p99 budget": 1000.0, "p50 budget": 250.0}, title="GET /search"
            ),
        ),
        ("Empty", latency_svg([], title="GET /nothing")),
    ]
    body = "\n".join(f"<section><h2>{escape(name)}</h2>\n{svg}\n</section>" for name, svg in charts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>opscheck svg demo</title>'
        "<style>body{font-family:sans-serif;margin:16px;display:flex;flex-wrap:wrap;gap:12px}"
        "section{border:1px solid #ddd;padding:8px}h2{font-size:14px;margin:0 0 6px}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )


RUNS = ("pass", "slow", "degraded-flaky")
EXPECTED = {"pass": "PASS", "slow": "FAIL", "degraded-flaky": "PASS with degraded and flaky results"}
RUN_TIMEOUT_S = 600.0
FULL_PAGE_MAX_PX = 12000
# The demo profile's SLO warn band, made tight enough that a healthy service is degraded.
SLO_WARN = ("warn: {p95_ms: 250}", "warn: {p95_ms: 0.01}")


def _opscheck_modules() -> tuple[object, Path]:
    try:
        from opscheck.cli import demo_dir
        from opscheck.demo.launcher import DemoService
    except ImportError:  # not installed in this interpreter: use the checkout this script is in
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from opscheck.cli import demo_dir
        from opscheck.demo.launcher import DemoService
    return DemoService, demo_dir()


def make_run(name: str, out_dir: Path, timeout_s: float = RUN_TIMEOUT_S) -> tuple[int, Path]:
    """Run opscheck for the report `name` (one of RUNS) into out_dir/name; (exit code, report.html).
    Raises ScreenshotError when the run wrote no report.html."""
    report_dir = (out_dir / name).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    opscheck = [sys.executable, "-m", "opscheck"]
    env = {**os.environ}
    env.pop("PYTEST_BASE_URL", None)
    if name in ("pass", "slow"):
        faults = ["--fault", "slow"] if name == "slow" else []
        rc = _bounded([*opscheck, "demo", *faults, "--report-dir", str(report_dir)], env, out_dir, timeout_s)
    elif name == "degraded-flaky":
        service_cls, demo = _opscheck_modules()
        profile_dir = out_dir / f"{name}-profile"
        if profile_dir.exists():
            shutil.rmtree(profile_dir)
        shutil.copytree(demo, profile_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        profile = profile_dir / "opscheck.yaml"
        text = profile.read_text(encoding="utf-8")
        if SLO_WARN[0] not in text:
            raise ScreenshotError(f"{demo / 'opscheck.yaml'}: no `{SLO_WARN[0]}` to tighten (the demo profile changed)")
        profile.write_text(text.replace(*SLO_WARN), encoding="utf-8")
        key = "screenshot-key-0123456789"
        with service_cls(faults=["first_request_cut"], api_keys=[key]) as service:  # type: ignore[operator]
            env.update(OPSCHECK_API_KEYS=key, DEMO_BASE_URL=service.base_url)
            rc = _bounded([*opscheck, "run", "--profile", str(profile), "--env", "local", "--report-dir",
                           str(report_dir), "--retries", "2",
                           # OpenAPI conformance reads a fresh path on each attempt, each one's first answer cut
                           "-k", "not conformance"],
                          env, out_dir, timeout_s)
    else:
        raise ScreenshotError(f"unknown run {name!r}; known: {', '.join(RUNS)}")
    report = report_dir / "report.html"
    if not report.is_file():
        raise ScreenshotError(f"{name}: opscheck exited with {rc} and wrote no {report}")
    return rc, report


def _bounded(cmd: list[str], env: dict[str, str], out_dir: Path, timeout_s: float) -> int:
    """Run `cmd` with its output in out_dir/<run>.log, ended (its process group) after timeout_s."""
    log = out_dir / f"{Path(cmd[cmd.index('--report-dir') + 1]).name}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=out_dir, start_new_session=True)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ScreenshotError(f"{' '.join(cmd[2:4])} did not finish within {timeout_s:g} s (log: {log})") from None


def shoot_runs(chromium: str, out_dir: Path, names: list[str], width: int, height: int, timeout_s: float) -> list[str]:
    """Make and screenshot each run in `names`; returns the problems found (empty: all as expected)."""
    problems = []
    for name in names:
        rc, report = make_run(name, out_dir)
        probe, _ = layout_probe(chromium, report, width, height, query="", timeout_s=timeout_s)
        top = screenshot(chromium, report, out_dir / f"{name}.png", width, height, timeout_s)
        full_height = max(height, min(int(probe["pageHeight"]), FULL_PAGE_MAX_PX))
        full = screenshot(chromium, report, out_dir / f"{name}-full.png", width, full_height, timeout_s)
        print(f"{name}: exit {rc}; banner {probe['verdict']!r}; page {probe['pageWidth']} px wide "
              f"(table {probe['tableWidth']} px) in a {probe['viewport']} px window, {probe['pageHeight']} px high; "
              f"{(out_dir / f'{name}.png').resolve()} {top} bytes, {name}-full.png {full} bytes", flush=True)
        if probe["verdict"] != EXPECTED[name]:
            problems.append(f"{name}: the banner says {probe['verdict']!r}, expected {EXPECTED[name]!r} (log: {name}.log)")
        if probe["pageWidth"] > probe["viewport"]:
            problems.append(f"{name}: the page is {probe['pageWidth']} px wide in a {probe['viewport']} px window")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Screenshot a local HTML report with headless Chromium."
    )
    parser.add_argument("report", nargs="?", type=Path, help="local HTML file to render")
    parser.add_argument("out", nargs="?", type=Path, help="PNG to write")
    parser.add_argument(
        "--demo",
        type=Path,
        metavar="OUT.png",
        help="render a demo page of opscheck.report.charts charts to OUT.png",
    )
    parser.add_argument(
        "--per-outcome",
        nargs=2,
        type=Path,
        metavar=("REPORT", "OUT_PREFIX"),
        help="one PNG per counted outcome, the report filtered to it: OUT_PREFIX-<outcome>.png",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        metavar="OUT_DIR",
        help="make the pass, slow and degraded-flaky reports and screenshot each into OUT_DIR",
    )
    parser.add_argument("--only", help=f"with --runs: a comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--width", type=int, default=None, help="px (default 1400; 1366 with --runs)")
    parser.add_argument("--height", type=int, default=1600)
    parser.add_argument("--chromium", help="browser binary (default: chromium on PATH)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds (default 60)")
    args = parser.parse_args(argv)
    modes = [m for m in (args.demo, args.per_outcome, args.runs) if m is not None]
    special = bool(modes)
    if len(modes) > 1 or (special and (args.report or args.out)):
        parser.error("--demo, --per-outcome and --runs take no REPORT/OUT arguments, and only one of them")
    if not special and not (args.report and args.out):
        parser.error("REPORT and OUT are required (or use --demo OUT.png, --per-outcome REPORT OUT_PREFIX or --runs OUT_DIR)")
    if args.only and args.runs is None:
        parser.error("--only goes with --runs")
    names = [n.strip() for n in (args.only or ",".join(RUNS)).split(",") if n.strip()]
    if any(n not in RUNS for n in names):
        parser.error(f"--only: known runs are {', '.join(RUNS)}")
    if args.width is None:
        args.width = 1366 if args.runs is not None else 1400
    if args.width < 100 or args.height < 100:
        parser.error("--width and --height must be at least 100")

    try:
        chromium = find_chromium(args.chromium)
        if args.runs is not None:
            args.runs.mkdir(parents=True, exist_ok=True)
            problems = shoot_runs(chromium, args.runs, names, args.width, args.height, args.timeout)
            for problem in problems:
                print(f"{PROG}: error: {problem}", file=sys.stderr)
            return 1 if problems else 0
        if args.per_outcome is not None:
            report, prefix = args.per_outcome
            outcomes = counted_outcomes(report) if report.is_file() else []
            if not outcomes:
                raise ScreenshotError(f"{report}: no counted outcomes (not a pytest-html report?)")
            for outcome in outcomes:
                out = prefix.with_name(f"{prefix.name}-{outcome}.png")
                size = screenshot(chromium, report, out, args.width, args.height, args.timeout, f"visible={outcome}")
                print(f"{out.resolve()} {size} bytes")
            return 0
        if args.demo is not None:
            with tempfile.TemporaryDirectory(prefix="opscheck-svg-demo-") as d:
                page = Path(d) / "demo.html"
                page.write_text(demo_page(), encoding="utf-8")
                out = args.demo
                size = screenshot(chromium, page, out, args.width, args.height, args.timeout)
        else:
            out = args.out
            size = screenshot(chromium, args.report, out, args.width, args.height, args.timeout)
    except (ScreenshotError, OSError, ImportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(f"{out.resolve()} {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
