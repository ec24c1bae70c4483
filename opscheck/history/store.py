"""The run history store: SQLite for one machine, PostgreSQL for a fleet, through SQLAlchemy Core.

    store = open_store("history.db")                       # a bare path: a SQLite file (created)
    store = open_store("postgresql+psycopg://u:pw@db/ops")  # any SQLAlchemy URL
    write = store.record_run(run, records, location="eu-west", release="1.4.2",
                             run_key=default_run_key(run, "eu-west", slot), profile_path="opscheck.yaml",
                             profile_hash=hash_profile(path))
    write.run_id, write.duplicate      # a second insert for the same run key stores nothing: duplicate=True
    store.check_runs("inventory-api", "prod", "smoke::health", since=...)   # -> [CheckRun], oldest first

Guarantees:
- One transaction per run: a run row and all its check rows are committed together or not at all
  (a process killed while writing leaves no half-written run).
- Concurrent writers lose nothing. SQLite runs in WAL mode with a busy timeout, and a write takes
  the write lock up front (`BEGIN IMMEDIATE`), so two writers never deadlock on a lock upgrade.
  PostgreSQL relies on the unique run key; creating the tables is serialised by an advisory lock.
- Every wait is bounded: connect (5 s), a lock (SQLite busy timeout / PostgreSQL lock_timeout, at
  most 5 s and a quarter of the deadline), at most `RETRIES` attempts, within `deadline_s` in all
  (30 s, or $OPSCHECK_HISTORY_TIMEOUT_S). Past that, `HistoryUnavailable`.

Errors: `HistoryUnavailable(message)`, one line, with any password in the URL replaced by ***,
when the store cannot be reached, opened, is locked past the bound, or holds a newer schema.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from opscheck.history import schema as S
from opscheck.results import CheckResult, RunInfo

CONNECT_TIMEOUT_S = 5
LOCK_TIMEOUT_S = 5
RETRIES = 4
DEFAULT_DEADLINE_S = 30.0
DEADLINE_ENV = "OPSCHECK_HISTORY_TIMEOUT_S"  # overrides DEFAULT_DEADLINE_S (seconds, > 0)


def default_deadline() -> float:
    """DEFAULT_DEADLINE_S, or $OPSCHECK_HISTORY_TIMEOUT_S when it is a positive number."""
    import os

    try:
        value = float(os.environ.get(DEADLINE_ENV, ""))
    except ValueError:
        return DEFAULT_DEADLINE_S
    return value if 0 < value < 3600 else DEFAULT_DEADLINE_S
DELIVERY_STATES = ("firing", "resolved", "test", "fallback")


class HistoryUnavailable(Exception):
    """The store cannot be reached, opened or written (locked past the bound). `str()` is one
    line with no password in it."""


@dataclass(frozen=True)
class RunWrite:
    """What `record_run` did: `run_id` of the stored run (of the earlier one when `duplicate`)."""

    run_id: int
    duplicate: bool
    run_key: str
    checks: int  # check rows written now (0 for a duplicate)


@dataclass(frozen=True)
class CheckRun:
    """One check in one stored run, as the history queries return it. `started_at` is the run's
    start, an aware UTC datetime; latencies in ms (None when the check measured none)."""

    run_id: int
    started_at: datetime
    location: str
    slot: datetime
    run_key: str
    release: str | None
    check_id: str
    family: str
    severity: str
    outcome: str
    reason: str | None
    message: str | None
    duration_ms: float
    latency_ms: float | None
    limit: str | None
    unit: str | None
    fingerprint: str | None
    attempts: int
    runbook_section: str | None
    runbook_anchor: str | None
    runbook_link: str | None
    maintenance: bool


@dataclass(frozen=True)
class Delivery:
    """One alert delivery attempt series, as logged by the notify sender."""

    id: int
    run_id: int | None
    service: str
    env: str
    check_id: str
    location: str | None
    receiver: str
    state: str  # firing | resolved | test | fallback
    attempts: int
    ok: bool
    error: str | None
    sent_at: datetime
    detail: dict[str, Any]


def slot_of(started_at: datetime, slot_s: int) -> datetime:
    """`started_at` floored to a multiple of `slot_s` seconds since the epoch (UTC)."""
    epoch = int(started_at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % max(1, slot_s), timezone.utc)


def default_run_key(service: str, env: str | None, location: str, slot: datetime) -> str:
    """service/env/location/slot: two starts of one scheduled run (a retried CronJob, two racing
    runners of one location) share it, so the second is stored as a duplicate, not a second run."""
    return f"{service}/{env or '-'}/{location}/{slot.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"


def hash_profile(path: str | Path) -> str:
    """SHA-256 hex of the profile file's bytes ("" when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read(16 * 1024 * 1024)).hexdigest()
    except OSError:
        return ""


