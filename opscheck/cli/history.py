"""`opscheck history ...`: what the run history says, import, prune (issue 12).

    opscheck history [report] [--history URL] [--service S] [--env E] [--days 30] [--json] [--html PATH]
    opscheck history incidents [--json]
    opscheck history import results.json [...]
    opscheck history prune --older-than 400d
    opscheck history deletes --pushgateway URL [--stale-after 2d] [--job opscheck]

The store is `--history`, else $OPSCHECK_HISTORY, else ./history.db. Objectives come from the
profile (`--profile`, $OPSCHECK_PROFILE or ./opscheck.yaml), when there is one.
Exit codes: 0 done, 4 bad input (option, file, profile), 6 the store cannot be reached or read;
141 when stdout's reader left (`| head`: opscheck.cli.main).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

USAGE = 4
UNAVAILABLE = 6
_ACTIONS = ("incidents", "import", "prune", "deletes")


def _common(p: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS
    p.add_argument("--history", metavar="URL", default=S,
                   help="the store: a SQLite path or a SQLAlchemy URL (default: $OPSCHECK_HISTORY, else history.db)")
    p.add_argument("--service", metavar="NAME", default=S, help="only this service")
    p.add_argument("--env", metavar="NAME", default=S, help="only this environment")
    p.add_argument("--days", metavar="N", default=S, help="the report window in days (default 30)")
    p.add_argument("--json", action="store_true", default=S, help="print JSON instead of text")
    p.add_argument("--profile", metavar="PATH", default=S, help="the profile whose objectives: to report")


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace, list[str]], int]]:
    """Adds this module's commands to the `opscheck` subparsers; returns command -> handler."""
    history = sub.add_parser("history", help="what the run history says: uptime, p95, SLOs, incidents; import, prune")
    _common(history)
    history.add_argument("--html", metavar="PATH", default=None, help="also write the trend report (one offline HTML page)")
    actions = history.add_subparsers(dest="history_action", metavar="ACTION",
                                     title="actions (default: report)")
    report = actions.add_parser("report", help="the default: uptime, p95, SLOs and incidents per check (text, --json, --html)")
    _common(report)
    report.add_argument("--html", metavar="PATH", default=argparse.SUPPRESS, help="also write the trend report (one offline HTML page)")
    incidents = actions.add_parser("incidents", help="list failing streaks with their timeline")
    _common(incidents)
    imp = actions.add_parser("import", help="store runs from results.json files (a run the store missed)")
    imp.add_argument("files", nargs="+", metavar="results.json")
    imp.add_argument("--location", metavar="NAME", default=None, help="when the file does not say (default: host name)")
    imp.add_argument("--slot", metavar="DURATION", default="5m", help="the default run key's slot (default 5m)")
    _common(imp)
    prune = actions.add_parser("prune", help="delete runs and deliveries older than a duration")
    prune.add_argument("--older-than", metavar="DURATION", required=True, help="e.g. 400d")
    _common(prune)
    deletes = actions.add_parser("deletes", help="print the Pushgateway DELETE calls for groups not seen recently")
    deletes.add_argument("--pushgateway", metavar="URL", required=True)
    deletes.add_argument("--stale-after", metavar="DURATION", default="2d",
                         help="a group whose newest run is older than this is retired (default 2d)")
    deletes.add_argument("--job", metavar="NAME", default="opscheck", help="the Pushgateway job (default opscheck)")
    _common(deletes)
    return {"history": _handle}


def _fail(message: str, code: int = USAGE) -> int:
    print(f"opscheck history: {message}", file=sys.stderr)
    return code


