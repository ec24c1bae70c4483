"""The watch driver: run a selection of checks round after round for a window, then write one set of reports.

Each round is its own `opscheck run` process (the same arguments, its own report directory
`<report-dir>/rounds/NNN/`), started in its own session and bounded by the round's deadline. Why a
process per round rather than pytest.main() in a loop: pytest, its plugins and the checks keep
module-level state (registered plugins, imported check modules, logging handlers) that a second
session in the same process would inherit; a process starts clean every time, can be stopped at its
deadline without leaving a thread behind, and writes exactly the reports a single `opscheck run`
writes (xdist, reruns, modes and every other option included). It costs about 1 s of CPU per round,
against intervals of 30 s.

The driver reads each round's results.json and, when the watch ends, writes into `<report-dir>/`:
- results.json: the last complete round's `run` and `checks` (run.exit_code, started_at and
  duration_s are the watch's), plus `rounds` (every round, see opscheck/watch/rounds.py);
- report.html: that round's page (its banner labelled "Round N of the watch") with the watch's verdict
  and timeline inserted under the banner (opscheck/report/timeline.py); each timeline cell links to
  its round's own page, rounds/NNN/report.html;
- junit.xml and benchmark.json: that round's;
- summary.md: that round's summary.md if it wrote one, followed by a watch section; also appended to
  `$GITHUB_STEP_SUMMARY` when set (rounds run without it, so it is written once).

Ctrl-C and SIGTERM end the watch: the running round is sent SIGINT (pytest then writes its reports
for the checks done), the reports of the rounds so far are written, and the exit code is 2.
A round still running at its deadline is sent SIGINT too, then SIGKILL after a grace period; it
counts as a failed round with reason `timeout`.

Exit codes: 0 the window passed (rounds tolerated by `fail_after` included); 1 a round failed (after
`fail_after` consecutive failed rounds); 2 interrupted; 3 internal error (a round crashed, a report
could not be written, pytest-html's page lacks the timeline's anchor); 4 usage error (reported by
the first round); 5 the selection holds no checks.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from opscheck.report.terminal import plural
from opscheck.watch.progress import Progress, clock, seconds_text
from opscheck.watch.rounds import Round, read_results, round_checks, status_of
from opscheck.watch.schedule import Plan, Tally

OK, FAILED, INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR, NO_TESTS = 0, 1, 2, 3, 4, 5
GRACE_S = 10.0  # after SIGINT, how long a round may take to write its reports before SIGKILL
TICK_S = 0.2  # how often the driver looks at the clock, the round process and the signals
OUTPUT_LIMIT = 4 * 1024 * 1024  # the last round's terminal output shown at the end


@dataclass
class WatchRun:
    """What to watch: `run_args` are `opscheck run` arguments without --report-dir and --wait-ready
    (selection included); `first_round_args` go to round 1 only (--wait-ready: wait for the deploy
    once, never mask a later failure by waiting)."""

    plan: Plan
    run_args: list[str]
    report_dir: Path
    first_round_args: list[str] = field(default_factory=list)
    # Later rounds never wait for readiness, even when a --mode preset would: waiting would hide a
    # failure the watch is there to catch.
    later_round_args: list[str] = field(default_factory=lambda: ["--wait-ready", "0"])
    selection: str = ""  # how the checks were chosen, for the header line
    notes: list[str] = field(default_factory=list)  # lines under the header (e.g. how a bare number was read)
    service: str = ""
    profile: str = ""
    env: dict[str, str] | None = None


class _Signals:
    """SIGINT and SIGTERM set a flag (and stop the running round) instead of raising in the middle of the loop."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.count = 0
        self.child: subprocess.Popen[bytes] | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = self.received or signum
        self.count += 1
        child = self.child
        if child is not None and child.poll() is None:
            try:  # a second signal means "now": no more waiting for the round's reports
                child.send_signal(signal.SIGKILL if self.count > 1 else signal.SIGINT)
            except OSError:
                pass


