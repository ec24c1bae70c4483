"""`opscheck notify --test`: a test alert through every route (issue 12)."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace, list[str]], int]]:
    """Adds this module's commands to the `opscheck` subparsers; returns command -> handler."""
    return {}
