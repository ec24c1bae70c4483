"""`opscheck snapshot` and `opscheck drill`: the restore drill (issue 13)."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def add_parsers(sub: Any) -> dict[str, Callable[[argparse.Namespace, list[str]], int]]:
    """Adds this module's commands to the `opscheck` subparsers; returns command -> handler."""
    return {}
