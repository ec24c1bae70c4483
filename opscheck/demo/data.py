"""The demo service's data, for the restore drill (issue 13): a folder of CSV files (`--data-dir`)
and a database (`DATABASE_URL`, a SQLAlchemy URL, read from the environment so a password never
shows in `ps`). Both are optional; without them the service keeps its built-in items.

With them, `/health/ready` reports `database` and `data` up or down (down while a restore has not
put them back), and `/api/items/{id}` reads the `items` table. Routes here are registered before
the built-in ones, so they answer first; they stay out of the OpenAPI document, whose shapes they
keep.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DATABASE_URL_ENV = "DATABASE_URL"


class DataStore:
    """The service's view of its data folder and database; every call opens and closes its own
    connection, so a database restored underneath the service is seen at once."""

    def __init__(self, data_dir: str | None, database_url: str | None) -> None:
        self.data_dir = Path(data_dir) if data_dir else None
        self.database_url = database_url or None
        self._engine: Any = None

    def engine(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            args = {"timeout": 2} if self.database_url.startswith("sqlite") else {"connect_timeout": 2}
            self._engine = create_engine(self.database_url, poolclass=NullPool, connect_args=args)
        return self._engine

    def checks(self) -> dict[str, str]:
        """Dependency -> "up" or "down", for /health/ready."""
        out: dict[str, str] = {}
        if self.database_url:
            out["database"] = "up" if self._items_readable() else "down"
        if self.data_dir is not None:
            out["data"] = "up" if self.data_dir.is_dir() and any(self.data_dir.iterdir()) else "down"
        return out

    def _items_readable(self) -> bool:
        if self.database_url.startswith("sqlite:///") and not Path(self.database_url[len("sqlite:///"):]).exists():
            return False  # connecting would create an empty file where the restore must put the database
        try:
            from sqlalchemy import text

            with self.engine().connect() as conn:
                conn.execute(text("SELECT count(*) FROM items")).scalar()
            return True
        except Exception:  # noqa: BLE001 - any failure means the dependency is down
            return False

    def item(self, item_id: int) -> dict[str, Any] | None:
        """The item row, or None when there is none; raises when the database cannot be read."""
        from sqlalchemy import text

        with self.engine().connect() as conn:
            row = conn.execute(text("SELECT id, name, quantity FROM items WHERE id = :id"), {"id": item_id}).first()
        return None if row is None else {"id": int(row[0]), "name": str(row[1]), "quantity": int(row[2])}


def add_data_routes(app: Any, faults: frozenset[str], api_keys: Sequence[str], store: DataStore) -> None:
    """/health/ready and /api/items/{item_id} answered from `store` (fault not_ready still applies)."""
    from fastapi import Depends
    from fastapi.responses import JSONResponse

    from opscheck.demo.routes import api_key_checker

    @app.get("/health/ready", include_in_schema=False)
    async def ready_from_data() -> Any:
        checks = {**store.checks(), "cache": "up"}
        if "not_ready" in faults:
            checks["database"] = "down"
        ok = all(v == "up" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)

    @app.get("/api/items/{item_id}", include_in_schema=False, dependencies=[Depends(api_key_checker(list(api_keys)))])
    async def item_from_data(item_id: int) -> Any:
        try:
            item = store.item(item_id)
        except Exception:  # noqa: BLE001 - the database is gone: say so, as a real service would
            return JSONResponse({"error": "DATABASE_UNAVAILABLE"}, status_code=503)
        if item is None:
            return JSONResponse({"error": "NOT_FOUND"}, status_code=404)
        return JSONResponse(item)


def seed(data_dir: Path, database_url: str, rows: int = 1000, now: datetime | None = None) -> None:
    """Demo data: three CSV files under `data_dir` and an `items` table of `rows` rows whose
    `updated_at` runs up to `now` (one row a minute)."""
    from sqlalchemy import create_engine, text

    now = now or datetime.now(timezone.utc)
    (data_dir / "exports").mkdir(parents=True, exist_ok=True)
    with open(data_dir / "items.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "quantity"])
        writer.writerows([i, f"item-{i}", (i * 37) % 101] for i in range(1, rows + 1))
    with open(data_dir / "exports" / "notes.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "note"])
        writer.writerows([i, f"line one\nline two, of item {i}"] for i in range(1, 51))  # quoted line breaks
    (data_dir / "exports" / "summary.csv").write_text("metric,value\nrows,%d\n" % rows, encoding="utf-8")
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS items"))
            conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, "
                              "quantity INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL)"))
            conn.execute(text("INSERT INTO items (id, name, quantity, updated_at) VALUES (:id, :name, :q, :t)"),
                         [{"id": i, "name": f"item-{i}", "q": (i * 37) % 101,
                           "t": (now - timedelta(minutes=rows - i)).replace(tzinfo=None)} for i in range(1, rows + 1)])
    finally:
        engine.dispose()


def database_url_from_env() -> str | None:
    return os.environ.get(DATABASE_URL_ENV) or None
