"""`opscheck snapshot` and `opscheck drill`: the restore drill (issue 13).

Exit codes: 0 the snapshot was written / the drill passed; 1 the snapshot could not be taken / the
drill found something (any failed step); 2 interrupted; 3 internal error (e.g. report.html could
not take the drill section); 4 usage error (bad profile or option, no `restore:` section, an
environment not marked `drill: true` or `allow_mutating: true`, a manifest that is unreadable,
tampered or truncated), before anything runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

USAGE_ERROR = 4
INTERNAL_ERROR = 3


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace, list[str]], int]]:
    """Adds this module's commands to the `opscheck` subparsers; returns command -> handler."""
    snap = sub.add_parser("snapshot", help="record a restore manifest at backup time (files and database tables)")
    snap.add_argument("--profile", metavar="PATH")
    snap.add_argument("--env", metavar="NAME", help="the environment the backup comes from (recorded in the manifest)")
    snap.add_argument("--backup-time", metavar="ISO8601", help="when the backup was taken (default: now)")
    snap.add_argument("--data-dir", metavar="DIR", help="the folder restore.files are relative to (overrides restore.files_root)")
    snap.add_argument("-o", "--output", metavar="FILE", default="manifest.json", help="where the manifest goes (default: manifest.json)")

    drill = sub.add_parser("drill", help="restore, verify against a manifest, measure RTO and RPO, run the smoke checks; "
                                         "extra arguments go to pytest")
    drill.add_argument("--profile", metavar="PATH")
    drill.add_argument("--env", metavar="NAME", help="the restored environment: must be marked drill: true or allow_mutating: true "
                                                     "(default: the one environment marked drill: true)")
    drill.add_argument("--manifest", metavar="FILE", required=True)
    drill.add_argument("--report-dir", metavar="DIR", default="reports")
    drill.add_argument("--data-dir", metavar="DIR", help="where the restored files are (overrides restore.files_root)")
    drill.add_argument("--restore-started", metavar="ISO8601", help="the start of a restore run outside opscheck "
                                                                    "(no restore.command): the RTO clock starts there")
    drill.add_argument("--history", metavar="URL", help="store the drill in a run history (SQLite path or SQLAlchemy URL)")
    return {"snapshot": _snapshot, "drill": _drill}


def _err(command: str, text: str) -> None:
    print(f"opscheck {command}: {text}", file=sys.stderr)


def _profile(command: str, option: str | None) -> Any:
    """(profile, restore spec) or an exit code."""
    from opscheck.config.discovery import find_profile
    from opscheck.config.profile import ProfileError, load_profile

    path = find_profile(option)
    if path is None:
        _err(command, "no profile: no opscheck.yaml here (pass --profile PATH or set OPSCHECK_PROFILE)")
        return USAGE_ERROR
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        print(f"invalid opscheck profile:\n{exc}", file=sys.stderr)
        return USAGE_ERROR
    spec = profile.extras.get("restore")
    if spec is None:
        _err(command, f"{path}: restore: the profile has no restore section (see docs/profile.md, `restore`)")
        return USAGE_ERROR
    return profile, spec


