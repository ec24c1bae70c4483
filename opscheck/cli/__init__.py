"""`opscheck demo | run | lint | runbook`: thin front doors to the pytest plugin.

Exit codes are pytest's: 0 all checks passed, 1 a check failed, 2 interrupted, 3 internal
error, 4 usage error (bad profile, unknown runbook section, bad option), 5 no checks ran.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

USAGE_ERROR = 4
INTERRUPTED = 2
INTERNAL_ERROR = 3
BROKEN_PIPE = 141  # 128 + SIGPIPE


def checks_dir() -> Path:
    import opscheck.checks

    return Path(opscheck.checks.__file__).parent


def demo_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "demo"


def _pytest(args: list[str]) -> int:
    import pytest

    # No cache dir: the checks may live in site-packages, and a gate run should leave nothing behind.
    # rootdir at the checks keeps node ids short (test_smoke.py::test_smoke[api-health]).
    folder = str(checks_dir())
    import warnings

    # pytest-benchmark prints this with its installed path, from each xdist worker too (they inherit
    # PYTHONWARNINGS); opscheck's run header says it instead ("opscheck benchmark: ... switched off").
    quiet = "ignore:Benchmarks are automatically disabled because xdist plugin is active"
    warnings.filterwarnings("ignore", message=quiet.split(":", 1)[1])
    if quiet not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), quiet)))
    return int(pytest.main([folder, f"--rootdir={folder}", "-p", "no:cacheprovider", *_unused_plugins(args),
                            *_terminal_defaults(args), *args]))


def _terminal_defaults(args: list[str]) -> list[str]:
    """How `opscheck run` and `opscheck demo` print: check ids by family instead of installed file
    paths, and one summary of failures (the runbook summary) instead of pytest's failure sections
    and short summary, which repeat it with file paths. `--tb=...` or `-r...` brings pytest's back."""
    out = ["--show-check-ids"]
    if not any(a.startswith("--tb") for a in args):
        out.append("--tb=no")
    if not any(a.startswith("-r") and not a.startswith("--") for a in args):
        out.append("-rN")
    return out


# Plugins our dependencies register that a run may not use, by the name `-p no:` takes, with the
# argument prefixes that ask for them. hypothesis's imports all of hypothesis at the end of every
# session (~0.1-0.3 s; the checks use it as a library, imported when a check needs it); anyio's loads
# its event-loop backends at import (~0.05-0.1 s; the checks' HTTP is synchronous); rerunfailures
# opens a loopback socket and a thread when xdist is installed. Left in when an argument asks for them.
UNUSED_PLUGINS: dict[str, tuple[str, ...]] = {
    "hypothesispytest": ("--hypothesis",),
    "anyio": ("--anyio",),
    "xdist": ("-n", "--numprocesses", "--dist", "--maxprocesses", "--max-worker-restart", "-d", "--tx"),
    "xdist.looponfail": ("-f", "--looponfail"),
    "rerunfailures": ("--reruns", "--only-rerun", "--rerun-except", "--force-reruns", "--retries", "--retry-on",
                      "--retry-delay", "--mode"),
}


def _unused_plugins(args: list[str]) -> list[str]:
    named = " ".join(args)
    if _profile_retries(args):
        named += " rerunfailures"  # the profile's `retries:` section asks for reruns
    out = []
    for plugin, prefixes in UNUSED_PLUGINS.items():
        short = plugin.split(".")[0].removesuffix("pytest")
        asked = short in named or any(arg == p or (arg.startswith(p) and (p.startswith("--") or arg[len(p):].isdigit() or arg[len(p):] == "auto"))
                                      for arg in args for p in prefixes)
        if not asked:
            out += ["-p", f"no:{plugin}"]
    return out


def _profile_retries(args: list[str]) -> bool:
    """Does the profile the run will read have a top-level `retries:` section? A cheap look at its
    text (the plugin reads and validates it properly); False when it cannot be read."""
    import re

    from opscheck.config.discovery import find_profile

    given = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--profile"), None)
    given = given or next((a.split("=", 1)[1] for a in args if a.startswith("--profile=")), None)
    try:
        path = find_profile(given)
        if path is None or not path.is_file() or path.stat().st_size > 1 << 20:
            return False
        return re.search(r"^retries\s*:", path.read_text(encoding="utf-8", errors="replace"), re.M) is not None
    except OSError:
        return False


