"""`opscheck notify --test`: a test alert through every route (issue 12).

Exit codes: 0 every receiver took the test alert, 1 at least one did not (each is named, with
why), 4 usage error (no profile, no receiver, a bad profile or option). URLs are never printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

USAGE_ERROR = 4


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace, list[str]], int]]:
    """Adds this module's commands to the `opscheck` subparsers; returns command -> handler."""
    notify = sub.add_parser("notify", help="check the alert path: send a test alert through every route")
    notify.add_argument("--test", action="store_true",
                        help="send a test alert to every receiver a route names (and the fallback)")
    notify.add_argument("--profile", metavar="PATH")
    notify.add_argument("--env", metavar="NAME", help="the environment named in the test alert")
    notify.add_argument("--notify", metavar="URL", help="test this generic JSON webhook instead of the profile's receivers")
    notify.add_argument("--history", metavar="URL", help="log the test deliveries in this run history")
    return {"notify": _notify}


def _notify(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        print(f"opscheck notify: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return USAGE_ERROR
    if not args.test:
        print("opscheck notify: nothing to do: pass --test to send a test alert through every route", file=sys.stderr)
        return USAGE_ERROR
    from opscheck.config.discovery import find_profile
    from opscheck.config.notify import check_url, for_url, url_secrets
    from opscheck.config.profile import ProfileError, load_profile
    from opscheck.evidence.redact import Redactor

    redactor = Redactor()
    if args.notify:
        redactor.add_secrets(url_secrets(args.notify))
        cause = check_url(args.notify)
        if cause:
            print(f"opscheck notify: --notify: {cause}", file=sys.stderr)
            return USAGE_ERROR
    path = find_profile(args.profile)
    profile = None
    if path is not None:
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            print(exc, file=sys.stderr)
            return USAGE_ERROR
        redactor.add_secrets(profile.secrets)
    elif not args.notify:
        print("opscheck notify: no profile: no opscheck.yaml here (pass --profile PATH, or --notify URL)", file=sys.stderr)
        return USAGE_ERROR
    config = for_url(args.notify) if args.notify else (profile.extras.get("notify") if profile else None)
    if config is None or not config.receivers:
        print(f"opscheck notify: {path}: no receivers: add a notify: section with receivers (or pass --notify URL)",
              file=sys.stderr)
        return USAGE_ERROR
    redactor.add_secrets(config.secrets())
    if args.env and profile is not None and profile.environments and args.env not in profile.environments:
        known = ", ".join(profile.environments)
        print(f"opscheck notify: --env: unknown environment {args.env!r} (known: {known})", file=sys.stderr)
        return USAGE_ERROR
    store = None
    if args.history:
        from opscheck.history.store import HistoryUnavailable, open_store

        try:
            store = open_store(args.history)
        except HistoryUnavailable as exc:
            print(f"opscheck notify: {redactor.text(str(exc))}", file=sys.stderr)
            return USAGE_ERROR
    from opscheck.notify.dispatch import Notifier
    from opscheck.report.terminal import plural

    service = profile.service if profile is not None else "opscheck"
    verify = profile.http.verify_tls if profile is not None else True
    notifier = Notifier(config, store, redactor, service=service, env=args.env or "", location=None, verify_tls=verify)
    try:
        section = notifier.test()
    finally:
        if store is not None:
            store.close()
    for delivery in section["deliveries"]:
        to = f"{delivery['kind']} receiver \"{delivery['receiver']}\""
        attempts = plural(delivery["attempts"], "attempt")
        if delivery["ok"]:
            print(f"ok      {to}: test alert delivered after {attempts}")
        else:
            print(redactor.text(f"FAILED  {to}: {delivery['error']} after {attempts}"))
    log = " (logged in the history)" if store is not None and not section.get("log_errors") else ""
    print(redactor.text(f"opscheck notify: {section['note']}{log}"))
    for error in section.get("log_errors", []):
        print(redactor.text(f"opscheck notify: delivery not logged: {error}"), file=sys.stderr)
    return 0 if section["status"] == "sent" else 1
