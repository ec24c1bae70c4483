"""Files of a backup: find them by glob, fingerprint them in one streamed pass, verify a restore.

One pass per file reads it in CHUNK_BYTES pieces into one reused buffer: sha256 (hashlib, OpenSSL),
the size, and for a `.csv` the record count and the header. Memory stays at one buffer whatever the
file's size. Records are counted by RFC 4180: a line break inside a quoted field does not end a
record; `""` inside quotes is an escaped quote. A chunk without any `"` is counted with one
`bytes.count`, so plain CSV costs about as much as hashing alone.

`rows` is the number of records after the header (a last record without a final line break counts).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

CHUNK_BYTES = 1 << 20
MAX_HEADER_BYTES = 64 * 1024  # a header line longer than this is kept cut (the row count is unaffected)
FILE_STATUSES = ("ok", "missing", "size_mismatch", "checksum_mismatch", "row_count_mismatch", "unreadable")


class FileScanError(Exception):
    """A file could not be read (not a regular file, permission, I/O); str() is one line."""


@dataclass
class FileFacts:
    """What one pass over a file found: `path` relative to the root (POSIX separators), `size` in
    bytes, `sha256` hex, `mtime` ISO 8601 UTC, and for CSV files `rows` and `header`."""

    path: str
    size: int
    sha256: str
    mtime: str
    rows: int | None = None
    header: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256, "mtime": self.mtime}
        if self.rows is not None:
            data["csv"] = {"rows": self.rows, "header": self.header or []}
        return data


def is_csv(path: str) -> bool:
    return path.lower().endswith(".csv")


def find_files(root: Path, patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """Relative POSIX paths of the regular files under `root` matching any glob (sorted, unique),
    and the patterns that matched nothing. A pattern without glob characters is a plain path."""
    found: set[str] = set()
    empty: list[str] = []
    for pattern in patterns:
        matched = False
        for path in root.glob(pattern):
            try:
                if not stat.S_ISREG(path.stat().st_mode):
                    continue
            except OSError:
                continue
            found.add(path.relative_to(root).as_posix())
            matched = True
        if not matched:
            empty.append(pattern)
    return sorted(found), empty


# Every byte but '"' and '\n': deleted to leave the skeleton of a chunk that decides its records.
_NOT_QUOTE_OR_NEWLINE = bytes(b for b in range(256) if b not in (0x22, 0x0A))


class _RecordCounter:
    """Counts record ends over a byte stream fed in chunks, honouring quotes (see module docstring).

    A chunk with a quote is reduced to its skeleton of quotes and line breaks (bytes.translate,
    in C). Two adjacent quotes have no line break between them, so dropping them keeps the parity
    of the quotes before every line break: what is left is line breaks, and a quote only where a
    quoted field spans a line break. That rare rest is walked quote by quote.
    """

    def __init__(self) -> None:
        self.records = 0
        self.in_quotes = False
        self.last = 0

    def feed(self, data: bytes | bytearray) -> None:
        if not data:
            return
        self.last = data[-1]
        if b'"' not in data:
            if not self.in_quotes:
                self.records += data.count(b"\n")
            return
        skeleton = data.translate(None, _NOT_QUOTE_OR_NEWLINE).replace(b'""', b"")
        if b'"' not in skeleton:
            if not self.in_quotes:
                self.records += skeleton.count(b"\n")
            return
        for index, part in enumerate(skeleton.split(b'"')):
            if index:
                self.in_quotes = not self.in_quotes
            if not self.in_quotes:
                self.records += part.count(b"\n")

    def total(self, size: int) -> int:
        """Records in the whole file: a last record without a line break counts too."""
        if size == 0:
            return 0
        return self.records + (0 if self.last == 0x0A else 1)


def _header(head: bytes) -> list[str]:
    text = head.decode("utf-8-sig", errors="replace")
    try:
        first = next(csv.reader(io.StringIO(text)), [])
    except csv.Error:
        first = []
    return [field[:200] for field in first[:1000]]


def scan_file(root: Path, relative: str, *, chunk_bytes: int = CHUNK_BYTES, deadline: float | None = None) -> FileFacts:
    """One streamed pass over `root/relative`. Raises FileNotFoundError when it is missing,
    FileScanError when it is not a regular file or cannot be read, TimeoutError past `deadline`
    (time.monotonic())."""
    path = root / relative
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileScanError(f"{relative}: cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileScanError(f"{relative}: not a regular file")
        digest = hashlib.sha256()
        counter = _RecordCounter() if is_csv(relative) else None
        buffer = bytearray(chunk_bytes)
        view = memoryview(buffer)
        size = 0
        head = b""
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as stream:
            while True:
                n = stream.readinto(buffer)
                if not n:
                    break
                piece = view[:n]
                digest.update(piece)
                if counter is not None:
                    # The buffer itself when full (no copy); a short last read is copied once.
                    counter.feed(buffer if n == chunk_bytes else bytes(piece))
                    if len(head) < MAX_HEADER_BYTES:
                        head += bytes(piece[:MAX_HEADER_BYTES - len(head)])
                size += n
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"{relative}: not read within the deadline ({size} bytes read)")
        mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(timespec="seconds")
        facts = FileFacts(relative, size, digest.hexdigest(), mtime)
        if counter is not None:
            records = counter.total(size)
            facts.rows = max(records - 1, 0)
            facts.header = _header(head) if size else []
        return facts
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, TimeoutError)):
            raise
        raise FileScanError(f"{relative}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


@dataclass
class FileCheck:
    """One manifest file against the restore: `status` is one of FILE_STATUSES."""

    path: str
    status: str
    message: str
    expected: dict[str, Any]
    observed: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "message": self.message,
                "expected": self.expected, "observed": self.observed}


def verify_file(root: Path, entry: dict[str, Any], *, deadline: float | None = None) -> FileCheck:
    """Compare the restored file with its manifest entry (a FileFacts dict).

    Status precedence: missing, unreadable, row_count_mismatch (the fact a reader acts on), then
    size_mismatch, checksum_mismatch, ok. TimeoutError propagates.
    """
    relative = entry["path"]
    expected = {k: entry[k] for k in ("size", "sha256") if k in entry}
    if "csv" in entry:
        expected["rows"] = entry["csv"]["rows"]
    try:
        facts = scan_file(root, relative, deadline=deadline)
    except FileNotFoundError:
        return FileCheck(relative, "missing", f"{relative}: missing from the restore", expected)
    except FileScanError as exc:
        return FileCheck(relative, "unreadable", str(exc), expected)
    observed: dict[str, Any] = {"size": facts.size, "sha256": facts.sha256, "mtime": facts.mtime}
    if facts.rows is not None:
        observed["rows"] = facts.rows
    if "rows" in expected and facts.rows != expected["rows"]:
        diff = (facts.rows or 0) - expected["rows"]
        return FileCheck(relative, "row_count_mismatch",
                         f"{relative}: {facts.rows} rows, manifest has {expected['rows']} ({diff:+d})", expected, observed)
    if facts.size != expected.get("size"):
        return FileCheck(relative, "size_mismatch",
                         f"{relative}: {facts.size} bytes, manifest has {expected.get('size')}", expected, observed)
    if facts.sha256 != expected.get("sha256"):
        return FileCheck(relative, "checksum_mismatch",
                         f"{relative}: sha256 {facts.sha256[:12]}..., manifest has {str(expected.get('sha256'))[:12]}... "
                         "(same size: the content changed)", expected, observed)
    return FileCheck(relative, "ok", f"{relative}: ok", expected, observed)
