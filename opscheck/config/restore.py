"""The restore drill's profile section (issue 13): `restore:`, read into a typed `RestoreSpec`.

```yaml
restore:
  files: ["data/**/*.csv"]            # globs under files_root (default: the profile's folder)
  database:
    url_env: DATABASE_URL              # the variable holding a SQLAlchemy URL (a secret)
    tables:
      - {table: orders, updated_at: updated_at, checksum: {key: id}}
  command: ["pg_restore", "--clean", "-d", "${RESTORE_DB}", "backup.dump"]   # or one shell line
  timeout: 30m                         # the restore command (default: the largest RTO target, else 1h)
  rto: {api: 15m, database: {target: 30m, until: restored}}
  rpo: {database: 1m}
  max_backup_age: 8d
  canaries:
    - {name: item-1, path: /api/items/1, expect: {json: {id: 1}}}
```

Durations are seconds (float). Problems are reported through the Builder as `file:line: field:
cause` (exit 4). Nothing here touches the file system or the database: the snapshot and the drill
do, when they run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# When a component's RTO clock stops: the restore command ended with exit 0 (`restored`), the
# files or the database were verified (`files`, `database`), or readiness passed (`ready`).
RTO_MARKS = ("restored", "files", "database", "ready")
DEFAULT_MAX_BACKUP_AGE_S = 8 * 86400.0  # a weekly drill, plus a day of slack
DEFAULT_RESTORE_TIMEOUT_S = 3600.0
DEFAULT_READY_TIMEOUT_S = 300.0
DEFAULT_SMOKE_TIMEOUT_S = 300.0
DEFAULT_DB_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ChecksumSpec:
    """A checksum over the rows whose `key` lies in [first, last], ordered by key. `columns` None:
    every column. first/last None: the key range found at snapshot time."""

    key: str
    columns: tuple[str, ...] | None = None
    first: int | str | None = None
    last: int | str | None = None


@dataclass(frozen=True)
class TableSpec:
    table: str
    schema: str | None = None
    updated_at: str | None = None  # the timestamp column whose newest value the RPO reads
    checksum: ChecksumSpec | None = None
    field: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


@dataclass(frozen=True)
class DatabaseSpec:
    url_env: str
    tables: tuple[TableSpec, ...]
    timeout_s: float = DEFAULT_DB_TIMEOUT_S  # bounds the connection and every statement


@dataclass(frozen=True)
class Objective:
    """One RTO or RPO target of a component. `until` (RTO only) names the mark that stops the clock;
    `tables` (RPO only) restricts the newest-record search (empty: every listed table)."""

    component: str
    target_s: float
    until: str = "ready"
    tables: tuple[str, ...] = ()
    field: str = ""


@dataclass(frozen=True)
class Canary:
    name: str
    path: str
    expect: dict[str, Any]  # an `expect:` block, as smoke entries have (status default 200)
    field: str = ""


@dataclass(frozen=True)
class RestoreSpec:
    """The typed `restore:` section; `profile_dir` anchors the relative paths."""

    profile_dir: Path
    files: tuple[str, ...] = ()
    files_root: str = "."
    database: DatabaseSpec | None = None
    command: tuple[str, ...] | None = None  # argv; a string in the profile is ("/bin/sh", "-c", line)
    command_is_shell: bool = False
    timeout_s: float = DEFAULT_RESTORE_TIMEOUT_S
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    smoke_timeout_s: float = DEFAULT_SMOKE_TIMEOUT_S
    rto: tuple[Objective, ...] = ()
    rpo: tuple[Objective, ...] = ()
    max_backup_age_s: float = DEFAULT_MAX_BACKUP_AGE_S
    canaries: tuple[Canary, ...] = ()
    manifest_key_env: str | None = None

    def root(self, override: str | Path | None = None) -> Path:
        """The folder the file globs are relative to: `override` (--data-dir), else files_root
        relative to the profile's folder."""
        if override is not None:
            return Path(override)
        root = Path(self.files_root)
        return root if root.is_absolute() else self.profile_dir / root


def _duration(value: Any) -> float:
    # Late binding, as config/profile.py does for the families: the one duration parser lives in
    # measure, which sits above config.
    bands = importlib.import_module("opscheck.measure.bands")
    return float(bands.parse_duration(value))


