"""`objectives:` (issue 12): SLOs over the run history."""

from __future__ import annotations

from typing import Any


def load_objectives(section: Any, builder: Any) -> Any:
    """Placeholder until the section has its typed form: the validated data as it is."""
    return section
