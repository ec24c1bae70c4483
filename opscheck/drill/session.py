"""One whole drill, as `opscheck drill` runs it: the steps (opscheck/drill/run.py), then the smoke
and readiness checks in a pytest process bounded by `restore.smoke_timeout` (its tree is killed
past it), then the record filed: results.json `drill`, drill.md, the section at the top of
report.html, and the history when asked for.

The smoke run is a separate process so that its bound is a hard one: a check that hangs is killed
with its process tree like the restore command, and the drill still writes its record.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from opscheck.config.profile import Environment, Profile
from opscheck.config.restore import RestoreSpec
from opscheck.drill.record import AnchorMissing, insert_section, markdown, standalone_html
from opscheck.drill.run import Drill, finish, fmt_s, offset_now
from opscheck.evidence.redact import Redactor, strip_userinfo

RECORD_FILE = ".drill-record.json"


def _redactor(profile: Profile, spec: RestoreSpec) -> Redactor:
    from opscheck.drill.database import _secrets_of

    secrets = set(profile.secrets)
    if spec.database is not None:
        url = os.environ.get(spec.database.url_env, "")
        if url:
            secrets.update(_secrets_of(url))
    if spec.manifest_key_env and os.environ.get(spec.manifest_key_env):
        secrets.add(os.environ[spec.manifest_key_env])
    redactor = Redactor(secrets, [profile.auth.header] if profile.auth else [])
    for environment in profile.environments.values():
        redactor.register_url(environment.base_url)
    return redactor


def smoke_command(base: list[str], profile: Profile, env: Environment, report_dir: Path, record_file: Path,
                  extra: list[str], selection: list[str] | None = None) -> list[str]:
    """The pytest command line of the smoke run: `base` (the CLI's `python -m pytest CHECKS ...`)
    with the profile, the environment, the record file, `selection` (default: `-m "smoke or
    readiness"`, left out when the user's arguments choose with -m) and the user's arguments."""
    if selection is None:
        selection = ["-m", "smoke or readiness"]
    if any(a == "-m" or a.startswith("-m") for a in extra):
        selection = [a for a in selection if a not in ("-m", "smoke or readiness")]
    return [*base, "--profile", str(profile.path), "--env", env.name, "--report-dir", str(report_dir),
            "--drill-record", str(record_file), *selection, *extra]


def run_drill_session(profile: Profile, spec: RestoreSpec, env: Environment, manifest: dict[str, Any], manifest_path: Path,
                      report_dir: Path, *, data_dir: str | None = None, restore_started: datetime | None = None,
                      history: str | None = None, pytest_args: list[str] | None = None,
                      pytest_base: list[str] | None = None, selection: list[str] | None = None) -> int:
    """Run the drill; returns the exit code (module docstring of opscheck/cli/drill.py)."""
    from opscheck.report.results import write_json_atomic

    redactor = _redactor(profile, spec)
    clean, user, password = strip_userinfo(env.base_url)
    authorization = None
    if user or password:
        from opscheck.evidence.redact import basic_header

        authorization = basic_header(user, password)
        redactor.register_header("Authorization", authorization)
    drill = Drill(profile=profile, spec=spec, environment=env, base_url=clean, manifest=manifest, manifest_path=manifest_path,
                  redactor=redactor, data_dir=data_dir, restore_started=restore_started, authorization=authorization)
    drill.say(f"{profile.service} on {env.name} ({redactor.url(clean)}), manifest {manifest_path} "
              f"(backup time {manifest['backup_time']})")
    record = drill.run()
    record_file = report_dir / RECORD_FILE
    write_json_atomic(record_file, record)
    results = report_dir / "results.json"
    before = results.stat().st_mtime_ns if results.exists() else None
    # A page from an earlier run must not stand for this one if the smoke run dies before writing its own.
    (report_dir / "report.html").unlink(missing_ok=True)

    drill.say(f"smoke: running the smoke and readiness checks (bounded by {fmt_s(spec.smoke_timeout_s)})")
    start_s = offset_now(record)
    command = smoke_command(pytest_base or [sys.executable, "-m", "pytest"], profile, env, report_dir, record_file,
                            list(pytest_args or []), selection)
    smoke_t = time.monotonic()
    result = _run_passthrough(command, spec.smoke_timeout_s)
    try:
        final = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        final = record
    smoke_exit = result.exit_code
    if final.get("smoke") is None:
        # The pytest run never reached its end (killed, crashed): the drill says so and files its record itself.
        why = (f"killed after {fmt_s(spec.smoke_timeout_s)} (smoke_timeout) with its process tree" if result.timed_out
               else f"ended with exit code {result.exit_code} without a result")
        final = finish(record, {"status": "failed", "exit_code": smoke_exit, "counts": {}, "checks": [],
                                "message": f"the smoke run {why}", "start_s": start_s,
                                "end_s": start_s + time.monotonic() - smoke_t})
        _write_results(results, before, profile, env, redactor, final)
    record_file.unlink(missing_ok=True)

    (report_dir / "drill.md").write_text(markdown(final) + "\n", encoding="utf-8")
    code = 0 if final["outcome"] == "passed" else 1
    if smoke_exit in (2, 3):
        code = smoke_exit
    report = report_dir / "report.html"
    html_note = str(report)
    try:
        if report.exists() and final.get("smoke", {}).get("exit_code") is not None and result.exit_code is not None:
            insert_section(report, final)
        else:
            (report_dir / "drill.html").write_text(standalone_html(final), encoding="utf-8")
            html_note = f"{report_dir / 'drill.html'} (the smoke run wrote no report.html)"
    except (AnchorMissing, OSError) as exc:
        (report_dir / "drill.html").write_text(standalone_html(final), encoding="utf-8")
        print(f"opscheck drill: INTERNAL ERROR: {exc}; the drill section is in {report_dir / 'drill.html'} instead (exit code 3)",
              file=sys.stderr)
        code = 3
        html_note = str(report_dir / "drill.html")
    if history:
        stored = record_history(history, profile, env, final, results)
        drill.say(stored)
    _ci_summary(final, report_dir, code)
    _summary(drill, final, report_dir, html_note, code)
    return code


def _ci_summary(record: dict[str, Any], report_dir: Path, code: int) -> None:
    """summary.md leads with the drill's verdict and findings, then the smoke run's own summary;
    appended to $GITHUB_STEP_SUMMARY when set, and each finding is a workflow annotation under
    GITHUB_ACTIONS=true. The smoke run's own summary.md alone would say PASS for a failed drill."""
    from opscheck.report.summary import escape_annotation_data, markdown_cell

    findings = list(record.get("findings") or [])
    passed = record.get("outcome") == "passed" and code == 0
    lines = [f"## {'✅' if passed else '❌'} opscheck drill: {'PASS' if passed else 'FAIL'} "
             f"({len(findings)} finding{'s' if len(findings) != 1 else ''}; exit code {code})", ""]
    lines += [f"- {markdown_cell(f)}" for f in findings]
    for r in (record.get("rto") or []) + (record.get("rpo") or []):
        lines.append(f"- {markdown_cell(r.get('message', ''))}")
    lines.append("")
    smoke = report_dir / "summary.md"
    try:
        previous = smoke.read_text(encoding="utf-8") if smoke.exists() else ""
    except OSError:
        previous = ""
    if previous and not previous.startswith("## ✅ opscheck drill") and not previous.startswith("## ❌ opscheck drill"):
        # Its headings go two levels down, under the drill's.
        lines += ["### The smoke run", ""] + [f"##{line}" if line.startswith("#") else line for line in previous.splitlines()]
    text = "\n".join(lines).rstrip() + "\n"
    smoke.write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as exc:
            print(f"opscheck drill: cannot append to $GITHUB_STEP_SUMMARY: {exc.strerror}", file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for finding in findings:
            print(f"::error title=opscheck drill finding::{escape_annotation_data(str(finding))}", flush=True)


def _run_passthrough(command: list[str], timeout_s: float) -> Any:
    """The smoke run with its output on our terminal, bounded; its tree is killed past the bound."""
    import subprocess

    from opscheck.drill.process import CommandResult, kill_tree

    start = time.monotonic()
    # The smoke run is one step of the drill: the job summary and the workflow annotations belong to
    # the drill's verdict (_ci_summary), or a drill with findings would post the smoke run's PASS.
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS")}
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        killed = kill_tree(proc.pid)
        proc.wait(timeout=10)
        return CommandResult(None, time.monotonic() - start, True, [], killed)
    except BaseException:
        kill_tree(proc.pid)
        raise
    return CommandResult(proc.returncode, time.monotonic() - start, False, [])


def _write_results(path: Path, before: int | None, profile: Profile, env: Environment, redactor: Redactor,
                   record: dict[str, Any]) -> None:
    """results.json with the drill, keeping the smoke run's checks when it wrote them this time."""
    from opscheck.report.results import ResultsJsonSink
    from opscheck.results import RunInfo, read_payload

    checks: list[Any] = []
    run = RunInfo(service=profile.service, environment=env.name, base_url=redactor.url(env.base_url), profile=str(profile.path),
                  started_at=record["started_at"], duration_s=record.get("duration_s") or 0.0, exit_code=1)
    if path.exists() and path.stat().st_mtime_ns != before:
        try:
            run, checks = read_payload(json.loads(path.read_text(encoding="utf-8")))
            run.exit_code = 1
        except (OSError, ValueError, KeyError, TypeError):
            checks = []
    ResultsJsonSink(path.parent, redactor.text, {"drill": record}).on_finish(run, checks)


_REASONS = {"backup-age": "stale", "restore": "status", "ready": "timeout", "files": "body", "database": "threshold",
            "rto": "latency", "rpo": "stale", "canaries": "body", "smoke": "status"}


def step_records(record: dict[str, Any]) -> list[Any]:
    """The drill's steps as check records (family `drill`, id `drill::<step>`), for the history:
    drills trend like any other check. RTO and RPO steps carry the worst achieved value as `observed`."""
    from opscheck.results import Attempt, CheckResult

    out = []
    for step in record.get("steps") or []:
        name = step["name"]
        r = CheckResult(id=f"drill::{name}", nodeid=f"drill::{name}", family="drill", name=name, severity="critical",
                        runbook=None, profile_field="restore", profile_line=None)
        outcome = step["status"]
        r.outcome = outcome
        r.reason = None if outcome == "passed" else (_REASONS.get(name, "error") if outcome == "failed" else None)
        if name == "restore" and (record.get("restore") or {}).get("timed_out"):
            r.reason = "timeout" if outcome == "failed" else r.reason
        if name == "files" and outcome == "failed" and (record.get("files") or {}).get("counts", {}).get("missing"):
            r.reason = "no_data"
        r.message = None if outcome == "passed" else step["message"]
        r.duration_ms = max(float(step["end_s"]) - float(step["start_s"]), 0.0) * 1000
        r.attempts = [Attempt(outcome, r.reason, r.message, r.duration_ms)]
        objectives = record.get(name) if name in ("rto", "rpo") else None
        if objectives:
            worst = max(objectives, key=lambda o: (o.get("achieved_s") is None, (o.get("achieved_s") or 0) - o["target_s"]))
            r.facts = {"observed": None if worst.get("achieved_s") is None else str(worst["achieved_s"]),
                       "limit": str(worst["target_s"]), "unit": "s"}
        r.settled = r.finished = True
        out.append(r)
    return out


def record_history(url: str, profile: Profile, env: Environment, record: dict[str, Any], results: Path) -> str:
    """Store the drill (its steps, and the smoke run's checks) as one run; a line saying what happened."""
    try:
        from opscheck.history import default_location
        from opscheck.history.store import HistoryUnavailable, hash_profile, open_store
    except ImportError:
        return "history: not stored: this opscheck has no history store"
    from opscheck.results import RunInfo, read_payload

    checks: list[Any] = []
    try:
        _, checks = read_payload(json.loads(results.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        checks = []
    run = RunInfo(service=profile.service, environment=env.name, base_url=record.get("base_url"), profile=str(profile.path),
                  started_at=record["started_at"], duration_s=record.get("duration_s") or 0.0,
                  exit_code=0 if record["outcome"] == "passed" else 1)
    records = step_records(record) + checks
    location = default_location()
    try:
        store = open_store(url)
        try:
            written = store.record_run(run, records, location=location, release=None,
                                       run_key=f"drill/{profile.service}/{env.name}/{location}/{record['started_at']}",
                                       profile_path=str(profile.path), profile_hash=hash_profile(profile.path), source="drill")
        finally:
            store.close()
    except HistoryUnavailable as exc:
        return f"history: NOT stored: {exc}"
    return f"history: stored as run {written.run_id} ({len(records)} checks)" if not written.duplicate else \
        f"history: already stored (run {written.run_id})"


def _summary(drill: Drill, record: dict[str, Any], report_dir: Path, html_note: str, code: int) -> None:
    for finding in record.get("findings") or []:
        drill.say(f"FINDING: {finding}")
    for r in (record.get("rto") or []) + (record.get("rpo") or []):
        drill.say(r["message"])
    drill.say(f"verdict: {'PASS' if record['outcome'] == 'passed' else 'FAIL'} ({len(record.get('findings') or [])} finding(s); "
              f"exit code {code}) in {fmt_s(record.get('duration_s'))}")
    drill.say(f"record: {report_dir / 'drill.md'}, {report_dir / 'results.json'} (drill), {html_note}")
