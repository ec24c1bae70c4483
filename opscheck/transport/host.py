"""Host resource and port facts via psutil, for checks that run on the service's own machine.

Percentages are Decimals so they compare exactly against a `bands.Band`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psutil


def cpu_percent(sample_s: float = 0.5) -> Decimal:
    return Decimal(str(psutil.cpu_percent(interval=sample_s)))


def memory_percent() -> Decimal:
    return Decimal(str(psutil.virtual_memory().percent))


def disk_percent(path: str = "/") -> Decimal:
    try:
        return Decimal(str(psutil.disk_usage(path).percent))
    except FileNotFoundError:
        raise ValueError(f"disk_percent: no such path {path!r}") from None


@dataclass(frozen=True)
class PortOwner:
    port: int
    address: str
    pid: int | None  # None when the owner is not visible to us (another user's process)
    process: str | None


def _norm(ip: str) -> str:
    """Canonical text of an address; IPv4-mapped IPv6 (::ffff:127.0.0.1) becomes plain IPv4."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return str(addr)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _serves(bound: str, host: str) -> bool:
    """Would a socket bound to `bound` accept a connection addressed to `host`?"""
    if bound == host or bound == "::":  # "::" is dual-stack on the usual Linux default
        return True
    return bound == "0.0.0.0" and ":" not in host


def _tcp_listeners() -> list[tuple[Any, int | None]]:
    """(laddr, pid) of every visible TCP socket in LISTEN."""
    try:
        return [(c.laddr, c.pid) for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    except psutil.AccessDenied:
        pass  # macOS and hardened hosts: walk the processes we may inspect instead
    found: list[tuple[Any, int | None]] = []
    for proc in psutil.process_iter():
        try:
            read = getattr(proc, "net_connections", None) or proc.connections  # psutil < 6 spelling
            found += [(c.laddr, proc.pid) for c in read(kind="tcp") if c.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _name(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def listening(port: int, host: str | None = None) -> list[PortOwner]:
    """TCP sockets in LISTEN on `port`: any address, or those that would serve `host`."""
    want = None
    if host is not None:
        want = {"127.0.0.1", "::1"} if host == "localhost" else {_norm(host)}
        if host != "localhost" and not _is_ip(host):  # no DNS here: a name could match any wildcard
            raise ValueError(f"listening: host must be an IP address or 'localhost', not {host!r}")
    names: dict[int, str | None] = {}
    owners: set[PortOwner] = set()
    for laddr, raw_pid in _tcp_listeners():
        if not laddr or laddr.port != port:
            continue
        address = _norm(laddr.ip)
        if want is not None and not any(_serves(address, h) for h in want):
            continue
        pid = raw_pid or None  # psutil reports None (or 0 on some platforms) when hidden
        if pid is not None and pid not in names:
            names[pid] = _name(pid)
        owners.add(PortOwner(port, address, pid, names.get(pid) if pid is not None else None))
    return sorted(owners, key=lambda o: (o.address, o.pid or -1))