def run_watch(watch: WatchRun, out: IO[str] | None = None, tty: bool | None = None) -> int:
    """Run the watch; returns its exit code (see the module docstring). Never raises for a round's failure."""
    out = out or sys.stdout
    plan = watch.plan
    progress = Progress(out, plan.window_s, plan.planned_rounds, tty)
    rounds_dir = watch.report_dir / "rounds"
    _clean(watch.report_dir, rounds_dir)
    started_at = datetime.now(timezone.utc)
    t0 = time.monotonic()
    rounds: list[Round] = []
    tally = Tally(plan.fail_after)
    code, ending = OK, ""
    progress.line(f"opscheck watch: {watch.selection or 'the selected checks'} every {clock(plan.interval_s)} "
                  f"for {clock(plan.window_s)} ({plural(plan.planned_rounds, 'round')} planned; a round may run {clock(plan.deadline_s)}; "
                  f"stop after {plural(plan.fail_after, 'failed round')} in a row)")
    for note in watch.notes:
        progress.line(f"opscheck watch: note: {note}")
    with _Signals() as signals:
        start = 0.0
        while True:
            if rounds:
                prev = rounds[-1]
                start = plan.next_start(prev.offset_s, prev.offset_s + prev.duration_s)
                if not plan.in_window(start):
                    # The last round may end well before the window does: say why no round follows.
                    code, ending = OK, (f"the window of {clock(plan.window_s)} ended for new rounds "
                                        f"(the next would start at {clock(start)})")
                    break
                number = len(rounds) + 1
                while signals.received is None and (now := time.monotonic() - t0) < start:
                    progress.live(f"round {number}/{plan.planned_rounds} in {max(0.0, start - now):.0f}s", now)
                    time.sleep(min(TICK_S, max(0.0, start - now)))
            if signals.received is not None:
                code, ending = INTERRUPTED, _signal_name(signals.received)
                break
            try:
                rnd = _run_round(watch, len(rounds) + 1, rounds_dir, t0, signals, progress)
            except Exception as exc:  # noqa: BLE001 - the rounds so far still get their reports
                code, ending = INTERNAL_ERROR, f"internal error in round {len(rounds) + 1}: {type(exc).__name__}: {exc}"
                break
            rounds.append(rnd)
            progress.round_done(rnd)
            if signals.received is not None:
                code, ending = INTERRUPTED, _signal_name(signals.received)
                break
            if rnd.status == "error":
                code = {USAGE_ERROR: USAGE_ERROR, NO_TESTS: NO_TESTS}.get(rnd.exit_code or 0, INTERNAL_ERROR)
                ending = rnd.message or "the round could not run"
                break
            if tally.add(rnd.status):
                code = FAILED
                ending = (f"round {rnd.number} failed" if plan.fail_after == 1
                          else f"{tally.consecutive} rounds failed in a row (--fail-after {plan.fail_after})")
                break
        progress.clear()
        elapsed = time.monotonic() - t0
        verdict = {OK: "PASS", FAILED: "FAIL", INTERRUPTED: "INTERRUPTED"}.get(code, "ERROR")
        headline = _headline(verdict, rounds, plan, elapsed, ending, tally)
        _show_last_output(rounds, rounds_dir, out)
        code, written = _write_reports(watch, rounds, code, verdict, headline, started_at, elapsed, progress)
        progress.line(f"opscheck watch: {headline} (exit code {code})")
        if written:
            progress.line(f"opscheck watch reports: {', '.join(written)}")
    return code


def _signal_name(signum: int) -> str:
    return "interrupted (Ctrl-C)" if signum == signal.SIGINT else "interrupted (SIGTERM)"


def _headline(verdict: str, rounds: list[Round], plan: Plan, elapsed: float, ending: str, tally: Tally) -> str:
    counts: dict[str, int] = {}
    for rnd in rounds:
        counts[rnd.status] = counts.get(rnd.status, 0) + 1
    shown = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no round finished"
    tolerated = ""
    if verdict == "PASS" and tally.failed_rounds:
        tolerated = f"; {plural(tally.failed_rounds, 'failed round')} tolerated (fail after {plan.fail_after} in a row)"
    failing = ""
    if rounds and rounds[-1].failing:
        failing = "; failing: " + ", ".join(f"{c.id} ({c.reason})" for c in rounds[-1].failing[:5])
    return (f"{verdict}: {ending}; {len(rounds)} of {plural(plan.planned_rounds, 'planned round')} ran in "
            f"{seconds_text(elapsed)} ({shown}){tolerated}{failing}")


