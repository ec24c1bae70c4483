"""Command line for the demo service: ``python -m opscheck.demo``.

API keys come from the ``API_KEYS`` environment variable (';'-separated), not
from a flag, so they never show up in ``ps`` output.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence

import uvicorn

from opscheck.demo.app import FAULTS, create_app

PROG = "python -m opscheck.demo"
# Same names the runbook tells operators to change.
MAX_BODY_ENV = "MAX_REQUEST_BODY_BYTES"
MAX_BATCH_ENV = "INGEST_MAX_BATCH_ITEMS"
DEFAULT_MAX_BODY_BYTES = 1048576
DEFAULT_MAX_BATCH_ITEMS = 500
DEFAULT_SLOW_MS = 1200
DEFAULT_JITTER_MS = 800
# After the launcher is gone: uvicorn's graceful shutdown is bounded at 5 s (timeout_graceful_shutdown);
# past this the process ends anyway, so a stuck shutdown never leaves an orphan answering.
ORPHAN_EXIT_S = 8.0


class UsageError(Exception):
    """A bad flag or environment value; reported as one line, exit code 2."""


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    width = max(map(len, FAULTS))
    faults_help = "\n".join(f"  {name:<{width}}  {text}" for name, text in sorted(FAULTS.items()))
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the inventory-api demo service that opscheck checks run against.",
        epilog=f"faults:\n{faults_help}\n\nAPI keys are read from API_KEYS (';'-separated; default: demo-key).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=_int_at_least(0), default=8000, help="port to bind (default: %(default)s)")
    parser.add_argument(
        "--fd", type=_int_at_least(0), default=None, help="serve on this already-bound listening socket instead"
    )
    parser.add_argument(
        "--parent-fd", type=_int_at_least(0), default=None, metavar="FD",
        help="the read end of a pipe the launcher holds open: end-of-file (the launcher is gone) stops the service",
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME", help="inject a fault; repeat for several"
    )
    parser.add_argument(
        "--slow-ms",
        type=_int_at_least(0),
        default=DEFAULT_SLOW_MS,
        help="delay added by the 'slow' fault (default: %(default)s)",
    )
    parser.add_argument(
        "--jitter-ms",
        type=_int_at_least(0),
        default=DEFAULT_JITTER_MS,
        help="delay of every 20th request under the 'jitter' fault (default: %(default)s)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_int_at_least(1),
        default=None,
        help=f"request body limit for /api/ingest (default: ${MAX_BODY_ENV} or {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--max-batch-items",
        type=_int_at_least(1),
        default=None,
        help=f"items allowed per ingest batch (default: ${MAX_BATCH_ENV} or {DEFAULT_MAX_BATCH_ITEMS})",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="the data folder a restore drill restores (readiness reports it); the database URL comes from $DATABASE_URL",
    )
    return parser


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parsed flags, or the exit code argparse chose (--help, bad flag)."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def _check_faults(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - FAULTS.keys())
    if unknown:
        raise UsageError(f"unknown fault(s): {', '.join(unknown)} (known faults: {', '.join(sorted(FAULTS))})")


def _watch_parent(fd: int) -> None:
    """Stop the service when the launcher's end of the pipe `fd` closes (it never writes: a read returns
    only at end-of-file, i.e. when the launcher ended, however it ended). SIGTERM to ourselves runs
    uvicorn's graceful shutdown; `ORPHAN_EXIT_S` later the process exits regardless."""

    def wait() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(ORPHAN_EXIT_S)
        os._exit(0)

    threading.Thread(target=wait, name="opscheck-demo-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parsed = _parse_args(argv)
    if isinstance(parsed, int):
        return parsed
    args = parsed
    try:
        _check_faults(args.fault)
        max_body = args.max_body_bytes or _env_int(MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES, 1)
        max_batch = args.max_batch_items or _env_int(MAX_BATCH_ENV, DEFAULT_MAX_BATCH_ITEMS, 1)
        app = create_app(
            faults=frozenset(args.fault),
            slow_ms=args.slow_ms,
            jitter_ms=args.jitter_ms,
            max_body_bytes=max_body,
            max_batch_items=max_batch,
            data_dir=args.data_dir,
            database_url=os.environ.get("DATABASE_URL") or None,  # a secret: never a flag
        )
    except (UsageError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        # Bounded so SIGTERM never hangs on a client holding a connection open.
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    if args.parent_fd is not None:
        _watch_parent(args.parent_fd)
    # uvicorn's own `fd=` opens the descriptor as a Unix socket, so asyncio never sets TCP_NODELAY
    # on accepted connections and every keep-alive request stalls ~40 ms on Nagle + delayed ACK.
    # Adopting the inherited socket with its real family avoids that.
    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None
    server.run(sockets=sockets)
    return 0 if server.started else 1
