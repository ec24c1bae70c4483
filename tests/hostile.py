"""Real misbehaving HTTP servers on loopback: they hang, trickle, lie and reset.

Each runs in a daemon thread, serves until stop(), and bounds its own loops.
"""

from __future__ import annotations

import functools
import gzip as gzip_module
import socket
import struct
import threading
import zlib
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


# --- Hostile answers (issue 9 section 1): bombs, non-HTTP bytes, slow trickles, odd charsets ------

def answer(head: bytes, body: bytes = b"", *, hold: bool = False) -> Handler:
    """Sends `head` (status line and headers, sent as given) and `body`, then closes the connection,
    or keeps it open until the server stops when `hold` (a client must give up on its own)."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        _read_request(conn)
        conn.sendall(head)
        view = memoryview(body)
        for start in range(0, len(view), 65536):
            if server.stopped.is_set():
                return
            conn.sendall(view[start:start + 65536])
        if hold:
            server.stopped.wait(60)
        conn.close()

    return handler


def text_answer(body: bytes, content_type: str) -> Handler:
    return answer(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                  % (content_type.encode("latin-1"), len(body)), body)


def encoded_answer(body: bytes, content_encoding: str) -> Handler:
    return answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: %s\r\n"
                  b"Content-Length: %d\r\n\r\n" % (content_encoding.encode("latin-1"), len(body)), body)


_BOMB_BLOCK = 1 << 20


@functools.lru_cache(maxsize=8)
def zeros_compressed(size: int, coding: str = "gzip") -> bytes:
    """A valid gzip or deflate (zlib-wrapped) stream of `size` zero bytes (a multiple of 1 MiB),
    about size/1000 bytes long, built without compressing `size` bytes: after a full flush the
    compressor starts afresh, so every further MiB of zeros compresses to the same bytes."""
    assert size % _BOMB_BLOCK == 0 and size > 0
    gzip = coding == "gzip"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if gzip else 15)
    zeros = bytes(_BOMB_BLOCK)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = size // _BOMB_BLOCK
    if gzip:
        crc = 0
        for _ in range(blocks):
            crc = zlib.crc32(zeros, crc)
        trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    else:
        trailer = struct.pack(">I", ((size % 65521) << 16) | 1)  # Adler-32 of zeros: a = 1, b = n
    return first + again * (blocks - 1) + b"\x03\x00" + trailer  # \x03\x00: an empty final block


def gzip_bomb(inflated: int = 1 << 30) -> Handler:
    """About 1.1 MB of gzip that inflates to `inflated` zero bytes (1 GiB by default)."""
    return encoded_answer(zeros_compressed(inflated, "gzip"), "gzip")


def stacked_gzip_bomb(inflated: int = 2 << 30) -> Handler:
    """`Content-Encoding: gzip, gzip`: a few KB on the wire, `inflated` bytes (2 GiB) once both
    layers are undone."""
    return encoded_answer(gzip_module.compress(zeros_compressed(inflated, "gzip"), 9), "gzip, gzip")


def not_http(data: bytes, *, hold: bool = False) -> Handler:
    """Answers the request with `data`, which is not HTTP, then closes (or holds the connection)."""
    return answer(data, hold=hold)


# What a TLS server's first flight looks like: a handshake record (0x16, TLS 1.0 record version).
TLS_RECORD = bytes([0x16, 0x03, 0x01, 0x02, 0x00]) + bytes(range(256)) * 4
TLS_GARBAGE = TLS_RECORD[:1024]


def trickle_every(seconds: float) -> Handler:
    """A status line and then one header byte every `seconds`, without end: every read succeeds
    well within any read timeout longer than `seconds`."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        for _ in range(3600):
            conn.sendall(b"X")
            if not server.pause(seconds):
                return

    return handler


class FullBacklog:
    """A loopback port whose connects hang: it listens with a backlog of 0, never accepts, and
    its queue is filled first, so Linux drops further SYNs (a host that never answers)."""

    def __enter__(self) -> FullBacklog:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._fillers: list[socket.socket] = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sock in [*self._fillers, self._listener]:
            sock.close()


__all__ = ["RawServer", "silent", "trickle", "garbage", "reset", "redirect_loop", "big_body", "closed_port",
           "answer", "text_answer", "encoded_answer", "zeros_compressed", "gzip_bomb", "stacked_gzip_bomb",
           "not_http", "TLS_GARBAGE", "trickle_every", "FullBacklog"]
