"""The database side of a backup, through SQLAlchemy Core: per table the row count, the newest
value of its timestamp column, and optionally a sha256 over an ordered key range.

Bounds: PostgreSQL gets `connect_timeout` and `statement_timeout`; SQLite a busy timeout and a
progress handler that interrupts any statement past the deadline. Other dialects get the pool's
connect timeout only (documented).

The URL is a secret: it is never put in a message. Errors are reported as `DatabaseError` with a
one-line cause from which the URL, its password and its user:password@ part are removed.

Row checksum (`table_checksum`): rows with `first <= key <= last`, ordered by key, streamed in
batches of BATCH_ROWS; each value is encoded by type (NULL, integer, decimal, float, text, bytes,
date/time, boolean) and fields and rows are separated by control bytes, so the same rows give the
same digest on every run against the same kind of database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

from opscheck.config.restore import DatabaseSpec, TableSpec

BATCH_ROWS = 5000


class DatabaseError(Exception):
    """The database could not be read; str() is one line without the URL or its password."""


def _secrets_of(url: str) -> list[str]:
    out = [url]
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.password:
            out.append(str(parsed.password))
        out.append(parsed.render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - an unparsable URL: the whole text is still removed
        pass
    return [s for s in out if s and len(s) >= 4]


def clean(text: str, url: str) -> str:
    """`text` without the URL, its password, and any scheme://user:password@ credentials."""
    import re

    for secret in sorted(_secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, "[REDACTED]")
    text = re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"<>]*:)([^/\s@'\"<>]+)(@)", r"\1[REDACTED]\3", text)
    return " ".join(text.split())[:500]


def _cause(exc: BaseException, url: str) -> str:
    # SQLAlchemy appends the statement and a link to its docs page; the first line names the cause.
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return clean(f"{type(orig or exc).__name__}: {first}", url)


