"""The gate's `retries:` profile section (issue 11): how often a failed check is run again.

    retries: {count: 2, delay_s: 1, on: [status]}

`count` extra attempts (0..10), `delay_s` seconds between them (0..300), `on` the reasons retried
beyond the transport ones (dns, connect, tls, timeout, protocol); `any` retries every reason.
Command-line options (`--retries`, `--retry-delay`, `--retry-on`) override each field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_RETRIES = 10
MAX_DELAY_S = 300.0


@dataclass(frozen=True)
class Retries:
    count: int | None = None  # None: not set here (the mode's or the default applies)
    delay_s: float | None = None
    on: tuple[str, ...] | None = None


def known_reasons() -> tuple[str, ...]:
    """Every reason name a retry may be asked for, plus `any`."""
    from opscheck.outcome import Reason

    return tuple(r.value for r in Reason) + ("any",)


def load_retries(section: Any, builder: Any) -> Retries:
    """The validated `retries:` mapping -> Retries; an unknown reason in `on` is a problem at its line."""
    if not isinstance(section, dict):
        return Retries()
    count = section.get("count")
    delay = section.get("delay_s")
    on = section.get("on")
    reasons: tuple[str, ...] | None = None
    if on is not None:
        known = known_reasons()
        for index, name in enumerate(on):
            if name not in known:
                builder.problem(("retries", "on", index), f"unknown reason; known: {', '.join(known)}")
        reasons = tuple(str(name) for name in on)
    return Retries(int(count) if count is not None else None,
                   float(delay) if delay is not None else None, reasons)