def load_restore(section: Any, builder: Any) -> RestoreSpec:
    """`restore:` (validated by the profile schema) -> RestoreSpec. Problems (a duration that does
    not parse, an RPO naming an unknown table, a repeated canary name) go to `builder.problem`."""
    base = ("restore",)

    def duration(path: tuple[Any, ...], value: Any, default: float, allow_zero: bool = False) -> float:
        if value is None:
            return default
        try:
            seconds = _duration(value)
        except ValueError as exc:
            builder.problem(base + path, str(exc))
            return default
        if seconds <= 0 and not allow_zero:
            builder.problem(base + path, "must be more than 0 s")
        return seconds

    database = None
    if "database" in section:
        raw = section["database"]
        tables = []
        for index, entry in enumerate(raw["tables"]):
            checksum = None
            if "checksum" in entry:
                c = entry["checksum"]
                checksum = ChecksumSpec(key=c["key"], columns=tuple(c["columns"]) if "columns" in c else None,
                                        first=c.get("first"), last=c.get("last"))
            tables.append(TableSpec(table=entry["table"], schema=entry.get("schema"), updated_at=entry.get("updated_at"),
                                    checksum=checksum, field=f"restore.database.tables[{index}]"))
        seen: set[str] = set()
        for index, table in enumerate(tables):
            if table.qualified in seen:
                builder.problem(base + ("database", "tables", index, "table"), f"table {table.qualified!r} is listed twice")
            seen.add(table.qualified)
        database = DatabaseSpec(url_env=raw["url_env"], tables=tuple(tables),
                                timeout_s=duration(("database", "timeout"), raw.get("timeout"), DEFAULT_DB_TIMEOUT_S))

    def objectives(kind: str) -> tuple[Objective, ...]:
        out = []
        for component, value in (section.get(kind) or {}).items():
            where = (kind, component)
            entry = value if isinstance(value, dict) else {"target": value}
            # An RPO of 0 is a real target ("Frontend: 0 min"): zero is allowed here.
            target = duration(where + ("target",) if isinstance(value, dict) else where, entry["target"], 0.0, allow_zero=True)
            tables = tuple(entry.get("tables", ()))
            if kind == "rpo":
                known = ({t.qualified for t in database.tables} | {t.table for t in database.tables}) if database else set()
                if database is None:
                    builder.problem(base + where, "an RPO is read from the database's newest record: add restore.database")
                elif not any(t.updated_at for t in database.tables if not tables or t.qualified in tables or t.table in tables):
                    builder.problem(base + where, "no listed table names its timestamp column (updated_at: COLUMN), "
                                                  "so the newest restored record cannot be found")
                for name in tables:
                    if name not in known:
                        builder.problem(base + where + ("tables",), f"table {name!r} is not in restore.database.tables")
            out.append(Objective(component=component, target_s=target, until=entry.get("until", "ready"),
                                 tables=tables, field=f"restore.{kind}.{component}"))
        return tuple(out)

    rto, rpo = objectives("rto"), objectives("rpo")
    for objective in rto:
        if objective.until == "database" and database is None:
            builder.problem(base + ("rto", objective.component, "until"), "`until: database` needs restore.database")
        if objective.until == "files" and not section.get("files"):
            builder.problem(base + ("rto", objective.component, "until"), "`until: files` needs restore.files")

    command: tuple[str, ...] | None = None
    shell = False
    if "command" in section:
        raw_command = section["command"]
        if isinstance(raw_command, str):
            command, shell = ("/bin/sh", "-c", raw_command), True
        else:
            command = tuple(raw_command)
    default_timeout = max((o.target_s for o in rto), default=DEFAULT_RESTORE_TIMEOUT_S) or DEFAULT_RESTORE_TIMEOUT_S

    canaries = []
    names: set[str] = set()
    for index, entry in enumerate(section.get("canaries", ())):
        if entry["name"] in names:
            builder.problem(base + ("canaries", index, "name"), f"duplicate canary name {entry['name']!r}")
        names.add(entry["name"])
        canaries.append(Canary(name=entry["name"], path=entry["path"], expect=dict(entry.get("expect", {})),
                               field=f"restore.canaries[{index}]"))

    return RestoreSpec(
        profile_dir=builder.base,
        files=tuple(section.get("files", ())),
        files_root=section.get("files_root", "."),
        database=database,
        command=command,
        command_is_shell=shell,
        timeout_s=duration(("timeout",), section.get("timeout"), default_timeout),
        ready_timeout_s=duration(("ready_timeout",), section.get("ready_timeout"), DEFAULT_READY_TIMEOUT_S),
        smoke_timeout_s=duration(("smoke_timeout",), section.get("smoke_timeout"), DEFAULT_SMOKE_TIMEOUT_S),
        rto=rto,
        rpo=rpo,
        max_backup_age_s=duration(("max_backup_age",), section.get("max_backup_age"), DEFAULT_MAX_BACKUP_AGE_S),
        canaries=tuple(canaries),
        manifest_key_env=section.get("manifest_key_env"),
    )
