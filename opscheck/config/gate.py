"""The gate's profile sections (issue 11): `watch:` and `retries:`."""

from __future__ import annotations

from typing import Any


def load_watch(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section


def load_retries(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section