class UsageParser(argparse.ArgumentParser):
    """argparse with opscheck's usage-error exit code (4, not argparse's 2), for every subcommand too:
    `add_subparsers` makes its parsers of the parent's class. An unknown option that argparse would
    only report as the next word's "invalid choice" (`history --db x.db`) is named instead."""

    argv: Sequence[str] = ()  # the command line being parsed, for naming an unknown option

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        import re

        choice = re.search(r"invalid choice: '([^']*)'", message)
        if choice is not None:
            argv = list(UsageParser.argv)
            at = argv.index(choice.group(1)) if choice.group(1) in argv else -1
            before = argv[at - 1] if at > 0 else ""
            if before.startswith("-") and before.split("=", 1)[0] not in self._option_string_actions:
                known = sorted(o for o in self._option_string_actions if o.startswith("--") and o != "--help")
                message = f"unrecognized option {before.split('=', 1)[0]!r} (known options: {', '.join(known)})"
        # One line, like every other bad input: the usage text is one `--help` away.
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(prog="opscheck", description="Operational checks for HTTP services, mapped to your runbook.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole suite against the bundled reference service")
    demo.add_argument("--fault", action="append", default=[], metavar="NAME", help="break the service (repeatable); see --list-faults")
    demo.add_argument("--list-faults", action="store_true", help="list the faults and exit")
    demo.add_argument("--serve", action="store_true", help="only serve the reference service until Ctrl-C")
    demo.add_argument("--report-dir", default="reports", metavar="DIR")
    demo.add_argument("--drill", action="store_true",
                      help="the restore drill on the service's own data: snapshot, backup, data lost, opscheck drill")
    from opscheck.watch.command import add_options as add_watch_options

    add_watch_options(demo)

    run = sub.add_parser("run", help="run the bundled checks against a service; extra arguments go to pytest")
    run.add_argument("--profile", metavar="PATH")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--env", metavar="NAME")
    target.add_argument("--base-url", metavar="URL")
    run.add_argument("--report-dir", metavar="DIR")
    run.add_argument("--wait-ready", metavar="SECONDS")
    add_watch_options(run)
    run.add_argument("--mode", choices=("gate", "oncall", "nightly", "restore"),
                     help="a preset of families, retries, watch and reports (README: modes); explicit options win")
    run.add_argument("--retries", metavar="N", help="run a failed check up to N more times; a pass on a retry is flaky")
    run.add_argument("--retry-delay", metavar="SECONDS", help="seconds between a failed attempt and its retry")
    run.add_argument("--retry-on", metavar="REASON[,REASON]",
                     help="reasons retried besides dns, connect, tls, timeout and protocol ('any': every reason)")

    lint = sub.add_parser("lint", help="validate the profile and its runbook references, offline")
    lint.add_argument("--profile", metavar="PATH")

    runbook = sub.add_parser("runbook", help="list a runbook's sections and anchors")
    runbook.add_argument("file")
    for module in COMMAND_MODULES:
        _COMMANDS.update(importlib.import_module(module).add_parsers(sub))
    return parser


