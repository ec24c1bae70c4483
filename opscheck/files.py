"""Bounded reads of the files a profile names: regular files only, never more than a limit.

A profile can name any path: `/dev/zero` would be read without end, and a named pipe would block
the run forever. Every file opscheck reads on the profile's say goes through `read_bounded`.

Limits (bytes), documented in docs/profile.md:
- the profile itself: PROFILE_LIMIT (1 MiB);
- the runbook: RUNBOOK_LIMIT (4 MiB);
- JSON Schema files and OpenAPI documents: DATA_LIMIT (4 MiB);
- a results.json given as --baseline: RESULTS_LIMIT (64 MiB).
(Data files of the freshness and thresholds families are capped at http.max_body_bytes by their family.)
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["FileReadError", "read_bounded", "check_regular", "PROFILE_LIMIT", "RUNBOOK_LIMIT", "DATA_LIMIT", "RESULTS_LIMIT"]

MIB = 1 << 20
PROFILE_LIMIT = 1 * MIB
RUNBOOK_LIMIT = 4 * MIB
DATA_LIMIT = 4 * MIB
RESULTS_LIMIT = 64 * MIB  # a results.json given as --baseline: one entry per check, samples included

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileReadError(OSError):
    """The file cannot be read within the rules; ``str()`` is ``"<what> <path>: <cause>"``.

    ``cause`` alone is the short reason ("file not found", "a named pipe, not a regular file",
    "larger than the 4 MiB limit for ...").
    """

    def __init__(self, path: str, what: str, cause: str, not_found: bool = False) -> None:
        super().__init__(cause)
        self.path = path
        self.what = what
        self.cause = cause
        self.not_found = not_found

    def __str__(self) -> str:
        return f"{self.what} {self.path}: {self.cause}"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _limit_text(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"


def check_regular(path: str | os.PathLike[str], what: str) -> None:
    """Raise FileReadError unless *path* is an existing regular file (follows symlinks, opens nothing).

    For files read by C code we cannot bound (e.g. a CA bundle loaded by ssl): at least a named pipe
    or a device never reaches it.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise FileReadError(name, what, "file not found", not_found=True) from None
    except OSError as exc:
        raise FileReadError(name, what, f"cannot read file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileReadError(name, what, f"{_kind(st.st_mode)}, not a regular file")


def read_bounded(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The whole content of the regular file *path*, at most *limit* bytes.

    Raises FileReadError (an OSError) when the file is missing, unreadable, not a regular file
    (directory, named pipe, device, socket) or larger than *limit*. Never blocks: the file is
    opened with O_NONBLOCK, so opening a named pipe with no writer returns at once and is refused.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise FileReadError(name, what, "file not found", not_found=True) from None
    except IsADirectoryError:
        raise FileReadError(name, what, "a directory, not a regular file") from None
    except PermissionError:
        raise FileReadError(name, what, "permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO opened write-side or a socket: never a regular file
            raise FileReadError(name, what, "not a regular file") from None
        raise FileReadError(name, what, f"cannot read file: {exc.strerror or exc}") from None
    try:
        # fstat on the opened descriptor: the file checked is the file read, whatever renames happen.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileReadError(name, what, f"{_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileReadError(name, what, f"{st.st_size} bytes, larger than the {_limit_text(limit)} limit for {what}s")
        chunks: list[bytes] = []
        total = 0
        # A file can grow between fstat and read (a log being written): read at most limit + 1.
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileReadError(name, what, f"larger than the {_limit_text(limit)} limit for {what}s")
        return b"".join(chunks)
    except OSError as exc:
        if isinstance(exc, FileReadError):
            raise
        raise FileReadError(name, what, f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
