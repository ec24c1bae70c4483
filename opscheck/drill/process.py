"""Run the restore command under a timeout, keep the tail of its output, and on timeout (or
Ctrl-C) kill its whole process tree.

The command starts in its own session. Its output (stdout and stderr together) is read by a
thread into a bounded tail (TAIL_LINES lines of at most LINE_CHARS characters). On timeout every
process of the tree is found with psutil (children, recursively, collected before any dies, so
grandchildren re-parented to init are still known; plus anything left in the command's process
group), sent SIGTERM, given KILL_GRACE_S, then SIGKILL. A grandchild that outlives the command
while holding its output open cannot stall the drill: the reader is given READER_GRACE_S.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

TAIL_LINES = 40
LINE_CHARS = 400
KILL_GRACE_S = 3.0
READER_GRACE_S = 2.0
TICK_S = 0.25


@dataclass
class CommandResult:
    """`exit_code` None when killed on timeout; `duration_s` from start to exit (or kill);
    `tail` the last output lines (not redacted here); `killed` the pids that were killed."""

    exit_code: int | None
    duration_s: float
    timed_out: bool
    tail: list[str]
    killed: list[int] = field(default_factory=list)
    error: str | None = None  # the command could not start (not found, not executable)


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        members = []
    pids = [p.pid for p in members]
    try:
        group = os.getpgid(pid)
    except OSError:
        group = None
    if group is not None:
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.pid not in pids and os.getpgid(proc.pid) == group:
                    pids.append(proc.pid)
            except OSError:
                continue
    return pids


def kill_tree(pid: int, grace_s: float = KILL_GRACE_S) -> list[int]:
    """SIGTERM every process of `pid`'s tree, SIGKILL what is left after `grace_s`; the pids found."""
    import psutil

    pids = _tree(pid)
    procs = []
    for p in pids:
        try:
            proc = psutil.Process(p)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=grace_s)
    return pids


def run_command(argv: Sequence[str], timeout_s: float, *, env: dict[str, str] | None = None, cwd: str | None = None,
                on_tick: Callable[[float, str], None] | None = None) -> CommandResult:
    """Run `argv`, bounded by `timeout_s`; `on_tick(elapsed_s, last_line)` is called about every
    TICK_S while it runs (for the progress line)."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        return CommandResult(None, 0.0, False, [], error=f"cannot start {argv[0]!r}: {exc.strerror or exc}")

    def read() -> None:
        assert proc.stdout is not None
        try:
            for raw in iter(proc.stdout.readline, b""):
                tail.append(raw.decode("utf-8", "replace").rstrip("\r\n")[:LINE_CHARS])
        except (OSError, ValueError):  # closed under us after a kill
            pass

    reader = threading.Thread(target=read, name="opscheck-restore-output", daemon=True)
    reader.start()
    timed_out = False
    killed: list[int] = []
    try:
        while True:
            elapsed = time.monotonic() - start
            if proc.poll() is not None:
                break
            if elapsed >= timeout_s:
                timed_out = True
                killed = kill_tree(proc.pid)
                try:
                    proc.wait(timeout=KILL_GRACE_S * 2)
                except subprocess.TimeoutExpired:  # unkillable (e.g. stuck in the kernel): reported, not waited for
                    tail.append(f"[opscheck: process {proc.pid} did not end after SIGKILL]")
                break
            if on_tick is not None:
                on_tick(elapsed, tail[-1] if tail else "")
            time.sleep(min(TICK_S, max(timeout_s - elapsed, 0.01)))
    except BaseException:
        killed = kill_tree(proc.pid)  # Ctrl-C: the restore must not run on unattended
        raise
    finally:
        duration = time.monotonic() - start
        if not timed_out and proc.returncode is not None:
            # Background children left holding the pipe would keep the reader waiting forever.
            reader.join(READER_GRACE_S)
        reader.join(READER_GRACE_S if timed_out else 0.1)
        if proc.stdout is not None and not reader.is_alive():
            proc.stdout.close()
    return CommandResult(None if timed_out else proc.returncode, duration, timed_out, list(tail), killed)
