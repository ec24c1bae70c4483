"""`notify:` and `maintenance:` (issue 12): alert routes, receivers and maintenance windows."""

from __future__ import annotations

from typing import Any


def load_notify(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section


def load_maintenance(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section