# Commands of the nightly job and the drill, each module's `add_parsers(subparsers)` returns
# {command: handler(args, extra) -> exit code}. The modules import their heavy parts in the handler.
COMMAND_MODULES = ("opscheck.cli.history", "opscheck.cli.notify", "opscheck.cli.drill")
_COMMANDS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        UsageParser.argv = argv
        parser = _build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and args.command in ("lint", "runbook"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        handlers = {"demo": _demo, "run": _run, "lint": _lint, "runbook": _runbook, **_COMMANDS}
        code = handlers[args.command](args, extra)
        sys.stdout.flush()  # a reader that left shows here, not as "Exception ignored" at exit
        return code
    except BrokenPipeError:
        return _reader_left()
    except KeyboardInterrupt:
        print("opscheck: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the user gets one line, never a traceback
        from opscheck.evidence.redact import Redactor

        # No profile to learn secrets from here; URL structure (userinfo, credential query values) still goes.
        print(f"opscheck: internal error: {type(exc).__name__}: {Redactor().text(str(exc))}", file=sys.stderr)
        return INTERNAL_ERROR


def _reader_left() -> int:
    """stdout's reader closed it (`opscheck ... | head -1`): not an error of opscheck, so no message.
    Exit 141, what a shell reports for a process ended by SIGPIPE: never 0, since the command may not
    have finished (a run cut short must not read as passed). Python's recipe: point stdout at
    /dev/null so the interpreter's last flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return BROKEN_PIPE


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    forwarded = []
    for option in ("profile", "env", "base_url", "report_dir", "wait_ready", "mode", "retries", "retry_delay", "retry_on"):
        value = getattr(args, option)
        if value is not None:
            forwarded += [f"--{option.replace('_', '-')}", value]
    from opscheck.watch import command as watch

    if watch.wanted(args):
        from opscheck.config.discovery import find_profile

        return watch.run_command("opscheck run", args, forwarded, extra, args.report_dir or "reports", find_profile(args.profile))
    return _pytest(forwarded + extra)


def _lint(args: argparse.Namespace, extra: list[str]) -> int:
    from opscheck.config.discovery import find_profile
    from opscheck.config.profile import ProfileError, load_profile

    path = find_profile(args.profile)
    if path is None:
        print("opscheck lint: no profile: no opscheck.yaml here (pass --profile PATH or set OPSCHECK_PROFILE)", file=sys.stderr)
        return USAGE_ERROR
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        _print_warnings(exc.warnings)
        print(exc, file=sys.stderr)
        return USAGE_ERROR
    except RecursionError:  # load_profile bounds depth; this is the last guard against a traceback
        print(f"{path}: nested too deeply to read", file=sys.stderr)
        return USAGE_ERROR
    # Warnings (e.g. `on` that YAML 1.1 tools would read as true) never change the exit code.
    _print_warnings(profile.warnings)
    from opscheck.families.registry import FAMILY_NAMES

    cases = profile.all_cases()
    counts = ", ".join(f"{n} {name}" for name in FAMILY_NAMES if (n := sum(c.family == name for c in cases)))
    sections = {c.section.anchor for c in cases if c.section is not None}
    envs = ", ".join(profile.environments) or "none"
    print(f"{path}: ok: service {profile.service}; checks: {counts or 'none'}; "
          f"{len(sections)} runbook section(s) referenced; environments: {envs}")
    return 0


def _print_warnings(warnings: Sequence[object]) -> None:
    for warning in warnings:
        where = f"{warning.file}:{warning.line}" if warning.line else warning.file  # type: ignore[attr-defined]
        field = f" {warning.field}:" if warning.field else ""  # type: ignore[attr-defined]
        print(f"{where}:{field} warning: {warning.cause}", file=sys.stderr)  # type: ignore[attr-defined]


def _runbook(args: argparse.Namespace, extra: list[str]) -> int:
    from opscheck.runbook import Runbook, RunbookError

    try:
        runbook = Runbook.load(args.file)
    except RunbookError as exc:
        print(f"opscheck runbook: {exc}", file=sys.stderr)
        return USAGE_ERROR
    for section in runbook.sections:
        print(f"{'#' * section.level:<6} {section.title}  #{section.anchor}")
    return 0


def _demo(args: argparse.Namespace, extra: list[str]) -> int:
    from importlib.util import find_spec

    from opscheck.demo.faults import FAULTS
    from opscheck.demo.launcher import DemoService

    missing = [name for name in ("fastapi", "uvicorn") if find_spec(name) is None]
    if missing:
        # The reference service is an extra: a plain `pip install opscheck` checks services, it doesn't serve one.
        print(f"opscheck demo: the reference service needs the demo extra ({', '.join(missing)} not installed): "
              "pip install 'opscheck[demo]'", file=sys.stderr)
        return USAGE_ERROR

    if args.list_faults:
        for name, summary in FAULTS.items():
            print(f"{name:<20} {summary}")
        return 0
    unknown = [f for f in args.fault if f not in FAULTS]
    if unknown:
        print(f"opscheck demo: unknown fault {unknown[0]!r}; known: {', '.join(FAULTS)}", file=sys.stderr)
        return USAGE_ERROR
    if getattr(args, "drill", False):
        from opscheck.cli.drill import demo_drill

        return demo_drill(args, extra, demo_dir())
    # Keys reach the checks the way they would in production: through the environment.
    chosen = os.environ.get("OPSCHECK_API_KEYS")
    keys = chosen or f"demo-{secrets.token_hex(8)}"
    os.environ["OPSCHECK_API_KEYS"] = keys
    profile = demo_dir() / "opscheck.yaml"
    from opscheck.watch import command as watch

    watching = None
    if watch.wanted(args):  # checked before the service starts: a bad option costs no start-up
        watching = watch.prepare("opscheck demo", args, ["--profile", str(profile), "--env", "local"], extra,
                                 args.report_dir, profile)
        if isinstance(watching, int):
            return watching
    with DemoService(faults=args.fault, api_keys=[k for k in keys.split(";") if k.strip()]) as service:
        faults = f" with faults: {', '.join(args.fault)}" if args.fault else ""
        print(f"opscheck demo: reference service at {service.base_url}{faults}", flush=True)
        if args.serve:
            return _serve(service, profile, key_was_chosen=bool(chosen))
        if watching is not None:
            from opscheck.watch.driver import run_watch

            # Rounds are `opscheck run` processes, where --env and --base-url exclude each other: the
            # demo profile's local environment reads its URL from DEMO_BASE_URL.
            watching.env = {**os.environ, "DEMO_BASE_URL": service.base_url}
            return run_watch(watching)
        return _pytest(["--profile", str(profile), "--env", "local", "--base-url", service.base_url,
                        "--report-dir", args.report_dir, *extra])


def _serve(service: object, profile: Path, key_was_chosen: bool) -> int:
    print(f"  Ctrl-C stops it. In another shell, with the same OPSCHECK_API_KEYS:\n"
          f"  pytest --profile {profile} --base-url={service.base_url}", flush=True)  # type: ignore[attr-defined]
    if not key_was_chosen:
        print("  note: OPSCHECK_API_KEYS was not set, so the service accepts only a random key and the /api checks\n"
              "  will answer 401. Set it first: OPSCHECK_API_KEYS=pick-one opscheck demo --serve", flush=True)
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds to DemoService.__exit__, which stops the service

    # SIGTERM (kill, a supervisor) and SIGHUP (the terminal closed) end --serve like Ctrl-C; a SIGKILL
    # can't be caught: the service then sees its lifeline pipe close (opscheck/demo/launcher.py).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        service.process.wait()  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --serve is meant to end
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
