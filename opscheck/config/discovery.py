"""Where the profile is, decided without importing anything heavy."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PROFILE = "opscheck.yaml"
PROFILE_ENV = "OPSCHECK_PROFILE"


def find_profile(explicit: str | None, rootdir: Path | None = None) -> Path | None:
    """--profile, then $OPSCHECK_PROFILE, then opscheck.yaml in the cwd (returned relative) or
    pytest's rootdir."""
    chosen = explicit or os.environ.get(PROFILE_ENV)
    if chosen:
        return Path(chosen)
    # Found in the working directory, the path stays relative, as `--profile opscheck.yaml` would
    # be: runbook links in summary.md, annotations and results.json then read `RUNBOOK.md#...`, not
    # a CI runner's /home/runner/work/... path that nobody can open.
    if Path(DEFAULT_PROFILE).is_file():
        return Path(DEFAULT_PROFILE)
    if rootdir is not None and (rootdir / DEFAULT_PROFILE).is_file():
        return rootdir / DEFAULT_PROFILE
    return None
