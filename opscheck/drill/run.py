"""The drill's steps before the smoke run: backup age, restore, readiness (RTO), files, database,
RPO and canaries. Each step is bounded in time and leaves one entry in the record's `steps`
(`name`, `status` passed|failed|skipped, `start_s`/`end_s` from the drill's start, `message`).

The record (a JSON-able dict, the `drill` object of results.json; see results.schema.json) is
finished by the smoke run (opscheck/plugin/drill.py) or, when that run never reports, by
`finish_without_smoke`. `outcome` is `passed` only when every step passed: a finding never passes.

RTO achieved = the time of a component's mark (`until`: restored, files, database, ready) minus
the restore's start. RPO achieved = the backup time minus the newest restored record (the newest
`updated_at` value across the component's tables). Backup age = the drill's start minus the backup time.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, TextIO

from opscheck.config.profile import Environment, Profile
from opscheck.config.restore import RestoreSpec
from opscheck.drill.database import Database, DatabaseError, table_facts
from opscheck.drill.files import FILE_STATUSES, find_files, verify_file
from opscheck.drill.manifest import parse_time
from opscheck.drill.process import run_command
from opscheck.evidence.redact import Redactor

READY_POLL_MAX_S = 1.0  # the RTO's resolution: readiness is asked at least once a second
MAX_CLOCK_SKEW_S = 300.0  # a backup time further in the future than this is a finding (as freshness's skew)
PROGRESS_EVERY_S = 10.0
MAX_EXTRA_LISTED = 1000  # extra files named in the record; `extra_count` has them all
# Why an RTO clock never stopped, by its mark.
NEVER = {"restored": "the restore command never succeeded", "files": "the files never verified",
         "database": "the database never verified", "ready": "readiness never passed (the RTO runs until ready)"}  # a progress line this often when the output is not a terminal (a CI log)


def fmt_s(seconds: float | None) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min."""
    if seconds is None:
        return "-"
    negative = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds:.1f} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    elif seconds < 86400 * 2:
        text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    else:
        text = f"{seconds / 86400:.1f} d"
    return f"-{text}" if negative else text