def parse_started(text: str) -> datetime:
    """results.json's `started_at` (ISO 8601) -> an aware UTC datetime (a naive text is read as UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def redact_url(url: str) -> str:
    """The store URL as it may be shown: the password replaced by ***."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://***"


def _one_line(text: str, secrets: list[str]) -> str:
    line = " ".join(str(text).split())
    for secret in secrets:
        if secret and len(secret) >= 3:
            line = line.replace(secret, "***")
    return line[:300]


def _latency(record: CheckResult) -> tuple[float | None, float | None, float | None, float | None]:
    """(latency_ms, p50, p95, p99): a sampled check's percentiles, else its one exchange's elapsed time."""
    m = record.measurements or {}

    def num(key: str) -> float | None:
        value = m.get(key)
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    p50, p95, p99 = num("p50_ms"), num("p95_ms"), num("p99_ms")
    if p95 is not None:
        return p95, p50, p95, p99
    for item in record.evidence or []:
        elapsed = item.get("elapsed_ms") if isinstance(item, dict) else None
        if isinstance(elapsed, (int, float)):
            return float(elapsed), None, None, None
    return None, None, None, None


def check_rows(run_id: int, base: dict[str, Any], records: list[CheckResult]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        latency, p50, p95, p99 = _latency(r)
        runbook = r.runbook
        rows.append({
            "run_id": run_id, **base, "check_id": r.id, "family": r.family, "name": r.name,
            "severity": r.severity, "outcome": r.outcome, "reason": r.reason, "message": r.message,
            "duration_ms": float(r.duration_ms or 0.0), "latency_ms": latency, "p50_ms": p50, "p95_ms": p95,
            "p99_ms": p99, "observed": _text(r.facts.get("observed")), "limit_value": _text(r.facts.get("limit")),
            "unit": r.facts.get("unit"), "fingerprint": r.facts.get("fingerprint"),
            "attempts": max(1, len(r.attempts)),
            "runbook_section": runbook.section if runbook else None,
            "runbook_anchor": runbook.anchor if runbook else None,
            "runbook_link": runbook.link if runbook else None,
        })
    return rows


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class HistoryStore:
    """A connected store (see the module docstring). Build it with `open_store`."""

    def __init__(self, engine: Any, url: str, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.engine = engine
        self.url = url
        self.shown_url = redact_url(url)
        self.deadline_s = deadline_s
        self.dialect = engine.dialect.name
        self._secrets = [p for p in [_password(url)] if p]
        # Called between the run row and its check rows, inside the transaction: a test's seam
        # to kill a writer mid-run.
        self._between_rows: Callable[[], None] | None = None

    # --- plumbing ----------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.dispose()

    def _fail(self, doing: str, exc: BaseException) -> HistoryUnavailable:
        detail = getattr(exc, "orig", None) or exc
        text = _one_line(f"{type(detail).__name__}: {detail}", self._secrets + [self.url])
        return HistoryUnavailable(f"history store {self.shown_url}: {doing}: {text}")

    def _retrying(self, doing: str, work: Callable[[Any], Any], *, write: bool) -> Any:
        """Run `work(connection)` in one transaction; retry a lock, busy or dropped connection
        at most RETRIES times within the deadline. Other database errors are not retried."""
        from sqlalchemy import exc as sa_exc

        deadline = time.monotonic() + self.deadline_s
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._begin(write) as conn:
                    return work(conn)
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                if attempt >= RETRIES or time.monotonic() + 0.2 * attempt > deadline:
                    raise self._fail(f"{doing} (gave up after {attempt} attempt(s))", exc) from None
                time.sleep(min(0.2 * attempt, max(0.0, deadline - time.monotonic())))
            except sa_exc.IntegrityError as exc:
                raise _Conflict(str(exc)) from None
            except sa_exc.SQLAlchemyError as exc:
                raise self._fail(doing, exc) from None

    def _begin(self, write: bool) -> Any:
        conn = self.engine.connect()
        if write and self.dialect == "sqlite":
            conn = conn.execution_options(opscheck_immediate=True)
        return _Tx(conn)

    def ensure_schema(self) -> None:
        """Create the tables if missing and record the schema version; refuse a newer schema."""

        def work(conn: Any) -> None:
            from sqlalchemy import func, insert, inspect, select, text

            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7308121212)"))  # serialise concurrent creators
            if not inspect(conn).has_table(S.schema_version.name):
                S.metadata.create_all(conn, checkfirst=True)
            found = conn.execute(select(func.max(S.schema_version.c.version))).scalar()
            if found is None:
                S.metadata.create_all(conn, checkfirst=True)
                conn.execute(insert(S.schema_version).values(version=S.SCHEMA_VERSION, applied_at=_now()))
            elif found > S.SCHEMA_VERSION:
                raise _NewerSchema(found)

        try:
            self._retrying("opening", work, write=True)
        except _NewerSchema as exc:
            raise HistoryUnavailable(
                f"history store {self.shown_url}: schema version {exc.args[0]} is newer than this opscheck's "
                f"({S.SCHEMA_VERSION}): upgrade opscheck") from None

    # --- writing -------------------------------------------------------------------------------

    def record_run(self, run: RunInfo, records: list[CheckResult], *, location: str, release: str | None,
                   run_key: str, profile_path: str, profile_hash: str, maintenance: bool = False,
                   slot: datetime | None = None, source: str = "run") -> RunWrite:
        """Store one run and its checks in one transaction. A run key already stored makes this a
        no-op returning `duplicate=True` with the earlier run's id. Raises HistoryUnavailable."""
        from opscheck import __version__

        started = parse_started(run.started_at)
        env = run.environment or ""
        base = {"service": run.service, "env": env, "location": location, "started_at": started,
                "maintenance": bool(maintenance)}
        run_row = {
            "run_key": run_key, "service": run.service, "env": env, "location": location, "release": release,
            "slot": slot or started, "started_at": started, "duration_s": float(run.duration_s or 0.0),
            "exit_code": run.exit_code, "profile_path": profile_path, "profile_hash": profile_hash,
            "opscheck_version": __version__, "base_url": run.base_url, "maintenance": bool(maintenance),
            "source": source, "recorded_at": _now(), "checks": len(records),
        }

        def work(conn: Any) -> RunWrite:
            from sqlalchemy import insert, select

            existing = conn.execute(select(S.runs.c.id).where(S.runs.c.run_key == run_key)).scalar()
            if existing is not None:
                return RunWrite(int(existing), True, run_key, 0)
            run_id = int(conn.execute(insert(S.runs).values(**run_row)).inserted_primary_key[0])
            if self._between_rows is not None:
                self._between_rows()
            rows = check_rows(run_id, base, records)
            if rows:
                conn.execute(insert(S.check_results), rows)
            return RunWrite(run_id, False, run_key, len(rows))

        try:
            return self._retrying("writing the run", work, write=True)
        except _Conflict:
            pass  # two writers raced on one run key (PostgreSQL): the loser's insert is the duplicate
        existing = self._retrying("reading the run key", lambda conn: _run_id(conn, run_key), write=False)
        if existing is None:
            raise HistoryUnavailable(f"history store {self.shown_url}: writing the run: run key conflict")
        return RunWrite(existing, True, run_key, 0)

    def record_delivery(self, *, service: str, env: str | None, check_id: str, receiver: str, state: str,
                        attempts: int, ok: bool, error: str | None = None, run_id: int | None = None,
                        sent_at: datetime | None = None, location: str | None = None,
                        detail: dict[str, Any] | None = None) -> int:
        """Log one delivery (the sender redacts `error` first). `state`: firing, resolved, test or
        fallback. Returns its id. Raises HistoryUnavailable, ValueError for an unknown state."""
        if state not in DELIVERY_STATES:
            raise ValueError(f"delivery state {state!r}: expected one of {', '.join(DELIVERY_STATES)}")
        row = {"run_id": run_id, "service": service, "env": env or "", "check_id": check_id, "location": location,
               "receiver": receiver, "state": state, "attempts": int(attempts), "ok": bool(ok), "error": error,
               "sent_at": sent_at or _now(), "detail": json.dumps(detail, sort_keys=True) if detail else None}

        def work(conn: Any) -> int:
            from sqlalchemy import insert

            return int(conn.execute(insert(S.deliveries).values(**row)).inserted_primary_key[0])

        return self._retrying("logging a delivery", work, write=True)

    def prune(self, older_than: datetime, *, service: str | None = None, env: str | None = None) -> dict[str, int]:
        """Delete runs (with their checks) started before `older_than` and deliveries sent before
        it, in one transaction, only of `service` and `env` when given. Returns {"runs": n,
        "checks": n, "deliveries": n}."""

        def work(conn: Any) -> dict[str, int]:
            from sqlalchemy import and_, delete, select, update

            def scoped(table: Any, *conditions: Any) -> Any:
                extra = [table.c.service == service] if service is not None else []
                extra += [table.c.env == env] if env is not None else []
                return and_(*conditions, *extra)

            old_runs = scoped(S.runs, S.runs.c.started_at < older_than)
            old = select(S.runs.c.id).where(old_runs)
            checks = conn.execute(delete(S.check_results).where(S.check_results.c.run_id.in_(old))).rowcount
            conn.execute(update(S.deliveries).where(S.deliveries.c.run_id.in_(old)).values(run_id=None))
            n_runs = conn.execute(delete(S.runs).where(old_runs)).rowcount
            n_del = conn.execute(delete(S.deliveries).where(scoped(S.deliveries, S.deliveries.c.sent_at < older_than))).rowcount
            return {"runs": int(n_runs), "checks": int(checks), "deliveries": int(n_del)}

        return self._retrying("pruning", work, write=True)

    # --- reading -------------------------------------------------------------------------------

    def read(self, doing: str, work: Callable[[Any], Any]) -> Any:
        """Run a read-only `work(connection)` under the same bounds and errors as writes."""
        return self._retrying(doing, work, write=False)

    def check_runs(self, service: str, env: str | None, check_id: str, *, location: str | None = None,
                   since: datetime | None = None, until: datetime | None = None,
                   limit: int | None = None) -> list[CheckRun]:
        """The check's stored runs, oldest first. `limit` keeps the newest `limit` of them."""
        from sqlalchemy import select

        c, r = S.check_results, S.runs
        query = (select(c.c.run_id, c.c.started_at, c.c.location, r.c.slot, r.c.run_key, r.c.release, c.c.check_id,
                        c.c.family, c.c.severity, c.c.outcome, c.c.reason, c.c.message, c.c.duration_ms,
                        c.c.latency_ms, c.c.limit_value, c.c.unit, c.c.fingerprint, c.c.attempts,
                        c.c.runbook_section, c.c.runbook_anchor, c.c.runbook_link, c.c.maintenance)
                 .join(r, r.c.id == c.c.run_id)
                 .where(c.c.service == service, c.c.env == (env or ""), c.c.check_id == check_id))
        if location is not None:
            query = query.where(c.c.location == location)
        if since is not None:
            query = query.where(c.c.started_at >= since)
        if until is not None:
            query = query.where(c.c.started_at < until)
        query = query.order_by(c.c.started_at.desc(), c.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        rows = self.read("reading check runs", lambda conn: conn.execute(query).all())
        return [CheckRun(*row[:-1], bool(row[-1])) for row in reversed(rows)]

    def check_states(self, service: str, env: str | None, check_id: str, *, since: datetime | None = None,
                     until: datetime | None = None) -> list[Any]:
        """The check's runs as light rows (run_id, check_id, started_at, location, outcome, reason,
        maintenance), oldest first: what streaks and incidents need, read from one index."""
        from sqlalchemy import select

        c = S.check_results.c
        query = select(c.run_id, c.check_id, c.started_at, c.location, c.outcome, c.reason, c.maintenance).where(
            c.service == service, c.env == (env or ""), c.check_id == check_id)
        if since is not None:
            query = query.where(c.started_at >= since)
        if until is not None:
            query = query.where(c.started_at < until)
        return self.read("reading check runs", lambda conn: conn.execute(query.order_by(c.started_at, c.id)).all())

    def run_details(self, check_id: str, run_ids: list[int]) -> dict[int, CheckRun]:
        """run_id -> the check's CheckRun in those runs (for incidents found on light rows)."""
        from sqlalchemy import select

        c, r = S.check_results, S.runs
        out: dict[int, CheckRun] = {}
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start:start + 500]
            query = (select(c.c.run_id, c.c.started_at, c.c.location, r.c.slot, r.c.run_key, r.c.release, c.c.check_id,
                            c.c.family, c.c.severity, c.c.outcome, c.c.reason, c.c.message, c.c.duration_ms,
                            c.c.latency_ms, c.c.limit_value, c.c.unit, c.c.fingerprint, c.c.attempts,
                            c.c.runbook_section, c.c.runbook_anchor, c.c.runbook_link, c.c.maintenance)
                     .join(r, r.c.id == c.c.run_id).where(c.c.check_id == check_id, c.c.run_id.in_(chunk)))
            for row in self.read("reading check runs", lambda conn: conn.execute(query).all()):
                out[int(row[0])] = CheckRun(*row[:-1], bool(row[-1]))
        return out

    def deliveries(self, service: str | None = None, env: str | None = None, check_id: str | None = None,
                   since: datetime | None = None, receiver: str | None = None) -> list[Delivery]:
        """Logged deliveries, oldest first, filtered by whatever is given."""
        from sqlalchemy import select

        d = S.deliveries
        query = select(d)
        for column, value in ((d.c.service, service), (d.c.check_id, check_id), (d.c.receiver, receiver)):
            if value is not None:
                query = query.where(column == value)
        if env is not None:
            query = query.where(d.c.env == env)
        if since is not None:
            query = query.where(d.c.sent_at >= since)
        rows = self.read("reading deliveries", lambda conn: conn.execute(query.order_by(d.c.sent_at, d.c.id)).all())
        return [_delivery(row) for row in rows]

    def last_delivery(self, service: str, env: str | None, check_id: str, receiver: str | None = None) -> Delivery | None:
        """The newest logged delivery for the check (to `receiver` when given), or None."""
        from sqlalchemy import select

        d = S.deliveries
        query = select(d).where(d.c.service == service, d.c.env == (env or ""), d.c.check_id == check_id)
        if receiver is not None:
            query = query.where(d.c.receiver == receiver)
        query = query.order_by(d.c.sent_at.desc(), d.c.id.desc()).limit(1)
        row = self.read("reading deliveries", lambda conn: conn.execute(query).first())
        return _delivery(row) if row is not None else None

    def runs(self, service: str | None = None, env: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Stored runs (the run rows as dicts), oldest first."""
        from sqlalchemy import select

        r = S.runs
        query = select(r)
        if service is not None:
            query = query.where(r.c.service == service)
        if env is not None:
            query = query.where(r.c.env == env)
        if since is not None:
            query = query.where(r.c.started_at >= since)
        rows = self.read("reading runs", lambda conn: conn.execute(query.order_by(r.c.started_at, r.c.id)).all())
        return [dict(row._mapping) for row in rows]

    def series(self, service: str | None = None, env: str | None = None) -> list[tuple[str, str, str]]:
        """Every (service, env, check_id) with stored runs, sorted."""
        from sqlalchemy import select

        c = S.check_results
        query = select(c.c.service, c.c.env, c.c.check_id).distinct()
        if service is not None:
            query = query.where(c.c.service == service)
        if env is not None:
            query = query.where(c.c.env == env)
        rows = self.read("listing checks", lambda conn: conn.execute(query).all())
        return sorted((str(a), str(b), str(x)) for a, b, x in rows)

    def groups_last_seen(self) -> list[tuple[str, str, str, datetime]]:
        """Every (service, env, location) with its newest run's start, sorted."""
        from sqlalchemy import func, select

        r = S.runs
        query = select(r.c.service, r.c.env, r.c.location, func.max(r.c.started_at)).group_by(
            r.c.service, r.c.env, r.c.location)
        rows = self.read("listing groups", lambda conn: conn.execute(query).all())
        return sorted((a, b, c, _aware(d)) for a, b, c, d in rows)


class _NewerSchema(Exception):
    pass


class _Conflict(Exception):
    pass


class _Tx:
    """A connection with one transaction, committed on a clean exit, rolled back otherwise."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        self.tx = self.conn.begin()
        return self.conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if kind is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        finally:
            self.conn.close()


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's max() over the text column bypasses the type
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _run_id(conn: Any, run_key: str) -> int | None:
    from sqlalchemy import select

    found = conn.execute(select(S.runs.c.id).where(S.runs.c.run_key == run_key)).scalar()
    return None if found is None else int(found)


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(id=int(m["id"]), run_id=m["run_id"], service=m["service"], env=m["env"], check_id=m["check_id"],
                    location=m["location"], receiver=m["receiver"], state=m["state"], attempts=int(m["attempts"]),
                    ok=bool(m["ok"]), error=m["error"], sent_at=m["sent_at"],
                    detail=json.loads(m["detail"]) if m["detail"] else {})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _password(url: str) -> str | None:
    if "://" not in url:
        return None
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password
    except Exception:  # noqa: BLE001
        return None


def _lock_wait_s(deadline_s: float) -> float:
    # A lock wait is a share of the whole deadline, so RETRIES waits still end within it.
    return max(0.2, min(float(LOCK_TIMEOUT_S), deadline_s / RETRIES))


def _sqlite_engine(path: str, deadline_s: float) -> Any:
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=2, pool_timeout=deadline_s,
                           connect_args={"timeout": _lock_wait_s(deadline_s), "check_same_thread": False})
    busy_ms = int(_lock_wait_s(deadline_s) * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a commit survives a process kill
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock before the first read, so a writer never fails to upgrade
        # a read lock halfway (SQLITE_BUSY that no busy timeout can wait out).
        immediate = conn.get_execution_options().get("opscheck_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_store(url: str, *, deadline_s: float | None = None, create: bool = True) -> HistoryStore:
    """A store for `url`: a bare path (or sqlite:///path) is a SQLite file, created if missing;
    anything else a SQLAlchemy URL (postgresql+psycopg://user:pw@host/db). Creates the tables on
    first use. Raises HistoryUnavailable (one line, password redacted) within about `deadline_s`."""
    from sqlalchemy import exc as sa_exc

    deadline_s = default_deadline() if deadline_s is None else deadline_s
    text = str(url).strip()
    if not text:
        raise HistoryUnavailable("history store: empty URL")
    try:
        if "://" not in text or text.startswith("sqlite:///"):
            path = text[len("sqlite:///"):] if text.startswith("sqlite:///") else text
            folder = Path(path).expanduser().resolve().parent
            if not folder.is_dir():
                raise HistoryUnavailable(f"history store {text}: folder {folder} does not exist")
            if not create and not Path(path).exists():
                raise HistoryUnavailable(f"history store {text}: no such file")
            engine = _sqlite_engine(str(Path(path).expanduser()), deadline_s)
        else:
            from sqlalchemy import create_engine

            connect_args: dict[str, Any] = {}
            if text.startswith("postgresql"):
                lock_ms = int(_lock_wait_s(deadline_s) * 1000)
                connect_args = {"connect_timeout": max(1, min(CONNECT_TIMEOUT_S, int(deadline_s / 2))),
                                "application_name": "opscheck",
                                "options": f"-c lock_timeout={lock_ms} -c statement_timeout={int(deadline_s * 1000)}"}
            engine = create_engine(text, pool_size=1, max_overflow=2, pool_timeout=deadline_s, pool_pre_ping=True,
                                   connect_args=connect_args)
    except HistoryUnavailable:
        raise
    except (sa_exc.ArgumentError, ImportError, ValueError) as exc:
        raise HistoryUnavailable(_one_line(f"history store {redact_url(text)}: not a usable URL: {exc}",
                                           [p for p in [_password(text), text] if p])) from None
    store = HistoryStore(engine, text, deadline_s)
    store.ensure_schema()
    return store