@dataclass
class Database:
    """One bounded connection to the database at `url` (see the module docstring for the bounds)."""

    url: str
    timeout_s: float

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection whose statements stop at `timeout_s` from now. Raises DatabaseError."""
        from sqlalchemy import create_engine, event
        from sqlalchemy.pool import NullPool

        deadline = time.monotonic() + self.timeout_s
        try:
            from sqlalchemy.engine import make_url

            backend = make_url(self.url).get_backend_name()
        except Exception as exc:  # noqa: BLE001 - an unparsable URL is the user's to fix
            raise DatabaseError(f"not a SQLAlchemy URL ({_cause(exc, self.url)})") from None
        connect_args: dict[str, Any] = {}
        if backend == "postgresql":
            ms = max(int(self.timeout_s * 1000), 1)
            connect_args = {"connect_timeout": max(int(self.timeout_s), 1), "application_name": "opscheck-drill",
                            "options": f"-c statement_timeout={ms} -c lock_timeout={ms}"}
        elif backend == "sqlite":
            connect_args = {"timeout": self.timeout_s}
        try:
            engine = create_engine(self.url, poolclass=NullPool, connect_args=connect_args)
        except Exception as exc:  # noqa: BLE001 - a missing driver, a bad option: one line
            raise DatabaseError(f"cannot use this database URL ({_cause(exc, self.url)})") from None
        if backend == "sqlite":
            @event.listens_for(engine, "connect")
            def _bound(dbapi_conn: Any, _record: Any) -> None:
                # A non-zero return interrupts the running statement ("interrupted").
                dbapi_conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            try:
                conn = engine.connect()
            except Exception as exc:  # noqa: BLE001
                raise DatabaseError(f"cannot connect ({_cause(exc, self.url)})") from None
            try:
                yield _Bounded(conn, self.url, deadline)
            finally:
                conn.close()
        finally:
            engine.dispose()


@dataclass
class _Bounded:
    conn: Any
    url: str
    deadline: float

    def run(self, what: str, statement: Any) -> Any:
        if time.monotonic() > self.deadline:
            raise DatabaseError(f"{what}: the database step ran out of time")
        try:
            return self.conn.execute(statement)
        except Exception as exc:  # noqa: BLE001 - every driver error becomes one clean line
            self._rollback()
            raise DatabaseError(f"{what}: {_cause(exc, self.url)}") from None

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception:  # noqa: BLE001 - the next statement reports what is wrong
            pass


def _table(spec: TableSpec, *columns: str) -> Any:
    from sqlalchemy import column, table

    return table(spec.table, *(column(c) for c in columns), schema=spec.schema)


def _json_key(value: Any) -> int | str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _datetime(value: dt.datetime) -> bytes:
    # An aware time in UTC: the same instant read under another session time zone (PostgreSQL's
    # TimeZone setting) must give the same bytes.
    return b"t" + (value.astimezone(dt.timezone.utc) if value.tzinfo else value).isoformat().encode()


def _encode(value: Any) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, Decimal):
        return b"d" + format(value.normalize(), "f").encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"x" + bytes(value).hex().encode()
    if isinstance(value, dt.datetime):
        return _datetime(value)
    if isinstance(value, (dt.date, dt.time)):
        return b"t" + value.isoformat().encode()
    return b"s" + str(value).encode("utf-8", "surrogatepass")


# The common exact types, encoded as `_encode` does, without its chain of isinstance tests (a
# checksum encodes millions of values); anything else, bool and subclasses included, goes through it.
_FAST: dict[type, Any] = {
    int: lambda v: b"i%d" % v,
    str: lambda v: b"s" + v.encode("utf-8", "surrogatepass"),
    Decimal: lambda v: b"d" + format(v.normalize(), "f").encode(),
    float: lambda v: b"f" + repr(v).encode(),
    dt.datetime: lambda v: _datetime(v),
    dt.date: lambda v: b"t" + v.isoformat().encode(),
}


def _row_bytes(row: Any) -> bytes:
    return b"\x1f".join([b"N" if v is None else (_FAST.get(type(v)) or _encode)(v) for v in row])


def newest_timestamp(value: Any) -> str | None:
    """The newest value of a timestamp column as ISO 8601 UTC text (naive values are UTC, as
    SQLite text and `timestamp without time zone` usually are); None for an empty table.
    Raises ValueError for a value that is no timestamp."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        stamp = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    elif isinstance(value, str):
        stamp = dt.datetime.fromisoformat(value.strip().replace(" ", "T", 1) if "T" not in value else value.strip())
    else:
        raise ValueError(f"not a timestamp: a {type(value).__name__}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc).isoformat()


def table_facts(db: _Bounded, spec: TableSpec, checksum_range: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """{"table", "rows", "updated_at", "newest", "checksum"?} for one table. `checksum_range` is
    the manifest's [first, last] at verify time; at snapshot time the spec's, else the key range
    present. Raises DatabaseError."""
    from sqlalchemy import func, select

    name = spec.qualified
    rows = db.run(f"{name}: counting rows", select(func.count()).select_from(_table(spec))).scalar_one()
    facts: dict[str, Any] = {"table": name, "rows": int(rows)}
    if spec.updated_at:
        raw = db.run(f"{name}: newest {spec.updated_at}",
                     select(func.max(_table(spec, spec.updated_at).c[spec.updated_at]))).scalar()
        try:
            facts["newest"] = newest_timestamp(raw)
        except ValueError as exc:
            raise DatabaseError(f"{name}.{spec.updated_at}: {exc}") from None
        facts["updated_at"] = spec.updated_at
    if spec.checksum is not None:
        facts["checksum"] = table_checksum(db, spec, checksum_range)
    return facts


def table_checksum(db: _Bounded, spec: TableSpec, key_range: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """{"key", "columns", "first", "last", "rows", "sha256"}: see the module docstring. Raises DatabaseError."""
    from sqlalchemy import func, select

    assert spec.checksum is not None
    name, key = spec.qualified, spec.checksum.key
    if key_range is None:
        first, last = spec.checksum.first, spec.checksum.last
        if first is None or last is None:
            keyed = _table(spec, key)
            low, high = db.run(f"{name}: key range of {key}",
                               select(func.min(keyed.c[key]), func.max(keyed.c[key]))).one()
            first = _json_key(low) if first is None and low is not None else first
            last = _json_key(high) if last is None and high is not None else last
    else:
        first, last = key_range
    columns = list(spec.checksum.columns) if spec.checksum.columns else _columns(db, spec)
    if key not in columns:
        columns = [key, *columns]
    digest = hashlib.sha256()
    count = 0
    if first is not None and last is not None:
        t = _table(spec, *columns)
        statement = (select(*(t.c[c] for c in columns)).where(t.c[key] >= first, t.c[key] <= last)
                     .order_by(t.c[key]).execution_options(yield_per=BATCH_ROWS))
        result = db.run(f"{name}: checksum over {key}", statement)
        try:
            for batch in result.partitions(BATCH_ROWS):
                # One update per batch: the same bytes as row by row, a thousandth of the calls.
                digest.update(b"".join([_row_bytes(row) + b"\x1e" for row in batch]))
                count += len(batch)
                if time.monotonic() > db.deadline:
                    raise DatabaseError(f"{name}: checksum not done within the database timeout ({count} rows read)")
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - a driver error mid-stream
            db._rollback()
            raise DatabaseError(f"{name}: checksum over {key}: {_cause(exc, db.url)}") from None
    return {"key": key, "columns": columns, "first": first, "last": last, "rows": count, "sha256": digest.hexdigest()}


def _columns(db: _Bounded, spec: TableSpec) -> list[str]:
    from sqlalchemy import inspect

    try:
        found = inspect(db.conn).get_columns(spec.table, schema=spec.schema)
    except Exception as exc:  # noqa: BLE001
        db._rollback()
        raise DatabaseError(f"{spec.qualified}: reading its columns: {_cause(exc, db.url)}") from None
    if not found:
        raise DatabaseError(f"{spec.qualified}: no such table (or no columns)")
    return [c["name"] for c in found]


def snapshot_tables(spec: DatabaseSpec, url: str) -> dict[str, Any]:
    """The manifest's `database` part: {"dialect", "tables": [table_facts...]}. Raises DatabaseError."""
    db = Database(url, spec.timeout_s)
    with db.connect() as conn:
        dialect = conn.conn.dialect.name
        tables = [table_facts(conn, table) for table in spec.tables]
    return {"dialect": dialect, "tables": tables}