def _clean(report_dir: Path, rounds_dir: Path) -> None:
    """A report left by an earlier run must never speak for this watch. Only what a watch writes is
    removed: round directories (`NNN` holding an output.txt), never anything else under rounds/."""
    if rounds_dir.is_dir() and not rounds_dir.is_symlink():
        for entry in rounds_dir.iterdir():
            if entry.name.isdigit() and entry.is_dir() and not entry.is_symlink() and (entry / "output.txt").is_file():
                shutil.rmtree(entry)
    for name in ("results.json", "report.html", "junit.xml", "summary.md", "benchmark.json"):
        (report_dir / name).unlink(missing_ok=True)
    rounds_dir.mkdir(parents=True, exist_ok=True)


def _run_round(watch: WatchRun, number: int, rounds_dir: Path, t0: float, signals: _Signals, progress: Progress) -> Round:
    plan = watch.plan
    directory = rounds_dir / f"{number:03d}"
    directory.mkdir(parents=True, exist_ok=True)
    offset = time.monotonic() - t0
    rnd = Round(number=number, started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                offset_s=offset, report_dir=str(directory.relative_to(watch.report_dir)))
    command = [sys.executable, "-m", "opscheck", "run", *watch.run_args, "--report-dir", str(directory)]
    command += watch.first_round_args if number == 1 else watch.later_round_args
    env = dict(watch.env if watch.env is not None else os.environ)
    env.pop("GITHUB_STEP_SUMMARY", None)  # the watch appends one summary at the end, not one per round
    timed_out = False
    with open(directory / "output.txt", "wb") as output:
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        except OSError as exc:
            rnd.status, rnd.message = "error", f"cannot start round {number}: {exc.strerror or exc}"
            return rnd
        signals.child = child
        try:
            deadline = time.monotonic() + plan.deadline_s
            kill_at: float | None = None
            while child.poll() is None:
                now = time.monotonic()
                if kill_at is None and now >= deadline:
                    timed_out = True
                    child.send_signal(signal.SIGINT)  # pytest writes its reports for the checks done
                    kill_at = now + GRACE_S
                elif kill_at is None and signals.received is not None:
                    kill_at = now + GRACE_S  # the handler sent SIGINT already
                elif kill_at is not None and now >= kill_at:
                    child.kill()
                progress.live(f"round {number}/{plan.planned_rounds} running", now - t0)
                try:
                    child.wait(timeout=TICK_S)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            signals.child = None
            if child.poll() is None:  # only if the loop itself failed: never leave a round behind
                child.kill()
                child.wait()
    rnd.duration_s = time.monotonic() - t0 - offset
    rnd.exit_code = child.returncode
    payload, problem = read_results(directory / "results.json")
    rnd.payload = payload
    if timed_out:
        rnd.status, rnd.reason = "failed", "timeout"
        rnd.message = f"round {number} passed its deadline of {clock(plan.deadline_s)} and was stopped"
        if payload is not None:
            rnd.checks = round_checks(payload, unsettled_reason="timeout",
                                      unsettled_message=f"no verdict before the round's deadline of {clock(plan.deadline_s)}")
        return rnd
    if child.returncode < 0 or payload is None:
        how = f"ended by signal {-child.returncode}" if child.returncode < 0 else f"exit code {child.returncode}"
        rnd.status = "interrupted" if signals.received is not None else "error"
        rnd.message = f"round {number}: {how}; {problem or 'no results'}"
        if child.returncode == USAGE_ERROR or child.returncode == NO_TESTS:
            rnd.message = _usage_message(directory / "output.txt", child.returncode)
        if payload is not None:
            rnd.checks = round_checks(payload, drop_unsettled=True)
        return rnd
    interrupted = child.returncode == INTERRUPTED or signals.received is not None
    rnd.checks = round_checks(payload, drop_unsettled=interrupted)
    rnd.status = "interrupted" if interrupted else status_of(child.returncode, rnd.checks)
    if rnd.status == "error":
        rnd.message = (_usage_message(directory / "output.txt", child.returncode)
                       if child.returncode in (USAGE_ERROR, NO_TESTS)
                       else f"round {number} ended with exit code {child.returncode} (internal error; see {rnd.report_dir}/output.txt)")
    return rnd


