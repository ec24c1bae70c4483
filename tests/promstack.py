"""Real Prometheus, Pushgateway and Alertmanager binaries (Debian's packages) on free loopback
ports, each in a temporary directory, for the export and alerting tests.

`start(binary, args)` returns a running server once its readiness URL answers; every wait is bounded.
A missing binary skips the test, unless OPSCHECK_REQUIRE_SERVERS=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("OPSCHECK_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{binary} is required here (OPSCHECK_REQUIRE_SERVERS=1) but was not found")
        pytest.skip(f"{binary} is not installed")
    return path


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""


def start(binary: str, args: list[str], port: int, ready_path: str, workdir: Path) -> Server:
    path = need(binary)
    log = workdir / f"{binary}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([path, *args], stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                   stdin=subprocess.DEVNULL)
    server = Server(binary, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{binary} exited with {process.returncode}:\n{server.tail()}")
        try:
            if httpx.get(server.url + ready_path, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{binary} not ready within {START_TIMEOUT_S:g} s:\n{server.tail()}")