def _snapshot(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        _err("snapshot", f"unrecognized arguments: {' '.join(extra)}")
        return USAGE_ERROR
    loaded = _profile("snapshot", args.profile)
    if isinstance(loaded, int):
        return loaded
    profile, spec = loaded
    from opscheck.drill.manifest import parse_time, write_manifest
    from opscheck.drill.snapshot import SnapshotError, SnapshotUsageError, take_snapshot

    if args.env is not None and args.env not in profile.environments:
        _err("snapshot", f"--env: unknown environment {args.env!r} (known: {', '.join(profile.environments) or 'none'})")
        return USAGE_ERROR
    backup_time = None
    if args.backup_time:
        try:
            backup_time = parse_time(args.backup_time)
        except ValueError:
            _err("snapshot", f"--backup-time: {args.backup_time!r} is not an ISO 8601 time (e.g. 2026-11-30T03:00:00Z)")
            return USAGE_ERROR
    try:
        document = take_snapshot(spec, service=profile.service, environment=args.env, backup_time=backup_time,
                                 data_dir=args.data_dir, log=lambda line: print(f"opscheck snapshot: {line}", flush=True))
    except SnapshotUsageError as exc:
        _err("snapshot", str(exc))
        return USAGE_ERROR
    except SnapshotError as exc:
        _err("snapshot", f"FAILED: {exc}")
        return 1
    out = Path(args.output)
    try:
        write_manifest(out, document)
    except OSError as exc:
        _err("snapshot", f"-o: cannot write {out}: {exc.strerror or exc}")
        return USAGE_ERROR
    print(f"opscheck snapshot: wrote {out}: {len(document['files']['entries'])} file(s), "
          f"{len((document.get('database') or {}).get('tables', []))} table(s); backup time {document['backup_time']}; "
          f"{document['checksum']['algorithm']} {document['checksum']['value'][:16]}...")
    return 0


def _drill(args: argparse.Namespace, extra: list[str]) -> int:
    import os

    loaded = _profile("drill", args.profile)
    if isinstance(loaded, int):
        return loaded
    profile, spec = loaded
    # Safety first: nothing runs against an environment that was not marked for it.
    env = _environment(profile, args.env)
    if isinstance(env, str):
        _err("drill", env)
        return USAGE_ERROR
    from opscheck.drill.manifest import ManifestError, load_manifest, parse_time
    from opscheck.drill.snapshot import SnapshotUsageError, manifest_key

    try:
        key = manifest_key(spec, os.environ)
        manifest = load_manifest(args.manifest, key)
    except (ManifestError, SnapshotUsageError) as exc:
        _err("drill", f"manifest refused: {exc}")
        return USAGE_ERROR
    if manifest["service"] != profile.service:
        _err("drill", f"--manifest: the manifest is for service {manifest['service']!r}, the profile for {profile.service!r}")
        return USAGE_ERROR
    if any(o.until == "ready" for o in spec.rto) and profile.ready_path is None:
        _err("drill", f"{profile.path}: restore.rto: an RTO until ready needs readiness.ready in the profile")
        return USAGE_ERROR
    restore_started = None
    if args.restore_started:
        try:
            restore_started = parse_time(args.restore_started)
        except ValueError:
            _err("drill", f"--restore-started: {args.restore_started!r} is not an ISO 8601 time")
            return USAGE_ERROR
    report_dir = Path(args.report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _err("drill", f"--report-dir: cannot create {report_dir}: {exc.strerror or exc}")
        return USAGE_ERROR
    from opscheck.cli import _terminal_defaults, _unused_plugins, checks_dir
    from opscheck.drill.session import run_drill_session

    selection = _smoke_selection()
    folder = str(checks_dir())
    base = [sys.executable, "-m", "pytest", folder, f"--rootdir={folder}", "-p", "no:cacheprovider",
            *_unused_plugins([*selection, *extra]), *_terminal_defaults(extra)]
    return run_drill_session(profile, spec, env, manifest, Path(args.manifest), report_dir, data_dir=args.data_dir,
                             restore_started=restore_started, history=args.history, pytest_args=extra, pytest_base=base,
                             selection=selection)


def _smoke_selection() -> list[str]:
    """The gate's `--mode restore` preset when this opscheck has it (smoke and readiness, one retry,
    summary.md), with its readiness wait off: the drill has polled readiness itself, and a
    restore that failed must not hold the smoke run for the preset's 300 s. Else `-m`."""
    try:
        from opscheck.config.modes import MODES
    except ImportError:
        MODES = {}
    if "restore" in MODES:
        return ["--mode", "restore", "--wait-ready", "0"]
    return ["-m", "smoke or readiness"]


def _environment(profile: Any, name: str | None) -> Any:
    """The environment to restore over, or a usage error line."""
    if name is None:
        marked = [e for e in profile.environments.values() if e.drill]
        if len(marked) == 1:
            return marked[0]
        return ("--env: name the restored environment (one marked drill: true; "
                f"{'several are' if marked else 'none is'} marked in {profile.path})")
    env = profile.environments.get(name)
    if env is None:
        return f"--env: unknown environment {name!r} (known: {', '.join(profile.environments) or 'none'})"
    if not (env.drill or env.allow_mutating):
        return (f"refusing to restore over environment {name!r}: it is not marked `drill: true` or `allow_mutating: true` "
                f"in {profile.path} (a drill restores over the environment; never over production)")
    return env


DEMO_PROFILE = """\
# The restore drill of `opscheck demo --drill`: written next to its data, in a temporary folder.
service: inventory-api
runbook: {runbook}
http: {{timeout_s: 5, deadline_s: 15}}
auth: {{header: X-API-Key, keys_env: OPSCHECK_API_KEYS}}
environments:
  drill: {{base_url: "{base_url}", drill: true}}
defaults:
  smoke: {{runbook: "#api-not-responding", severity: critical}}
smoke:
  - {{name: api-health, path: /health, expect: {{status: 200, json: {{status: ok}}}}}}
  - {{name: items, path: "/api/items?limit=5", expect: {{status: 200, json: {{count: 5}}}}}}
readiness: {{live: /health/live, ready: /health/ready, runbook: "#database-connection-issues", severity: critical}}
restore:
  files: ["**/*.csv"]
  files_root: live/data
  database:
    url_env: OPSCHECK_DEMO_DATABASE_URL
    tables: [{{table: items, updated_at: updated_at, checksum: {{key: id}}}}]
  command: {command}
  timeout: 2m
  ready_timeout: 20s
  rto: {{api: 15m, database: {{target: 30m, until: database}}}}
  rpo: {{database: 5m}}
  max_backup_age: 8d
  canaries:
    - {{name: item-1, path: /api/items/1, expect: {{json: {{id: 1, name: item-1}}}}}}
    - {{name: item-1000, path: /api/items/1000, expect: {{json: {{id: 1000, name: item-1000}}}}}}
"""


def demo_drill(args: argparse.Namespace, extra: list[str], demo_dir: Path) -> int:
    """`opscheck demo --drill`: the reference service on its own data (CSV files and a SQLite
    database), a snapshot, a backup, the data lost, then the drill restoring it. Faults given with
    --fault apply to the service (e.g. not_ready: the drill fails its RTO)."""
    import json
    import os
    import secrets
    import shutil
    import tempfile

    from opscheck.demo.data import seed
    from opscheck.demo.launcher import DemoService

    keys = os.environ.get("OPSCHECK_API_KEYS") or f"demo-{secrets.token_hex(8)}"
    os.environ["OPSCHECK_API_KEYS"] = keys
    lab = Path(tempfile.mkdtemp(prefix="opscheck-drill-demo-"))
    live = lab / "live"
    url = f"sqlite:///{live / 'inventory.db'}"
    os.environ["OPSCHECK_DEMO_DATABASE_URL"] = url
    report_dir = Path(args.report_dir).resolve()
    copy_back = [sys.executable, "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])", "backup", "live"]
    try:
        live.mkdir()
        seed(live / "data", url, rows=1000)
        with DemoService(faults=args.fault, api_keys=[k for k in keys.split(";") if k.strip()],
                         data_dir=str(live / "data"), database_url=url) as service:
            print(f"opscheck demo: reference service at {service.base_url} on its data in {live}", flush=True)
            profile = lab / "opscheck.yaml"
            profile.write_text(DEMO_PROFILE.format(runbook=json.dumps(str(demo_dir / "RUNBOOK.md")), base_url=service.base_url,
                                                   command=json.dumps(copy_back)), encoding="utf-8")
            code = _snapshot(argparse.Namespace(profile=str(profile), env="drill", backup_time=None, data_dir=None,
                                                output=str(lab / "manifest.json")), [])
            if code != 0:
                return code
            shutil.copytree(live, lab / "backup")
            shutil.rmtree(live)
            print("opscheck demo: backup taken; the service's data is gone (readiness now says so); the drill restores it",
                  flush=True)
            return _drill(argparse.Namespace(profile=str(profile), env="drill", manifest=str(lab / "manifest.json"),
                                             report_dir=str(report_dir), data_dir=None, restore_started=None,
                                             history=None), extra)
    finally:
        shutil.rmtree(lab, ignore_errors=True)