def _usage_message(output: Path, exit_code: int) -> str:
    """The round's own cause of a usage error or an empty selection, once, without pytest's usage text
    (`usage: pytest.main() ...`, `inifile:`, `rootdir: <site-packages>`) or its `ERROR: ` prefix: the
    watch's own line says ERROR already."""
    if exit_code == NO_TESTS:
        return "the watch's selection holds no checks (see -m/-k or the profile's watch: markers)"
    causes: list[str] = []
    for line in _read_text(output).splitlines():
        text = line.strip()
        argparse_error = re.match(r"^(\S+): error: (.+)$", text)  # `pytest.main(): error: unrecognized arguments: --x`
        if argparse_error is not None:
            where = "pytest argument" if argparse_error.group(1).startswith("pytest") else argparse_error.group(1)
            causes.append(f"{where}: {argparse_error.group(2)}")
        elif text.startswith("ERROR:") and not text.removeprefix("ERROR:").strip().startswith("usage:"):
            causes.append(text.removeprefix("ERROR:").strip())
    causes = list(dict.fromkeys(c for c in causes if c))
    return "; ".join(causes[-3:]) if causes else "usage error (see the round's output.txt)"


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - OUTPUT_LIMIT))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _final_round(rounds: list[Round]) -> Round | None:
    """The round whose checks and pages stand for the watch: the last one that ran to its end
    (a failed round, a timed-out one included), else the last one with any results."""
    for rnd in reversed(rounds):
        if rnd.payload is not None and rnd.status in ("passed", "degraded", "failed"):
            return rnd
    return next((r for r in reversed(rounds) if r.payload is not None), None)


def _show_last_output(rounds: list[Round], rounds_dir: Path, out: IO[str]) -> None:
    """The final round's own closing words: its runbook summary (failures, degraded and flaky checks
    with their runbook sections) and verdict; the last lines of its output when it could not run."""
    rnd = _final_round(rounds) or (rounds[-1] if rounds else None)
    if rnd is None:
        return
    lines = _read_text(rounds_dir / f"{rnd.number:03d}" / "output.txt").rstrip().splitlines()
    start = next((i for i, line in enumerate(lines) if "opscheck runbook summary" in line), None)
    if start is not None:
        shown = [line for line in lines[start:] if not line.startswith(_ROUND_PATHS) and not _is_report_line(line)]
    elif rnd.status == "error" and rnd.exit_code in (USAGE_ERROR, NO_TESTS):
        return  # the watch's last line says the cause once; output.txt keeps the rest
    elif rnd.status in ("error", "interrupted"):
        shown = lines[-30:]
    else:
        return
    out.write(f"opscheck watch: round {rnd.number} said ({rnd.report_dir}/output.txt):\n" + "\n".join(shown) + "\n")
    out.flush()


_ROUND_PATHS = ("opscheck reports:",)  # the round's own report paths: the watch's are printed after


def _is_report_line(line: str) -> bool:
    return ("Generated html report" in line or "generated xml file" in line) and line.startswith(("-", "="))


