"""Real misbehaving HTTP servers on loopback: they hang, trickle, lie and reset.

Each runs in a daemon thread, serves until stop(), and bounds its own loops.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Callable

Handler = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopped = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join(timeout=5)
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
        self._sock.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass

    def pause(self, seconds: float) -> bool:
        """Sleep unless stopped; False once the server is stopping."""
        return not self.stopped.wait(seconds)


def _read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def silent(conn: socket.socket, server: RawServer) -> None:
    """Accepts, reads the request, never answers."""
    _read_request(conn)
    server.stopped.wait(60)


def trickle(conn: socket.socket, server: RawServer) -> None:
    """Answers one byte every 0.1 s, forever: every read succeeds, the answer never ends."""
    _read_request(conn)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"a" * 100000
    for byte in head:
        if not server.pause(0.1):
            return
        conn.sendall(bytes([byte]))


def garbage(conn: socket.socket, server: RawServer) -> None:
    _read_request(conn)
    conn.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    conn.close()


def reset(conn: socket.socket, server: RawServer) -> None:
    _read_request(conn)
    # SO_LINGER with a zero timeout turns close() into a TCP RST.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def redirect_loop(conn: socket.socket, server: RawServer) -> None:
    while not server.stopped.is_set():
        if not _read_request(conn):
            return
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")


def big_body(size: int) -> Handler:
    def handler(conn: socket.socket, server: RawServer) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"x" * 65536
        sent = 0
        while sent < size and not server.stopped.is_set():
            part = block[: size - sent]
            conn.sendall(part)
            sent += len(part)

    return handler


def closed_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


__all__ = ["RawServer", "silent", "trickle", "garbage", "reset", "redirect_loop", "big_body", "closed_port"]
