"""Run the demo service in a child process for tests and ``opscheck demo``.

The parent binds the listening socket and hands it to the child by file
descriptor, so the port is known before the child starts and no other process
can grab it in between.

The service never outlives its launcher: the child also gets the read end of a pipe (a
"lifeline") whose only write end the launcher holds. When the launcher ends in any way, SIGKILL
and a crash included, the kernel closes that end, the child reads end-of-file and shuts down
(opscheck/demo/server.py). A pipe rather than PR_SET_PDEATHSIG: it works on every POSIX system and
does not fire when the thread that started the child ends while the launcher lives on.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from opscheck.demo.faults import FAULTS

HOST = "127.0.0.1"
_TERMINATE_GRACE_S = 5.0
_POLL_INTERVAL_S = 0.05
# The directory that holds the ``opscheck`` package, so the child imports this same code.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class DemoService:
    """Context manager that runs ``python -m opscheck.demo`` on a free loopback port.

    Example::

        with DemoService(faults=["not_ready"]) as service:
            urllib.request.urlopen(service.base_url + "/health/ready")  # -> HTTPError 503
    """

    def __init__(
        self,
        faults: Iterable[str] = (),
        api_keys: Sequence[str] | None = None,
        slow_ms: int | None = None,
        startup_timeout_s: float = 20.0,
        max_body_bytes: int | None = None,
        max_batch_items: int | None = None,
        jitter_ms: int | None = None,
        data_dir: str | None = None,
        database_url: str | None = None,
    ) -> None:
        self.faults = (faults,) if isinstance(faults, str) else tuple(faults)
        unknown = sorted(set(self.faults) - FAULTS.keys())
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known faults: {', '.join(sorted(FAULTS))}")
        self.api_keys = None if api_keys is None else list(api_keys)
        self.slow_ms = slow_ms
        self.startup_timeout_s = startup_timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_batch_items = max_batch_items
        self.jitter_ms = jitter_ms
        self.data_dir = data_dir  # the restore drill's data (opscheck.demo.data)
        self.database_url = database_url
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._lifeline: int | None = None  # the write end the child watches
        self._stopped = False

    # --- public attributes -------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("DemoService has not been started; use it in a with-block")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("DemoService has not been started; use it in a with-block")
        return self._process

    # --- lifecycle ---------------------------------------------------------

    def __enter__(self) -> DemoService:
        if self._process is not None or self._stopped:
            raise RuntimeError("a DemoService can only be started once")
        try:
            self._spawn()
            self._wait_until_live()
        except BaseException:
            # __exit__ does not run when __enter__ raises, so clean up here.
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate the service (SIGTERM, then SIGKILL) and remove its log. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._terminate()
        finally:
            if self._log_path is not None:
                self._log_path.unlink(missing_ok=True)

    def output_tail(self, max_lines: int = 20) -> str:
        """The last lines the service wrote to stdout/stderr ('' once stopped)."""
        if self._log_path is None:
            return ""
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-max_lines:])

    def switch_fault(self, name: str, on: bool = True, timeout_s: float = 5.0) -> list[str]:
        """Switch a run-time fault (`unhealthy`, `not_ready`, `slow`: demo/switch.py) on or off;
        returns the faults active now. RuntimeError when the service refuses (e.g. not switchable)."""
        import json

        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout_s)
        try:
            connection.request("PUT" if on else "DELETE", f"/_demo/faults/{name}")
            response = connection.getresponse()
            body = response.read(65536)
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"switching {name!r} {'on' if on else 'off'}: status {response.status}: {body[:200]!r}")
        return list(json.loads(body)["active"])

    # --- internals ---------------------------------------------------------

    def _command(self, fd: int, lifeline: int) -> list[str]:
        command = [sys.executable, "-m", "opscheck.demo", "--fd", str(fd), "--parent-fd", str(lifeline)]
        for fault in self.faults:
            command += ["--fault", fault]
        optional = {
            "--slow-ms": self.slow_ms,
            "--max-body-bytes": self.max_body_bytes,
            "--max-batch-items": self.max_batch_items,
            "--jitter-ms": self.jitter_ms,
            "--data-dir": self.data_dir,
        }
        for flag, value in optional.items():
            if value is not None:
                command += [flag, str(value)]
        return command

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.api_keys is not None:
            env["API_KEYS"] = ";".join(self.api_keys)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_PARENT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"  # so a crash's last words reach the log
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url  # from the environment, never argv: it may hold a password
        return env

    def _spawn(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((HOST, 0))
            listener.listen(128)
            self._port = listener.getsockname()[1]
            fd, log_name = tempfile.mkstemp(prefix="opscheck-demo-", suffix=".log")
            self._log_path = Path(log_name)
            # os.pipe() ends are not inherited: only this child gets the read end, and no other
            # process started from here (pytest workers, watch rounds) keeps the write end open.
            watched, self._lifeline = os.pipe()
            try:
                with os.fdopen(fd, "wb") as log:
                    self._process = subprocess.Popen(
                        self._command(listener.fileno(), watched),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=self._environment(),
                        pass_fds=(listener.fileno(), watched),
                    )
            finally:
                os.close(watched)
        finally:
            # The child has its own copy; ours would keep the port open after it exits.
            listener.close()

    def _wait_until_live(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.base_url}/health/live"
        # The socket already listens, so a request made early simply waits in the
        # backlog; the read timeout must also cover the 'slow' fault's delay.
        read_timeout = 2.0 + (self.slow_ms or 0) / 1000
        # http.client, not httpx: `opscheck demo` runs pytest in this process next, and a plugin
        # package (anyio, through httpx) imported before pytest starts can't be assertion-rewritten.
        while True:
            if self.process.poll() is not None:
                self._fail(f"exited with code {self.process.returncode} during startup")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"did not answer {url} within {self.startup_timeout_s:g} s")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=min(read_timeout, remaining))
            try:
                connection.request("GET", "/health/live")
                if connection.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                connection.close()
            time.sleep(_POLL_INTERVAL_S)

    def _fail(self, reason: str) -> None:
        self._terminate()  # stop first so the log is complete
        tail = self.output_tail() or "(no output)"
        raise RuntimeError(f"demo service {reason}; last output:\n{tail}")

    def _terminate(self) -> None:
        process = self._process
        try:
            if process is None or process.poll() is not None:
                return
            process.terminate()
            self._wait_or_kill(process)
        finally:
            if self._lifeline is not None:
                os.close(self._lifeline)
                self._lifeline = None

    @staticmethod
    def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
        try:
            process.wait(timeout=_TERMINATE_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __repr__(self) -> str:
        state = "not started" if self._process is None else f"pid={self._process.pid} port={self._port}"
        return f"DemoService(faults={list(self.faults)!r}, {state})"