def _write_reports(watch: WatchRun, rounds: list[Round], code: int, verdict: str, headline: str,
                   started_at: datetime, elapsed: float, progress: Progress) -> tuple[int, list[str]]:
    """Write results.json, report.html, junit.xml, summary.md; returns the exit code (3 when a report
    could not be written) and the paths written."""
    from opscheck.report.results import write_json_atomic
    from opscheck.report.timeline import TimelineAnchorMissing, insert_timeline, label_banner, render_timeline

    final = _final_round(rounds)
    source = watch.report_dir / final.report_dir if final is not None else None
    rounds_list = [r.to_dict() for r in rounds]
    written: list[str] = []
    errors: list[str] = []
    # report.html first: when its timeline cannot be inserted, results.json must say exit code 3.
    page_path = source / "report.html" if source is not None else None
    if page_path is not None and page_path.is_file():
        try:
            page = page_path.read_text(encoding="utf-8")
            section = render_timeline(rounds_list, headline, verdict, window_s=watch.plan.window_s,
                                      interval_s=watch.plan.interval_s,
                                      started_at=started_at.isoformat(timespec="seconds"),
                                      final_round=final.number if final is not None else None)
            page = insert_timeline(page, section)
            if final is not None:
                page = label_banner(page, final.number)
            (watch.report_dir / "report.html").write_text(page, encoding="utf-8")
            written.append(str(watch.report_dir / "report.html"))
        except TimelineAnchorMissing as exc:
            errors.append(str(exc))
        except OSError as exc:
            errors.append(f"report.html: cannot write: {exc.strerror or exc}")
    for name in ("junit.xml", "benchmark.json"):
        if source is not None and (source / name).is_file():
            try:
                shutil.copyfile(source / name, watch.report_dir / name)
                written.append(str(watch.report_dir / name))
            except OSError as exc:
                errors.append(f"{name}: cannot copy: {exc.strerror or exc}")
    if errors:
        code = INTERNAL_ERROR
        for error in errors:
            progress.line(f"opscheck watch: INTERNAL ERROR: {error}")
    payload = dict(final.payload) if final is not None and final.payload is not None else _empty_payload(watch)
    if final is not None and final.reason == "timeout":
        # The checks the deadline cut off say so here too, as in the round's entry.
        by_id = {c.id: c for c in final.checks}
        payload["checks"] = [{**c, "reason": by_id[c["id"]].reason, "message": by_id[c["id"]].message}
                             if isinstance(c, dict) and c.get("id") in by_id else c for c in payload.get("checks", [])]
    run = dict(payload.get("run") or {})
    run.update(started_at=started_at.isoformat(timespec="seconds"), duration_s=round(elapsed, 3), exit_code=code)
    payload["run"] = run
    payload["rounds"] = rounds_list
    try:
        write_json_atomic(watch.report_dir / "results.json", payload)
        written.append(str(watch.report_dir / "results.json"))
    except (OSError, TypeError, ValueError) as exc:
        code = INTERNAL_ERROR
        progress.line(f"opscheck watch: INTERNAL ERROR: results.json: cannot write: {exc}")
    summary = _summary_md(source, rounds, headline, verdict)
    try:
        (watch.report_dir / "summary.md").write_text(summary, encoding="utf-8")
        written.append(str(watch.report_dir / "summary.md"))
        step = os.environ.get("GITHUB_STEP_SUMMARY")
        if step:
            with open(step, "a", encoding="utf-8") as handle:
                handle.write(summary)
    except OSError as exc:
        code = INTERNAL_ERROR
        progress.line(f"opscheck watch: INTERNAL ERROR: summary.md: cannot write: {exc.strerror or exc}")
    written.append(str(watch.report_dir / "rounds") + "/")
    return code, written


def _empty_payload(watch: WatchRun) -> dict[str, Any]:
    """results.json when no round left results (stopped before the first one ended)."""
    return {"version": 1, "run": {"service": watch.service, "environment": None, "base_url": None,
                                  "profile": watch.profile, "counts": {"passed": 0, "degraded": 0, "failed": 0, "skipped": 0}},
            "checks": []}


def _summary_md(source: Path | None, rounds: list[Round], headline: str, verdict: str) -> str:
    """The watch's verdict and a row per round first (the watch's verdict is the one that counts),
    then the summary.md of the round that stands for it, when its run wrote one."""
    parts = [f"## opscheck watch: {verdict}\n\n{headline}\n\n"]
    if rounds:
        parts.append("| round | started | status | seconds | failing |\n|---:|---|---|---:|---|\n")
        for rnd in rounds:
            failing = ", ".join(f"`{c.id}` ({c.reason})" for c in rnd.failing[:5]) or (rnd.message or "")
            parts.append(f"| {rnd.number} | {rnd.started_at[11:19]} | {rnd.status} | {rnd.duration_s:.1f} | "
                         f"{failing.replace('|', '/')} |\n")
    if source is not None and (source / "summary.md").is_file():
        parts.append(f"\n### Round {source.name.lstrip('0') or '0'}\n\n" + _read_text(source / "summary.md").rstrip() + "\n")
    return "".join(parts)
