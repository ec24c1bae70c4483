"""Findings of a new user's first trial, each as a class: the reference service ends with its launcher,
a closed stdout is not an internal error, a watch's bad options are usage errors."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPSCHECK_API_KEYS": "trial-key"}
STOP_BOUND_S = 12.0  # uvicorn's bounded graceful shutdown (5 s) plus start-up slack


def start_serving() -> tuple[subprocess.Popen[str], int]:
    launcher = subprocess.Popen([sys.executable, "-m", "opscheck", "demo", "--serve"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=ENV, start_new_session=True)
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline and "reference service at" not in line:
        ready, _, _ = select.select([launcher.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = launcher.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if found is None:
        launcher.kill()
        pytest.fail(f"opscheck demo --serve did not say where it serves: {line!r}")
    return launcher, int(found.group(1))


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"GET /health/live HTTP/1.0\r\nHost: x\r\n\r\n")
            return conn.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def stops_answering_within(port: int, bound_s: float) -> bool:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if not answers(port):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["SIGTERM", "SIGHUP", "SIGKILL"])
def test_the_reference_service_stops_answering_when_its_launcher_ends(sig):
    launcher, port = start_serving()
    try:
        assert answers(port)
        launcher.send_signal(sig)
        launcher.wait(timeout=STOP_BOUND_S)
        assert stops_answering_within(port, STOP_BOUND_S), f"the service still answers after the launcher got {sig.name}"
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.stdout.close()  # type: ignore[union-attr]


def test_a_reader_that_leaves_is_no_internal_error_and_no_pass():
    # 2000 lines of `demo --list-faults` would do; any command's output works: the reader leaves first.
    reader_r, reader_w = os.pipe()
    os.close(reader_r)  # the reader is gone before the first write
    done = subprocess.run([sys.executable, "-m", "opscheck", "demo", "--list-faults"], stdout=reader_w,
                          stderr=subprocess.PIPE, text=True, env=ENV, timeout=60)
    os.close(reader_w)
    assert done.returncode == 141
    assert done.stderr == ""
