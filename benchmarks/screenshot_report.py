"""Render a local HTML report in headless Chromium and write a PNG screenshot of it.

    python benchmarks/screenshot_report.py REPORT.html OUT.png [--width 1400 --height 1600]
    python benchmarks/screenshot_report.py --demo OUT.png [--width 1400 --height 1600]
    python benchmarks/screenshot_report.py --per-outcome REPORT.html OUT_PREFIX

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
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1600)
    parser.add_argument("--chromium", help="browser binary (default: chromium on PATH)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds (default 60)")
    args = parser.parse_args(argv)
    special = args.demo is not None or args.per_outcome is not None
    if (args.demo is not None and args.per_outcome is not None) or (special and (args.report or args.out)):
        parser.error("--demo and --per-outcome take no REPORT/OUT arguments, and not both")
    if not special and not (args.report and args.out):
        parser.error("REPORT and OUT are required (or use --demo OUT.png or --per-outcome REPORT OUT_PREFIX)")
    if args.width < 100 or args.height < 100:
        parser.error("--width and --height must be at least 100")

    try:
        chromium = find_chromium(args.chromium)
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
