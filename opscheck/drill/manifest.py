"""The manifest: what a good restore must reproduce, taken at backup time (`opscheck snapshot`).

Shape (published as opscheck/manifest.schema.json):

    {"manifest_version": 1, "service": "inventory-api", "environment": "prod",
     "created_at": "2026-11-30T03:00:05+00:00", "backup_time": "2026-11-30T03:00:00+00:00",
     "files": {"root": "data", "patterns": ["**/*.csv"],
               "entries": [{"path": "orders/2026-11.csv", "size": 1048576, "sha256": "9f2c...",
                            "mtime": "2026-11-30T02:59:41+00:00", "csv": {"rows": 12000, "header": ["id", "amount"]}}]},
     "database": {"dialect": "postgresql",
                  "tables": [{"table": "orders", "rows": 12000, "updated_at": "updated_at",
                              "newest": "2026-11-30T02:59:58+00:00",
                              "checksum": {"key": "id", "columns": ["id", "amount"], "first": 1, "last": 12000,
                                           "rows": 12000, "sha256": "51ab..."}}]},
     "checksum": {"algorithm": "sha256", "value": "<hex>"}}

`checksum.value` is SHA-256 (or HMAC-SHA256 with the key from `restore.manifest_key_env`) over the
canonical JSON of everything else: keys sorted, no spaces, UTF-8. A changed byte or a cut file no
longer matches. A plain sha256 catches accidents (truncation, an edit); only the HMAC also stops
someone who rewrites the checksum after editing the manifest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from opscheck.files import FileReadError, read_bounded

MANIFEST_VERSION = 1
MANIFEST_LIMIT = 256 << 20  # a manifest lists files and tables: 256 MiB is about a million files


class ManifestError(Exception):
    """The manifest cannot be used: unreadable, not JSON, not in the schema, or its checksum does
    not match (tampered or truncated). str() is one line naming the file and the cause."""


def canonical(document: dict[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal(document: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    """`document` with its `checksum` (see the module docstring)."""
    data = canonical(document)
    if key:
        value = {"algorithm": "hmac-sha256", "value": hmac.new(key, data, hashlib.sha256).hexdigest()}
    else:
        value = {"algorithm": "sha256", "value": hashlib.sha256(data).hexdigest()}
    return {**{k: v for k, v in document.items() if k != "checksum"}, "checksum": value}


@cache
def manifest_schema() -> dict[str, Any]:
    return json.loads(resources.files("opscheck").joinpath("manifest.schema.json").read_text("utf-8"))


def load_manifest(path: str | Path, key: bytes | None = None) -> dict[str, Any]:
    """Read, validate and check the manifest at `path`. Raises ManifestError (one line)."""
    name = str(path)
    try:
        raw = read_bounded(path, MANIFEST_LIMIT, "manifest")
    except FileReadError as exc:
        raise ManifestError(f"{name}: {exc.cause}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(f"{name}: not UTF-8 text: the manifest was damaged or is another file") from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{name}: not valid JSON ({str(exc)[:120]}): the manifest is damaged or truncated") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{name}: not a manifest (expected a JSON object)")
    import jsonschema

    validator = jsonschema.validators.validator_for(manifest_schema())(manifest_schema())
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: len(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ManifestError(f"{name}: {where}: {error.message[:200]} (not a manifest of this opscheck version, "
                            "or it was edited)")
    checksum = document["checksum"]
    algorithm = checksum["algorithm"]
    if algorithm == "hmac-sha256" and not key:
        raise ManifestError(f"{name}: the manifest is signed (hmac-sha256) but restore.manifest_key_env names no key here")
    if algorithm == "sha256" and key:
        raise ManifestError(f"{name}: the manifest is not signed, but restore.manifest_key_env asks for a signed one")
    expected = seal(document, key)["checksum"]["value"]
    if not hmac.compare_digest(expected, str(checksum["value"])):
        raise ManifestError(f"{name}: checksum mismatch: the manifest was changed or damaged after it was written "
                            f"({algorithm} {str(checksum['value'])[:12]}... recorded, {expected[:12]}... computed)")
    return document


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (naive is UTC). Raises ValueError."""
    value = datetime.fromisoformat(text.strip())  # Python 3.11 reads a trailing Z as UTC
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def write_manifest(path: Path, document: dict[str, Any]) -> None:
    """Atomically, so a crash mid-write leaves the old manifest or none, never half of one."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False, indent=1, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
