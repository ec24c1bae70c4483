"""The gate's `retries:` profile section (issue 11)."""

from __future__ import annotations

from typing import Any


def load_retries(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section
