"""Host resource and port facts (opscheck.transport.host). Nothing here asserts the machine's load."""

from __future__ import annotations

import os
import socket
from collections import namedtuple
from collections.abc import Iterator
from decimal import Decimal

import psutil
import pytest

from opscheck.transport.host import (
    PortOwner,
    cpu_percent,
    disk_percent,
    listening,
    memory_percent,
)


def test_percentages_are_decimals_in_range() -> None:
    for value in (cpu_percent(0.05), memory_percent(), disk_percent(), disk_percent(os.getcwd())):
        assert isinstance(value, Decimal)
        assert Decimal(0) <= value <= Decimal(100)


def test_disk_percent_missing_path(tmp_path) -> None:
    missing = str(tmp_path / "no-such-dir")
    with pytest.raises(ValueError, match="no-such-dir"):
        disk_percent(missing)


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_listening_finds_our_socket(listener: int) -> None:
    me = PortOwner(listener, "127.0.0.1", os.getpid(), psutil.Process().name())
    assert listening(listener) == [me]
    assert listening(listener, "127.0.0.1") == [me]
    assert listening(listener, "localhost") == [me]
    assert listening(listener, "10.255.255.1") == []  # bound to loopback only
    assert listening(listener, "::1") == []


def test_listening_nothing_there() -> None:
    assert listening(_free_port()) == []


def test_listening_rejects_host_names() -> None:
    with pytest.raises(ValueError, match="IP address"):
        listening(80, "example.org")


# --- behaviour we cannot arrange for real: wildcards, hidden owners, AccessDenied ----------------

Addr = namedtuple("Addr", "ip port")
SConn = namedtuple("SConn", "fd family type laddr raddr status pid")
PConn = namedtuple("PConn", "fd family type laddr raddr status")


def _conn(ip: str, port: int, pid: int | None, status: str = psutil.CONN_LISTEN) -> SConn:
    return SConn(-1, socket.AF_INET, socket.SOCK_STREAM, Addr(ip, port), (), status, pid)


def test_wildcard_sockets_serve_specific_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    conns = [
        _conn("0.0.0.0", 8080, None),
        _conn("::", 8080, None),
        _conn("::ffff:10.0.0.5", 8080, None),
        _conn("10.0.0.5", 9090, None),
        _conn("10.0.0.6", 8080, None, status=psutil.CONN_ESTABLISHED),
    ]
    monkeypatch.setattr(psutil, "net_connections", lambda kind: conns)
    addresses = lambda host: [o.address for o in listening(8080, host)]
    assert addresses(None) == ["0.0.0.0", "10.0.0.5", "::"]  # mapped IPv6 shown as IPv4
    assert addresses("10.0.0.5") == ["0.0.0.0", "10.0.0.5", "::"]
    assert addresses("10.0.0.6") == ["0.0.0.0", "::"]  # ESTABLISHED is not LISTEN
    assert addresses("fe80::1") == ["::"]  # 0.0.0.0 does not serve IPv6
    assert addresses("0.0.0.0") == ["0.0.0.0", "::"]
    assert all(o.pid is None and o.process is None for o in listening(8080))


def test_process_name_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(pid: int) -> psutil.Process:
        raise psutil.AccessDenied(pid)

    monkeypatch.setattr(psutil, "net_connections", lambda kind: [_conn("127.0.0.1", 5432, 4242)])
    monkeypatch.setattr(psutil, "Process", denied)
    assert listening(5432) == [PortOwner(5432, "127.0.0.1", 4242, None)]


def test_access_denied_falls_back_to_visible_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    class Proc:
        def __init__(self, pid: int, conns: list[PConn] | Exception) -> None:
            self.pid, self._conns = pid, conns

        def net_connections(self, kind: str) -> list[PConn]:
            if isinstance(self._conns, Exception):
                raise self._conns
            return self._conns

    def denied(kind: str) -> list[SConn]:
        raise psutil.AccessDenied()

    listen = PConn(-1, socket.AF_INET, socket.SOCK_STREAM, Addr("127.0.0.1", 7000), (), psutil.CONN_LISTEN)
    procs = [Proc(1, psutil.AccessDenied(1)), Proc(2, psutil.NoSuchProcess(2)), Proc(os.getpid(), [listen])]
    monkeypatch.setattr(psutil, "net_connections", denied)
    monkeypatch.setattr(psutil, "process_iter", lambda: iter(procs))
    assert listening(7000) == [PortOwner(7000, "127.0.0.1", os.getpid(), psutil.Process().name())]
    assert listening(7001) == []