def _handle(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        return _fail(f"unrecognized arguments: {' '.join(extra)}")
    from opscheck.history.store import HistoryUnavailable

    url = getattr(args, "history", None) or os.environ.get("OPSCHECK_HISTORY") or "history.db"
    action = getattr(args, "history_action", None)
    try:
        if action == "import":
            return _import(args, url)
        if action == "prune":
            return _prune(args, url)
        if action == "deletes":
            return _deletes(args, url)
        return _report(args, url, incidents_only=action == "incidents")
    except HistoryUnavailable as exc:
        return _fail(str(exc), UNAVAILABLE)
    except _Usage as exc:
        return _fail(str(exc))


class _Usage(Exception):
    pass


def _days(args: argparse.Namespace) -> int:
    text = str(getattr(args, "days", "30"))
    if not text.isdigit() or not 1 <= int(text) <= 400:
        raise _Usage(f"--days: {text!r}: expected a whole number of days from 1 to 400")
    return int(text)


def _seconds(option: str, text: str) -> int:
    from opscheck.config.objectives import parse_seconds

    try:
        value = parse_seconds(text)
    except ValueError as exc:
        raise _Usage(f"{option}: {exc}") from None
    if value <= 0:
        raise _Usage(f"{option}: {text!r}: must be more than 0")
    return value


def _objectives(args: argparse.Namespace) -> tuple[str | None, list[Any]]:
    """(the profile's service, its objectives); (None, []) without a profile."""
    from opscheck.config.discovery import find_profile

    given = getattr(args, "profile", None)
    path = find_profile(given)
    if path is None:
        if given:
            raise _Usage(f"--profile: {given}: no such file")
        return None, []
    from opscheck.config.profile import ProfileError, load_profile

    try:
        profile = load_profile(path)
    except ProfileError as exc:
        raise _Usage(f"invalid profile:\n{exc}") from None
    return profile.service, list(profile.extras.get("objectives") or [])


def _open(url: str) -> Any:
    from pathlib import Path

    from opscheck.history.store import open_store

    if "://" not in url and not Path(url).expanduser().is_file():
        raise _Usage(f"--history: {url}: no such history file (give --history PATH or URL, or set OPSCHECK_HISTORY)")
    return open_store(url, create=False)


def _report(args: argparse.Namespace, url: str, *, incidents_only: bool) -> int:
    import json

    days = _days(args)
    objectives_service, objectives = _objectives(args)
    html = getattr(args, "html", None)
    store = _open(url)
    service, env = getattr(args, "service", None), getattr(args, "env", None)
    if incidents_only:
        from opscheck.history.trend import collect_incidents, render_incidents

        now, found = collect_incidents(store, service=service, env=env, days=days)
        if getattr(args, "json", False):
            print(json.dumps({"generated_at": now.isoformat(timespec="seconds"),
                              "incidents": [i.to_dict(now) for i in found]}, indent=2))
        else:
            print(render_incidents(found, now))
        return 0
    from opscheck.history.report import build_report, render_text

    report = build_report(store, service=service, env=env, days=days, objectives=objectives,
                          objectives_service=objectives_service)
    if html:
        from opscheck.history.trend import write_trend

        try:
            write_trend(html, store, report)
        except OSError as exc:
            raise _Usage(f"--html: cannot write {html}: {exc.strerror or exc}") from None
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
        if html:
            print(f"opscheck history: trend report written to {html}")
    return 0


def _import(args: argparse.Namespace, url: str) -> int:
    import json

    from opscheck.history.recorder import HistorySink
    from opscheck.history import default_location
    from opscheck.results import read_payload

    slot_s = _seconds("--slot", args.slot)
    code = 0
    for name in args.files:
        try:
            with open(name, encoding="utf-8") as f:
                payload = json.loads(f.read(64 * 1024 * 1024))
            run, records = read_payload(payload)
        except OSError as exc:
            raise _Usage(f"{name}: cannot read: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _Usage(f"{name}: not an opscheck results.json ({type(exc).__name__}: {str(exc)[:120]})") from None
        kept = payload.get("history") if isinstance(payload.get("history"), dict) else {}
        sink = HistorySink(url, location=kept.get("location") or args.location or default_location(),
                           release=kept.get("release"), run_key=kept.get("run_key"), slot_s=slot_s,
                           profile_path=run.profile, profile_hash=kept.get("profile_hash") or "", source="import")
        sink.maintenance = bool(kept.get("maintenance"))
        sink.ensure_recorded(run, records)
        if sink.error is not None:
            print(f"opscheck history: {name}: {sink.error}", file=sys.stderr)
            code = UNAVAILABLE
            continue
        print(f"opscheck history: {name}: {sink.summary_line().removeprefix('history: ')}")
    return code


def _prune(args: argparse.Namespace, url: str) -> int:
    from datetime import datetime, timedelta, timezone

    seconds = _seconds("--older-than", args.older_than)
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    service, env = getattr(args, "service", None), getattr(args, "env", None)
    counts = _open(url).prune(cutoff, service=service, env=env)
    scope = "".join(f" of {name} {value!r}" for name, value in (("service", service), ("environment", env)) if value)
    print(f"opscheck history: pruned {counts['runs']} runs ({counts['checks']} check results) and "
          f"{counts['deliveries']} deliveries{scope} older than {cutoff.isoformat(timespec='seconds')}")
    return 0


def _deletes(args: argparse.Namespace, url: str) -> int:
    from datetime import datetime, timedelta, timezone

    from opscheck.history.trend import pushgateway_deletes

    stale_s = _seconds("--stale-after", args.stale_after)
    base = args.pushgateway.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise _Usage(f"--pushgateway: {args.pushgateway!r} is not an http:// or https:// URL")
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=stale_s)
    store = _open(url)
    lines = pushgateway_deletes(store.groups_last_seen(), base, args.job, cutoff,
                                service=getattr(args, "service", None), env=getattr(args, "env", None))
    if not lines:
        print(f"# no group older than {cutoff.isoformat(timespec='seconds')}: nothing to delete")
    for line in lines:
        print(line)
    return 0
