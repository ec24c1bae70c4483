"""A tiny HTTP/1.1 keep-alive server with an injected delay, for testing and benchmarking samplers.

Raw asyncio streams, no framework, so its own overhead is a small, measured fraction of a
millisecond. Every answer is `200 {"ok":true}` after `delay_ms`, or `500` for every
`error_every`-th request; after `stall_after` requests it stops answering for `stall_s` (a GC
pause or a lock), which is how coordinated omission is made visible.

    from benchmarks.delay_server import start_delay_server
    host, port, stop = start_delay_server(20)          # background thread, its own event loop

    python benchmarks/delay_server.py --delay-ms 20    # own process; prints "HOST PORT", then on
                                                      # SIGTERM/SIGINT one JSON line of its own timings
    python benchmarks/delay_server.py --tls-cert c.pem --tls-key k.pem   # the same over TLS
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import statistics
import sys
import threading
from collections.abc import Callable

_OK = b'{"ok":true}'
_FAIL = b'{"ok":false}'
_MAX_HEAD = 64 * 1024
_MAX_TIMINGS = 1_000_000  # own-time records kept (bounded memory on long runs)


def _response(status: int, body: bytes, close: bool) -> bytes:  # built once per variant, below
    reason = b"OK" if status == 200 else b"Internal Server Error"
    return b"".join((
        b"HTTP/1.1 %d %s\r\n" % (status, reason),
        b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
        b"Connection: close\r\n\r\n" if close else b"\r\n",
        body,
    ))


_RESPONSES = {(failing, close): _response(500, _FAIL, close) if failing else _response(200, _OK, close)
              for failing in (False, True) for close in (False, True)}


class DelayServer:
    def __init__(self, delay_ms: float, *, error_every: int = 0, stall_after: int | None = None, stall_s: float = 0,
                 precise: bool = False) -> None:
        if delay_ms < 0 or error_every < 0 or stall_s < 0 or (stall_after is not None and stall_after < 0):
            raise ValueError("delay_ms, error_every, stall_after and stall_s must be >= 0")
        self.delay_s = delay_ms / 1000
        self.error_every = error_every
        self.stall_after = stall_after
        self.stall_s = stall_s
        self.precise = precise
        self.count = 0
        self.stall_until: float | None = None
        # Time spent per request beyond the injected delay (parse, sleep overshoot, write), in ms.
        self.own_ms: list[float] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    tls: ssl.SSLContext | None = None) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port, backlog=1024, ssl=tls)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        # 3.11's Server.wait_closed() does not wait for (or end) open connections; do it ourselves.
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        # asyncio timers land up to 1 ms late (epoll's millisecond timeout); a precise server
        # sleeps to 1 ms before the deadline and yields until it. Costs CPU: for its own process.
        if not self.precise:
            await asyncio.sleep(deadline - loop.time())
            return
        if deadline - loop.time() > 0.001:
            await asyncio.sleep(deadline - loop.time() - 0.001)
        while loop.time() < deadline:
            await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                started = loop.time()
                lines = head.decode("latin-1").split("\r\n")
                version = lines[0].rsplit(" ", 1)[-1]
                fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                length = int(fields.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)  # a request body is read and ignored
                close = fields.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                self.count += 1
                number = self.count
                begin = started
                if self.stall_after is not None and number > self.stall_after:
                    if self.stall_until is None:
                        self.stall_until = started + self.stall_s  # the stall starts with the first request past it
                    if loop.time() < self.stall_until:
                        await asyncio.sleep(self.stall_until - loop.time())
                        begin = self.stall_until
                if self.delay_s:
                    await self._sleep_until(loop, begin + self.delay_s)  # parsing counts inside the delay
                failing = bool(self.error_every) and number % self.error_every == 0
                writer.write(_RESPONSES[failing, close])
                await writer.drain()
                if len(self.own_ms) < _MAX_TIMINGS:
                    self.own_ms.append((loop.time() - started - self.delay_s) * 1000)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:
            # Shutting down: end quietly (3.11's stream callback logs a handler that ends cancelled).
            return
        finally:
            self._handlers.discard(task)
            writer.close()


def start_delay_server(delay_ms: float, *, error_every: int = 0, stall_after: int | None = None,
                       stall_s: float = 0, precise: bool = False) -> tuple[str, int, Callable[[], None]]:
    """Serve on 127.0.0.1 (free port) from a daemon thread; returns (host, port, stop)."""
    server = DelayServer(delay_ms, error_every=error_every, stall_after=stall_after, stall_s=stall_s, precise=precise)
    loop = asyncio.new_event_loop()
    ready: list[tuple[str, int]] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready.append(loop.run_until_complete(server.start()))
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=run, name=f"delay-server-{delay_ms}ms", daemon=True)
    thread.start()
    if not started.wait(5):
        raise RuntimeError("delay server did not start within 5 s")

    def stop() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)

    host, port = ready[0]
    return host, port, stop


async def _serve(args: argparse.Namespace) -> None:
    server = DelayServer(args.delay_ms, error_every=args.error_every, stall_after=args.stall_after, stall_s=args.stall_s,
                         precise=args.precise)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    host, port = await server.start(args.host, args.port, tls)
    print(host, port, flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        await asyncio.wait_for(done.wait(), timeout=args.max_seconds)  # an orphaned server ends by itself
    except TimeoutError:
        pass
    await server.close()
    own = sorted(server.own_ms)
    print(json.dumps({
        "requests": server.count,
        "own_p50_ms": statistics.median(own) if own else None,
        "own_mean_ms": statistics.fmean(own) if own else None,
    }), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--error-every", type=int, default=0)
    parser.add_argument("--stall-after", type=int, default=None)
    parser.add_argument("--stall-s", type=float, default=0.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="exit by itself after this long")
    parser.add_argument("--precise", action="store_true", help="spin the last millisecond of each delay")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    parser.add_argument("--tls-key")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
