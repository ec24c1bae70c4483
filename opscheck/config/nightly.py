"""The nightly job's profile sections (issue 12): `objectives:`, `notify:` and `maintenance:`."""

from __future__ import annotations

from typing import Any


def load_objectives(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section


def load_notify(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section


def load_maintenance(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section
