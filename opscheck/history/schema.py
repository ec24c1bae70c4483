"""The run history's tables: one SQLAlchemy Core `MetaData` for SQLite and PostgreSQL.

    schema_version  version (int, primary key), applied_at
    runs            one row per stored run; `run_key` is unique (a second insert is a no-op)
    check_results   one row per check of a run; service, env, location, started_at and maintenance
                    are copied from the run so every history query reads one table
    deliveries      one row per alert delivery (sent by opscheck.notify): receiver, state, attempts, ok

Times are timezone-aware UTC datetimes in Python (`UtcDateTime`): PostgreSQL stores `timestamptz`,
SQLite an ISO text without offset, always in UTC, so text order is time order. Latencies and
durations are floats in milliseconds (measured values); every percentage, budget and burn rate is
computed from counts as a Decimal (opscheck.history.accounting), never stored.

SCHEMA_VERSION changes with any table change; a store opened on a newer version refuses to write.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        TypeDecorator)

SCHEMA_VERSION = 1


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime in and out, stored as UTC. A naive value is refused (ValueError): a local
    time would silently shift every window by the runner's offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the history stores aware UTC times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData()

schema_version = Table(
    "opscheck_schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UtcDateTime, nullable=False),
)

runs = Table(
    "opscheck_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(500), nullable=False, unique=True),
    Column("service", String(200), nullable=False),
    Column("env", String(200), nullable=False),  # "" when the run had no environment
    Column("location", String(200), nullable=False),
    Column("release", String(200)),
    Column("slot", UtcDateTime, nullable=False),  # started_at floored to the schedule slot
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("exit_code", Integer),
    Column("profile_path", Text, nullable=False),
    Column("profile_hash", String(64), nullable=False),
    Column("opscheck_version", String(50), nullable=False),
    Column("base_url", Text),
    Column("maintenance", Boolean, nullable=False, default=False),
    Column("source", String(20), nullable=False),  # "run" (live) or "import" (results.json)
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("checks", Integer, nullable=False),  # number of check_results rows written with it
)
Index("ix_runs_started", runs.c.started_at)
Index("ix_runs_service_env", runs.c.service, runs.c.env, runs.c.started_at)

check_results = Table(
    "opscheck_check_results", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("opscheck_runs.id", ondelete="CASCADE"), nullable=False),
    Column("service", String(200), nullable=False),
    Column("env", String(200), nullable=False),
    Column("location", String(200), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("maintenance", Boolean, nullable=False, default=False),
    Column("check_id", String(300), nullable=False),
    Column("family", String(100), nullable=False),
    Column("name", String(300), nullable=False),
    Column("severity", String(50), nullable=False),
    Column("outcome", String(20), nullable=False),  # passed, degraded, flaky, failed, skipped
    Column("reason", String(50)),
    Column("message", Text),
    Column("duration_ms", Float, nullable=False),
    Column("latency_ms", Float),  # the run's latency figure: sampled p95, else the one exchange's elapsed time
    Column("p50_ms", Float),
    Column("p95_ms", Float),
    Column("p99_ms", Float),
    Column("observed", Text),
    Column("limit_value", Text),
    Column("unit", String(50)),
    Column("fingerprint", String(32)),
    Column("attempts", Integer, nullable=False, default=1),
    Column("runbook_section", Text),
    Column("runbook_anchor", Text),
    Column("runbook_link", Text),
)
Index("ix_checks_lookup", check_results.c.service, check_results.c.env, check_results.c.check_id,
      check_results.c.started_at)
# Covers the report's one GROUP BY (opscheck.history.report): read in index order, no sort, no
# table lookups. Deliberately no index on started_at alone: SQLite would pick it for the window
# filter and fetch every row at random.
Index("ix_checks_summary", check_results.c.service, check_results.c.env, check_results.c.check_id,
      check_results.c.outcome, check_results.c.reason, check_results.c.maintenance, check_results.c.attempts,
      check_results.c.started_at)
Index("ix_checks_run", check_results.c.run_id)

deliveries = Table(
    "opscheck_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("opscheck_runs.id", ondelete="SET NULL")),
    Column("service", String(200), nullable=False),
    Column("env", String(200), nullable=False),
    Column("check_id", String(300), nullable=False),
    Column("location", String(200)),
    Column("receiver", String(200), nullable=False),
    Column("state", String(20), nullable=False),  # firing, resolved, test, fallback
    Column("attempts", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),  # one line, redacted by the sender
    Column("sent_at", UtcDateTime, nullable=False),
    Column("detail", Text),  # JSON text: whatever else the sender keeps (fingerprint, reason, severity ...)
)
Index("ix_deliveries_lookup", deliveries.c.service, deliveries.c.env, deliveries.c.check_id, deliveries.c.sent_at)
Index("ix_deliveries_sent", deliveries.c.sent_at)
