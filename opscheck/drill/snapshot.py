"""`opscheck snapshot`: the manifest at backup time (files, then database tables), sealed."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any, Callable, Mapping

from opscheck.config.restore import RestoreSpec
from opscheck.drill.database import DatabaseError, snapshot_tables
from opscheck.drill.files import FileScanError, find_files, scan_file
from opscheck.drill.manifest import MANIFEST_VERSION, now_utc, seal


class SnapshotError(Exception):
    """The snapshot could not be taken (a file or the database could not be read); one line."""


class SnapshotUsageError(Exception):
    """The profile or the options cannot give a snapshot (no restore section, a glob matching
    nothing, a missing variable); one line, exit 4."""


def manifest_key(spec: RestoreSpec, environ: Mapping[str, str]) -> bytes | None:
    """The HMAC key from `restore.manifest_key_env`, or None. Raises SnapshotUsageError when the
    section names a variable that is not set."""
    if not spec.manifest_key_env:
        return None
    value = environ.get(spec.manifest_key_env, "")
    if not value:
        raise SnapshotUsageError(f"restore.manifest_key_env: {spec.manifest_key_env} is not set (the manifest is signed with it)")
    return value.encode("utf-8")


def database_url(spec: RestoreSpec, environ: Mapping[str, str]) -> str | None:
    if spec.database is None:
        return None
    url = environ.get(spec.database.url_env, "")
    if not url:
        raise SnapshotUsageError(f"restore.database.url_env: {spec.database.url_env} is not set "
                                 "(it must hold the database's SQLAlchemy URL)")
    return url


def take_snapshot(spec: RestoreSpec, *, service: str, environment: str | None, backup_time: datetime | None,
                  data_dir: str | None = None, environ: Mapping[str, str] | None = None,
                  deadline_s: float = 3600.0, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The sealed manifest document (opscheck/drill/manifest.py). Raises SnapshotUsageError or
    SnapshotError (each one line; the database URL never appears)."""
    from opscheck import __version__

    env = os.environ if environ is None else environ
    if not spec.files and spec.database is None:
        raise SnapshotUsageError("restore: lists neither files nor database tables: nothing to snapshot")
    key = manifest_key(spec, env)
    url = database_url(spec, env)
    created = now_utc()
    deadline = time.monotonic() + deadline_s
    root = spec.root(data_dir)
    entries: list[dict[str, Any]] = []
    if spec.files:
        if not root.is_dir():
            raise SnapshotUsageError(f"restore.files_root: {root} is not a folder")
        paths, empty = find_files(root, spec.files)
        if empty:
            raise SnapshotUsageError(f"restore.files: {', '.join(repr(p) for p in empty)} matches no file under {root}")
        total = 0
        for relative in paths:
            try:
                facts = scan_file(root, relative, deadline=deadline)
            except FileNotFoundError:
                raise SnapshotError(f"{relative}: vanished while the snapshot ran") from None
            except (FileScanError, TimeoutError) as exc:
                raise SnapshotError(str(exc)) from None
            total += facts.size
            entries.append(facts.to_dict())
        log(f"files: {len(entries)} under {root} ({total} bytes)")
    database = None
    if spec.database is not None and url is not None:
        try:
            database = snapshot_tables(spec.database, url)
        except DatabaseError as exc:
            raise SnapshotError(f"database: {exc}") from None
        log(f"database: {len(database['tables'])} table(s) ({database['dialect']})")
    document: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "service": service,
        "environment": environment,
        "opscheck_version": __version__,
        "created_at": created.isoformat(),
        "backup_time": (backup_time or created).isoformat(),
        "files": {"root": str(root), "patterns": list(spec.files), "entries": entries},
        "database": database,
    }
    return seal(document, key)
