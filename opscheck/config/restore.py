"""The restore drill's profile section (issue 13): `restore:`."""

from __future__ import annotations

from typing import Any


def load_restore(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section
