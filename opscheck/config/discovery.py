"""Where the profile is, decided without importing anything heavy."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PROFILE = "opscheck.yaml"
PROFILE_ENV = "OPSCHECK_PROFILE"


def find_profile(explicit: str | None, rootdir: Path | None = None) -> Path | None:
    """--profile, then $OPSCHECK_PROFILE, then opscheck.yaml in the cwd or pytest's rootdir."""
    chosen = explicit or os.environ.get(PROFILE_ENV)
    if chosen:
        return Path(chosen)
    for folder in (Path.cwd(), rootdir):
        if folder is not None and (folder / DEFAULT_PROFILE).is_file():
            return folder / DEFAULT_PROFILE
    return None
