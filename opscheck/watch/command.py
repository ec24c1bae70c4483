"""`opscheck run --watch` and `opscheck demo --watch`: the options, their checks, and the watch they start.

Where each setting comes from, first found wins:
1. the command line: `--watch [WINDOW]`, `--interval`, `--fail-after`, and `-m`/`-k` (which replace
   the selection as a whole);
2. the profile's `watch:` section (opscheck/config/watch.py);
3. the `--mode` preset's watch defaults, when opscheck/config/modes.py defines them (read by name:
   `MODES[mode].watch` or `MODES[mode]["watch"]`, a mapping with the `watch:` section's keys, durations
   also as `<key>_s` seconds and the markers also as `markexpr`);
4. built in: window 15m, interval 30s, fail after 1 round, checks `-m "smoke or readiness"`.

Bad values end in one line naming the option and the cause, exit code 4.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from opscheck.config.watch import (
    DEFAULT_FAIL_AFTER,
    DEFAULT_INTERVAL_S,
    DEFAULT_MARKERS,
    DEFAULT_WINDOW_S,
    MAX_WINDOW_S,
    WatchSettings,
    check_combination,
    parse_count,
    parse_seconds,
)
from opscheck.watch.schedule import Plan

if TYPE_CHECKING:
    from opscheck.watch.driver import WatchRun

USAGE_ERROR = 4
# Options of `opscheck run` that the watch sets per round itself.
PER_ROUND = ("--report-dir", "--wait-ready")


class WatchUsageError(Exception):
    """A watch option or its combination is wrong; str() is the one-line message."""


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("watch", "repeat a selection of checks for a window after a deploy")
    group.add_argument("--watch", nargs="?", const="", default=None, metavar="WINDOW",
                       help="repeat the checks for WINDOW (e.g. 15m; without a value: the profile's watch.window, else 15m); "
                            "smoke and readiness unless -m/-k or the profile's watch: section choose others")
    group.add_argument("--interval", metavar="DURATION", default=None,
                       help="from one round's start to the next (default 30s); a late round delays the next")
    group.add_argument("--fail-after", metavar="N", default=None,
                       help="stop with exit 1 after N failed rounds in a row (default 1)")


def wanted(args: argparse.Namespace) -> bool:
    """Did the command line ask for a watch (or give a watch option)?"""
    return any(getattr(args, name, None) is not None for name in ("watch", "interval", "fail_after"))


def prepare(prog: str, args: argparse.Namespace, forwarded: list[str], extra: list[str],
            report_dir: str, profile_path: Path | None) -> WatchRun | int:
    """Check the options and build the watch, or print the one-line problem and return exit code 4.

    `forwarded` are the `opscheck run` options the front door built (--profile, --env, --base-url,
    --report-dir, --wait-ready, --mode, ...), `extra` the pytest arguments; `profile_path` the
    profile whose `watch:` section applies (None when none was found: a usage error).
    """
    from opscheck.watch.driver import WatchRun

    try:
        check_stray_values(args, extra)
        settings, service = _profile_settings(profile_path)
        plan, selection, select_args = resolve(args, extra, settings, _mode_defaults(args, extra))
    except WatchUsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    run_args, first = split_per_round(forwarded)
    return WatchRun(plan=plan, run_args=[*run_args, *select_args, *extra], report_dir=Path(report_dir),
                    first_round_args=first, selection=selection, service=service,
                    profile=str(profile_path) if profile_path else "", notes=unit_notes(args))


def check_stray_values(args: argparse.Namespace, extra: list[str]) -> None:
    """A value that looks like an option is not taken by `--watch [WINDOW]` (argparse leaves `-5s` for
    pytest, whose usage text would then end round 1); no pytest option starts with a digit, so such a
    word is a misplaced negative value: a usage error naming the option, before any round."""
    stray = next((a for a in extra if re.fullmatch(r"-[\d.][\w.]*", a)), None)
    if stray is None:
        return
    option = "--watch" if getattr(args, "watch", None) == "" else "a watch option"
    raise WatchUsageError(f"{option}: {stray!r}: a duration must be longer than 0 s (e.g. --watch 15m --interval 30s)")


def unit_notes(args: argparse.Namespace) -> list[str]:
    """How a duration given without a unit was read: as seconds, as in the profile (`window: 900`)."""
    notes = []
    for option, value in (("--watch", getattr(args, "watch", None)), ("--interval", getattr(args, "interval", None))):
        if value and re.fullmatch(r"\s*(\d+(\.\d*)?|\.\d+)\s*", str(value)):
            notes.append(f"{option} {value.strip()} has no unit: read as {value.strip()} seconds "
                         f"(as in the profile; e.g. {value.strip()}m for minutes)")
    return notes


def run_command(prog: str, args: argparse.Namespace, forwarded: list[str], extra: list[str],
                report_dir: str, profile_path: Path | None) -> int:
    """`prepare`, then run the watch; returns its exit code."""
    from opscheck.watch.driver import run_watch

    watch = prepare(prog, args, forwarded, extra, report_dir, profile_path)
    return watch if isinstance(watch, int) else run_watch(watch)


def _profile_settings(path: Path | None) -> tuple[WatchSettings, str]:
    if path is None:  # every round would skip every check: say why once, before any round
        raise WatchUsageError("--watch: no profile: no opscheck.yaml here (pass --profile PATH or set OPSCHECK_PROFILE)")
    from opscheck.config.profile import ProfileError, load_profile

    try:
        profile = load_profile(path)
    except ProfileError as exc:
        raise WatchUsageError(f"invalid opscheck profile:\n{exc}") from None
    except RecursionError:
        raise WatchUsageError(f"{path}: nested too deeply to read") from None
    settings = profile.extras.get("watch")
    return (settings if isinstance(settings, WatchSettings) else WatchSettings()), profile.service


def resolve(args: argparse.Namespace, extra: list[str], settings: WatchSettings,
            mode: Mapping[str, Any]) -> tuple[Plan, str, list[str]]:
    """(plan, a description of the selection, the -m/-k arguments to add) from the four sources
    in the module docstring. Raises WatchUsageError naming the option and the cause."""
    if getattr(args, "watch", None) is None:
        given = [f"--{n.replace('_', '-')}" for n in ("interval", "fail_after") if getattr(args, n, None) is not None]
        raise WatchUsageError(f"{' and '.join(given)}: only with --watch (e.g. --watch 15m {given[0]} ...)")
    window = _seconds("--watch", args.watch) if args.watch else None
    interval = _seconds("--interval", args.interval) if args.interval is not None else None
    fail_after = _count("--fail-after", args.fail_after) if args.fail_after is not None else None
    window = window or settings.window_s or _mode_seconds(mode, "window") or DEFAULT_WINDOW_S
    interval = interval or settings.interval_s or _mode_seconds(mode, "interval") or DEFAULT_INTERVAL_S
    fail_after = fail_after or settings.fail_after or _mode_count(mode) or DEFAULT_FAIL_AFTER
    round_timeout = settings.round_timeout_s or _mode_seconds(mode, "round_timeout")
    if window > MAX_WINDOW_S:
        raise WatchUsageError(f"--watch: must be at most {MAX_WINDOW_S / 3600:g} h")
    problem = check_combination(window, interval)
    if problem:
        raise WatchUsageError(f"--interval: {problem} (window {window:g} s, interval {interval:g} s)")
    plan = Plan(window_s=window, interval_s=interval, fail_after=fail_after, round_timeout_s=round_timeout)
    if selects(extra):
        return plan, "the checks selected by -m/-k", []
    markers = settings.markers or mode.get("markers") or mode.get("markexpr") or DEFAULT_MARKERS
    keywords = settings.keywords or mode.get("keywords")
    select = ["-m", str(markers)] + (["-k", str(keywords)] if keywords else [])
    shown = f'-m "{markers}"' + (f' -k "{keywords}"' if keywords else "")
    return plan, f"checks {shown}", select


def selects(extra: list[str]) -> bool:
    """Do the pytest arguments choose checks themselves (-m or -k, in any of pytest's spellings)?"""
    return any(a in ("-m", "-k") or (len(a) > 2 and a[0] == "-" and a[1] in "mk") for a in extra)


def split_per_round(forwarded: list[str]) -> tuple[list[str], list[str]]:
    """(the options every round gets, the options only round 1 gets): --report-dir is the round's
    own, --wait-ready waits for the deploy once."""
    kept: list[str] = []
    first: list[str] = []
    i = 0
    while i < len(forwarded):
        arg = forwarded[i]
        name = arg.split("=", 1)[0]
        if name in PER_ROUND:
            pair = [arg] if "=" in arg else forwarded[i:i + 2]
            if name == "--wait-ready":
                first += pair
            i += len(pair)
            continue
        kept.append(arg)
        i += 1
    return kept, first


def _seconds(option: str, value: Any) -> float:
    if isinstance(value, str) and value.strip().startswith("-"):
        raise WatchUsageError(f"{option}: {value.strip()!r}: a duration must be longer than 0 s (e.g. --watch 15m --interval 30s)")
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise WatchUsageError(f"{option}: {exc}") from None


def _count(option: str, value: Any) -> int:
    try:
        return parse_count(value)
    except ValueError as exc:
        raise WatchUsageError(f"{option}: {exc}") from None


def _mode_defaults(args: argparse.Namespace, extra: list[str]) -> Mapping[str, Any]:
    """The `--mode` preset's watch defaults, {} when there is no mode, no modes module or no watch part."""
    mode = getattr(args, "mode", None)
    for i, arg in enumerate(extra):
        if arg == "--mode" and i + 1 < len(extra):
            mode = extra[i + 1]
        elif arg.startswith("--mode="):
            mode = arg.split("=", 1)[1]
    if not mode:
        return {}
    try:
        modes = importlib.import_module("opscheck.config.modes")
    except ImportError:
        return {}
    table = getattr(modes, "MODES", None) or getattr(modes, "PRESETS", None) or {}
    preset = table.get(mode) if isinstance(table, Mapping) else None
    watch = preset.get("watch") if isinstance(preset, Mapping) else getattr(preset, "watch", None)
    return watch if isinstance(watch, Mapping) else {}


def _mode_seconds(mode: Mapping[str, Any], key: str) -> float | None:
    for name in (key, f"{key}_s"):
        if mode.get(name) is not None:
            return _seconds(f"--mode preset watch.{key}", mode[name])
    return None


def _mode_count(mode: Mapping[str, Any]) -> int | None:
    value = mode.get("fail_after")
    return None if value is None else _count("--mode preset watch.fail_after", value)
