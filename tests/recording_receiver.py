"""A small HTTP receiver that records what it gets: the alert receivers' test double on loopback.

Every POST is kept as (path, headers, parsed JSON body). Paths choose the behaviour:
`/status/500` answers 500, `/hang` holds the request without answering until the server stops
(bounded: at most HANG_MAX_S), `/slow/<ms>` answers after that many ms; anything else answers 200.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_MAX_S = 30.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class RecordingReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 1 << 20))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                if self.path.startswith("/hang"):
                    receiver.stopping.wait(HANG_MAX_S)
                    return
                if self.path.startswith("/slow/"):
                    time.sleep(min(int(self.path.split("/")[2]) / 1000, HANG_MAX_S))
                status = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
                payload = b'{"ok": true}' if status < 300 else b"receiver broken"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [r.body for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout_s: float) -> list[Any]:
        """The bodies POSTed to `path` once there are at least `count` (or whatever came by the deadline)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.bodies(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.bodies(path)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