@dataclass
class Drill:
    """One drill's inputs and its record as it grows."""

    profile: Profile
    spec: RestoreSpec
    environment: Environment
    base_url: str
    manifest: dict[str, Any]
    manifest_path: Path
    redactor: Redactor
    data_dir: str | None = None
    restore_started: datetime | None = None  # an external restore's start (--restore-started)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    out: TextIO = field(default_factory=lambda: sys.stdout)
    authorization: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)  # mark -> seconds since the restore's start
    restore_t: float | None = None  # monotonic time of the restore's start

    # --- helpers -------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(f"opscheck drill: {self.redactor.text(text)}", file=self.out, flush=True)

    def now_s(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def step(self, name: str, status: str, start: float, message: str) -> dict[str, Any]:
        entry = {"name": name, "status": status, "start_s": round(start, 3), "end_s": self.now_s(),
                 "message": self.redactor.text(message)}
        self.record["steps"].append(entry)
        if status != "passed":
            self.record["findings"].append(f"{name}: {entry['message']}")
        mark = "passed" if status == "passed" else status.upper()
        self.say(f"{name}: {mark}: {entry['message']}")
        return entry

    def mark(self, name: str) -> None:
        if self.restore_t is not None:
            self.marks[name] = time.monotonic() - self.restore_t

    # --- the steps -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Every step before the smoke run; returns the record (outcome not final yet)."""
        started = datetime.now(timezone.utc)
        backup_time = parse_time(self.manifest["backup_time"])
        self.record.update({
            "outcome": "failed",
            "service": self.profile.service,
            "environment": self.environment.name,
            "base_url": self.redactor.url(self.base_url),
            "started_at": started.isoformat(timespec="seconds"),
            "started_epoch": time.time(),
            "duration_s": None,
            "manifest": {"path": str(self.manifest_path), "created_at": self.manifest["created_at"],
                         "backup_time": self.manifest["backup_time"], "environment": self.manifest.get("environment"),
                         "checksum": f"{self.manifest['checksum']['algorithm']}:{self.manifest['checksum']['value']}"},
            "steps": [], "findings": [],
            "rto": [], "rpo": [], "files": None, "tables": [], "canaries": [], "restore": None, "smoke": None,
        })
        self.backup_age(started, backup_time)
        restored_ok = self.restore()
        self.wait_ready(restored_ok)
        self.verify_files()
        newest = self.verify_database()
        self.rto()
        self.rpo(backup_time, newest)
        self.canaries(restored_ok)
        return self.record

    def backup_age(self, started: datetime, backup_time: datetime) -> None:
        start = self.now_s()
        age = (started - backup_time).total_seconds()
        limit = self.spec.max_backup_age_s
        future = age < -MAX_CLOCK_SKEW_S
        ok = age <= limit and not future
        self.record["backup_age"] = {"age_s": round(age, 3), "max_s": limit, "status": "passed" if ok else "failed"}
        if future:
            message = (f"the backup time {self.manifest['backup_time']} is {fmt_s(-age)} in the future: "
                       "a wrong --backup-time, or clocks that disagree")
        else:
            verdict = "within" if ok else "older than"
            message = f"backup taken {fmt_s(age)} ago ({self.manifest['backup_time']}), {verdict} max_backup_age {fmt_s(limit)}"
        self.step("backup-age", "passed" if ok else "failed", start, message)

    def restore(self) -> bool:
        start = self.now_s()
        spec = self.spec
        if spec.command is None:
            if self.restore_started is not None:
                self.restore_t = time.monotonic() - (datetime.now(timezone.utc) - self.restore_started).total_seconds()
                self.record["restore"] = {"command": None, "started_at": self.restore_started.isoformat(), "exit_code": None,
                                          "duration_s": None, "timed_out": False, "output_tail": []}
                self.mark("restored")
                self.step("restore", "passed", start, f"restored outside opscheck, started at {self.restore_started.isoformat()} "
                                                      f"({fmt_s(self.marks['restored'])} ago)")
            else:
                self.record["restore"] = {"command": None, "started_at": None, "exit_code": None, "duration_s": None,
                                          "timed_out": False, "output_tail": []}
                if spec.rto:
                    self.step("restore", "failed", start, "an RTO needs the restore's start: set restore.command, or pass "
                                                          "--restore-started for a restore run outside opscheck")
                    return False
                self.restore_t = time.monotonic()
                self.step("restore", "passed", start, "no restore.command: the environment was restored outside opscheck "
                                                      "(no RTO target to measure)")
            return True
        shown = " ".join(shlex.quote(a) for a in (spec.command[2:] if spec.command_is_shell else spec.command))
        target = min((o.target_s for o in spec.rto), default=None)
        label = f"RTO {fmt_s(target)}" if target else f"timeout {fmt_s(spec.timeout_s)}"
        self.say(f"restore: running {shown} (timeout {fmt_s(spec.timeout_s)})")
        tty = getattr(self.out, "isatty", lambda: False)()
        last_print = [0.0]

        def tick(elapsed: float, line: str) -> None:
            if tty:
                text = self.redactor.text(f"restore {fmt_s(elapsed)} of {label}; last: {line}")[:150]
                print(f"\r{text:<150}", end="", file=self.out, flush=True)
            elif elapsed - last_print[0] >= PROGRESS_EVERY_S:
                last_print[0] = elapsed
                self.say(f"restore: {fmt_s(elapsed)} of {label}; last: {line[:200]}")

        env = dict(self.environ)
        env.update({"OPSCHECK_MANIFEST": str(self.manifest_path), "OPSCHECK_BACKUP_TIME": self.manifest["backup_time"]})
        self.restore_t = time.monotonic()
        result = run_command(spec.command, spec.timeout_s, env=env, cwd=str(spec.profile_dir), on_tick=tick)
        if tty:
            print("\r" + " " * 150 + "\r", end="", file=self.out, flush=True)
        self.record["restore"] = {
            "command": self.redactor.text(shown),
            "started_at": (datetime.now(timezone.utc) - timedelta(seconds=result.duration_s)).isoformat(timespec="seconds"),
            "exit_code": result.exit_code,
            "duration_s": round(result.duration_s, 3),
            "timed_out": result.timed_out,
            "killed_pids": result.killed,
            "output_tail": [self.redactor.text(line) for line in result.tail],
        }
        if result.error:
            self.step("restore", "failed", start, result.error)
            return False
        if result.timed_out:
            self.step("restore", "failed", start, f"timed out after {fmt_s(spec.timeout_s)}: its process tree "
                                                  f"({len(result.killed)} process(es)) was killed")
            return False
        if result.exit_code != 0:
            last = result.tail[-1] if result.tail else "(no output)"
            self.step("restore", "failed", start, f"exit code {result.exit_code} after {fmt_s(result.duration_s)}; last: {last}")
            return False
        self.mark("restored")
        self.step("restore", "passed", start, f"exit code 0 after {fmt_s(result.duration_s)}")
        return True

    def wait_ready(self, restored_ok: bool) -> None:
        start = self.now_s()
        path = self.profile.ready_path
        if path is None:
            if any(o.until == "ready" for o in self.spec.rto):
                self.step("ready", "failed", start, "the profile has no readiness.ready: an RTO until ready cannot be measured")
            return
        if not restored_ok:
            self.step("ready", "skipped", start, "not polled: the restore did not succeed")
            return
        from opscheck.families.readiness import describe_not_ready
        from opscheck.outcome import CheckFailed
        from opscheck.transport.http import HttpClient

        url = self.base_url.rstrip("/") + path
        deadline = time.monotonic() + self.spec.ready_timeout_s
        polls, last, delay = 0, "no answer yet", 0.1
        with HttpClient(self.profile.http, self.redactor) as client:
            while True:
                polls += 1
                try:
                    headers = {"Authorization": self.authorization} if self.authorization else None
                    response = client.request("GET", url, deadline_at=min(deadline, time.monotonic() + self.profile.http.timeout_s),
                                              headers=headers)
                    if response.status == 200:
                        self.mark("ready")
                        self.step("ready", "passed", start, f"GET {path}: 200 after {polls} poll(s), "
                                                            f"{fmt_s(self.marks.get('ready'))} after the restore started")
                        return
                    down = describe_not_ready(response.status, response.text)
                    last = f"status {response.status}" + (f" ({down})" if down else "")
                except CheckFailed as failure:
                    client.unreachable.clear()  # refusals are expected while the service comes back
                    last = failure.message
                if time.monotonic() + delay >= deadline:
                    self.step("ready", "failed", start, f"GET {path} not ready within ready_timeout "
                                                        f"{fmt_s(self.spec.ready_timeout_s)} ({polls} polls); last: {last}")
                    return
                time.sleep(delay)
                delay = min(delay * 2, READY_POLL_MAX_S)

    def verify_files(self) -> None:
        entries = self.manifest["files"]["entries"]
        if not entries and not self.spec.files:
            return
        start = self.now_s()
        if not entries:
            self.step("files", "failed", start, "restore.files lists files but the manifest has none "
                                                "(taken before restore.files was set?)")
            return
        root = self.spec.root(self.data_dir)
        deadline = time.monotonic() + self.spec.timeout_s
        checks = []
        try:
            for entry in entries:
                checks.append(verify_file(root, entry, deadline=deadline))
        except TimeoutError as exc:
            self.record["files"] = {"root": str(root), "counts": {}, "entries": [c.to_dict() for c in checks], "extra": []}
            self.step("files", "failed", start, f"{exc} (bounded by restore.timeout)")
            return
        listed = {e["path"] for e in entries}
        present, _ = find_files(root, self.manifest["files"]["patterns"] or self.spec.files) if root.is_dir() else ([], [])
        extra = [p for p in present if p not in listed]
        counts = {status: sum(c.status == status for c in checks) for status in FILE_STATUSES}
        self.record["files"] = {"root": str(root), "counts": counts, "entries": [c.to_dict() for c in checks],
                                "extra": extra[:MAX_EXTRA_LISTED], "extra_count": len(extra)}
        bad = [c for c in checks if c.status != "ok"]
        summary = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
        extra_note = f"; {len(extra)} extra file(s) not in the manifest: {', '.join(extra[:5])}" if extra else ""
        extra_note += ", ..." if len(extra) > 5 else ""
        if bad:
            detail = "; ".join(c.message for c in bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            self.step("files", "failed", start, f"{summary} of {len(checks)}: {detail}{extra_note}")
        else:
            self.mark("files")
            self.step("files", "passed", start, f"{len(checks)} file(s) ok{extra_note}")

    def verify_database(self) -> dict[str, str | None]:
        """Returns table -> newest restored timestamp (ISO), for the RPO."""
        spec = self.spec.database
        recorded = self.manifest.get("database")
        expected = (recorded or {}).get("tables", [])
        if spec is None and recorded is None:
            return {}
        start = self.now_s()
        if spec is None or recorded is None:  # one side has tables the other cannot check: never a silent pass
            self.step("database", "failed", start,
                      f"the manifest lists {len(expected)} table(s) but the profile has no restore.database"
                      if spec is None else "the manifest has no database part (taken before restore.database was set?)")
            return {}
        url = self.environ.get(spec.url_env, "")
        newest: dict[str, str | None] = {}
        if not url:
            self.step("database", "failed", start, f"{spec.url_env} is not set: the restored database cannot be verified")
            return newest
        by_name = {t.qualified: t for t in spec.tables}
        results = []
        try:
            with Database(url, spec.timeout_s).connect() as db:
                for want in expected:
                    table = by_name.get(want["table"])
                    if table is None:
                        results.append({"table": want["table"], "status": "failed", "expected_rows": want["rows"], "rows": None,
                                        "message": f"{want['table']}: in the manifest but no longer in restore.database.tables"})
                        continue
                    try:
                        got = table_facts(*_as_recorded(db, table, want))
                    except DatabaseError as exc:
                        results.append({"table": want["table"], "status": "failed", "expected_rows": want["rows"], "rows": None,
                                        "message": str(exc)})
                        continue
                    results.append(_compare_table(want, got))
                    newest[want["table"]] = got.get("newest")
        except DatabaseError as exc:
            self.record["tables"] = results
            self.step("database", "failed", start, str(exc))
            return newest
        self.record["tables"] = results
        bad = [r for r in results if r["status"] != "passed"]
        if bad:
            self.step("database", "failed", start, "; ".join(r["message"] for r in bad[:5]))
        else:
            self.mark("database")
            self.step("database", "passed", start, f"{len(results)} table(s): rows and checksums as in the manifest or more")
        return newest

    def rto(self) -> None:
        if not self.spec.rto:
            return
        start = self.now_s()
        failed = []
        for objective in self.spec.rto:
            achieved = self.marks.get(objective.until)
            if achieved is None:
                status, message = "failed", f"{objective.component}: not measured: {NEVER[objective.until]}"
            elif achieved > objective.target_s:
                status, message = "failed", (f"{objective.component}: RTO {fmt_s(achieved)} (until {objective.until}) "
                                             f"over its target {fmt_s(objective.target_s)}")
            else:
                status, message = "passed", (f"{objective.component}: RTO {fmt_s(achieved)} (until {objective.until}) "
                                             f"within {fmt_s(objective.target_s)}")
            self.record["rto"].append({"component": objective.component, "until": objective.until, "target_s": objective.target_s,
                                       "achieved_s": None if achieved is None else round(achieved, 3), "status": status,
                                       "message": message})
            if status != "passed":
                failed.append(message)
        lines = failed or [r["message"] for r in self.record["rto"]]  # a finding names only what failed
        self.step("rto", "failed" if failed else "passed", start, "; ".join(lines))

    def rpo(self, backup_time: datetime, newest: dict[str, str | None]) -> None:
        if not self.spec.rpo:
            return
        start = self.now_s()
        failed = False
        for objective in self.spec.rpo:
            names = [t.qualified for t in self.spec.database.tables] if self.spec.database else []
            chosen = [n for n in names if not objective.tables or n in objective.tables or n.split(".")[-1] in objective.tables]
            stamps = [(n, parse_time(newest[n])) for n in chosen if newest.get(n)]
            entry: dict[str, Any] = {"component": objective.component, "target_s": objective.target_s, "tables": chosen}
            if not stamps:
                entry.update(achieved_s=None, newest=None, status="failed",
                             message=f"{objective.component}: not measured: no restored timestamp in {', '.join(chosen) or 'any table'}")
            else:
                table, stamp = max(stamps, key=lambda s: s[1])
                achieved = (backup_time - stamp).total_seconds()
                entry.update(achieved_s=round(achieved, 3), newest=stamp.isoformat(), newest_table=table)
                note = " (records newer than the backup time: writes after the restore, or clocks that disagree)" if achieved < 0 else ""
                if achieved > objective.target_s:
                    entry.update(status="failed", message=f"{objective.component}: RPO {fmt_s(achieved)} over its target "
                                                          f"{fmt_s(objective.target_s)} (newest restored record {stamp.isoformat()} "
                                                          f"in {table}, backup at {backup_time.isoformat()})")
                else:
                    entry.update(status="passed", message=f"{objective.component}: RPO {fmt_s(achieved)} within "
                                                          f"{fmt_s(objective.target_s)}{note}")
            failed = failed or entry["status"] != "passed"
            self.record["rpo"].append(entry)
        shown = [r for r in self.record["rpo"] if r["status"] != "passed"] or self.record["rpo"]
        self.step("rpo", "failed" if failed else "passed", start, "; ".join(r["message"] for r in shown))

    def canaries(self, restored_ok: bool) -> None:
        if not self.spec.canaries:
            return
        start = self.now_s()
        if not restored_ok:
            for canary in self.spec.canaries:
                self.record["canaries"].append({"name": canary.name, "path": canary.path, "status": "skipped",
                                                "message": "not fetched: the restore did not succeed"})
            self.step("canaries", "skipped", start, "not fetched: the restore did not succeed")
            return
        from opscheck.contract.expect import Expect, check_expect
        from opscheck.outcome import CheckFailed
        from opscheck.transport.http import HttpClient
        from opscheck.transport.target import CheckHttp, Target

        failed = []
        with HttpClient(self.profile.http, self.redactor) as client:
            target = Target(self.base_url.rstrip("/"), self.environment.name, False, self.authorization)
            for canary in self.spec.canaries:
                http = CheckHttp(client, target, auth=self.profile.auth)
                try:
                    response = http.get(canary.path)
                    check_expect(response, Expect.from_profile(canary.expect), f"GET {canary.path}")
                    entry = {"name": canary.name, "path": canary.path, "status": "passed", "reason": None,
                             "message": f"GET {canary.path}: as expected"}
                except CheckFailed as failure:
                    entry = {"name": canary.name, "path": canary.path, "status": "failed", "reason": failure.reason.value,
                             "message": self.redactor.text(failure.message)}
                    failed.append(f"{canary.name}: {entry['message']}")
                self.record["canaries"].append(entry)
        if failed:
            self.step("canaries", "failed", start, "; ".join(failed[:5]))
        else:
            self.step("canaries", "passed", start, f"{len(self.spec.canaries)} canary record(s) as expected")


def _as_recorded(db: Any, table: Any, want: dict[str, Any]) -> tuple[Any, Any, Any]:
    """table_facts arguments that verify what the manifest recorded: its checksum key, columns and
    range (whatever the profile says now), and no checksum when it recorded none."""
    from dataclasses import replace

    from opscheck.config.restore import ChecksumSpec

    recorded = want.get("checksum")
    if recorded is None:
        return db, replace(table, checksum=None), None
    spec = ChecksumSpec(key=recorded["key"], columns=tuple(recorded["columns"]))
    return db, replace(table, checksum=spec), (recorded["first"], recorded["last"])


def _compare_table(want: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    name = want["table"]
    entry: dict[str, Any] = {"table": name, "expected_rows": want["rows"], "rows": got["rows"],
                             "expected_newest": want.get("newest"), "newest": got.get("newest")}
    problems = []
    if got["rows"] < want["rows"]:
        problems.append(f"{name}: {got['rows']} rows, the manifest has {want['rows']} ({got['rows'] - want['rows']:+d}): "
                        "rows are missing")
    if "checksum" in want:
        mine, theirs = got.get("checksum") or {}, want["checksum"]
        same = mine.get("sha256") == theirs["sha256"]
        entry["checksum"] = {"key": theirs["key"], "first": theirs["first"], "last": theirs["last"],
                             "expected_rows": theirs["rows"], "rows": mine.get("rows"), "status": "passed" if same else "failed"}
        if not same:
            problems.append(f"{name}: checksum over {theirs['key']} {theirs['first']}..{theirs['last']} differs "
                            f"({mine.get('rows')} rows, the manifest has {theirs['rows']}): rows changed or are missing")
    entry["status"] = "failed" if problems else "passed"
    entry["message"] = "; ".join(problems) if problems else f"{name}: {got['rows']} rows (manifest {want['rows']})"
    return entry


def finish(record: dict[str, Any], smoke: dict[str, Any] | None) -> dict[str, Any]:
    """Add the smoke step and settle `outcome` and `duration_s`. `smoke` is
    {"status", "exit_code", "counts", "checks": [...], "message", "start_s", "end_s"}."""
    if smoke is not None:
        record["smoke"] = {k: v for k, v in smoke.items() if k not in ("start_s", "end_s")}
        step = {"name": "smoke", "status": smoke["status"], "start_s": smoke.get("start_s", 0.0),
                "end_s": smoke.get("end_s", 0.0), "message": smoke["message"]}
        record["steps"].append(step)
        if smoke["status"] != "passed":
            record["findings"].append(f"smoke: {smoke['message']}")
    record["duration_s"] = round(time.time() - float(record.get("started_epoch") or time.time()), 3)
    steps = record["steps"]
    record["outcome"] = "passed" if steps and all(s["status"] == "passed" for s in steps) and smoke is not None else "failed"
    return record


def smoke_from_records(records: list[Any], exit_code: int, start_s: float, end_s: float) -> dict[str, Any]:
    """The smoke step from the run's check records (CheckResult)."""
    checks = [{"id": r.id, "outcome": r.outcome, "reason": r.reason, "message": r.message} for r in records]
    counts: dict[str, int] = {}
    for check in checks:
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
    bad = [c for c in checks if c["outcome"] in ("failed",)]
    if not checks:
        status, message = "failed", f"no smoke or readiness check ran (exit code {exit_code})"
    elif bad:
        status = "failed"
        message = "; ".join(f"{c['id']}: [{c['reason']}] {c['message']}" for c in bad[:5])
    else:
        status = "passed"
        message = f"{len(checks)} check(s): " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    return {"status": status, "exit_code": exit_code, "counts": counts, "checks": checks, "message": message,
            "start_s": round(start_s, 3), "end_s": round(end_s, 3)}


def offset_now(record: dict[str, Any]) -> float:
    """Seconds since the drill started (wall clock), for steps timed in another process."""
    return round(time.time() - float(record.get("started_epoch") or time.time()), 3)
