"""The run history (issue 12): every run and its checks in one SQLAlchemy Core schema, on SQLite
for one machine or PostgreSQL for a fleet, and what it says: uptime, objectives, burn rates, incidents.

This package module imports nothing heavy (no SQLAlchemy): what a plain run needs from it, the
default location, is here."""

from __future__ import annotations


def default_location() -> str:
    """The host name: where the run was made, when `--location` is not given (the history, the
    alerts and the Prometheus groups all name a run's location this way)."""
    import socket

    return socket.gethostname() or "unknown"
