"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, `initdb` into a
temporary directory, `pg_ctl` on a free loopback port, trust authentication on 127.0.0.1 only.

Use the `pg_cluster` fixture (session scope, in tests/conftest.py): it yields a `PgCluster` or skips
the test when PostgreSQL is not installed here, unless OPSCHECK_REQUIRE_SERVERS=1 (set by .ci/run),
in which case a missing PostgreSQL fails the test. `cluster.create_database()` gives each test its
own database. initdb refuses to run as root, so as root the cluster runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60


def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb, or the directory of `initdb` on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PgCluster:
    bindir: Path
    datadir: Path
    port: int
    user: str

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        """A SQLAlchemy URL for *database* (driver `postgresql+psycopg`; pass driver="postgresql" for libpq tools)."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def libpq_url(self, database: str = "postgres") -> str:
        """A libpq URI for pg_dump, pg_restore and psql."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def tool(self, name: str) -> str:
        """The path of a client tool of this cluster's version (pg_dump, pg_restore, psql, createdb)."""
        return str(self.bindir / name)

    def create_database(self, name: str | None = None) -> str:
        """Creates a fresh database and returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        subprocess.run([self.tool("createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user, name],
                       check=True, capture_output=True, timeout=30)
        return name

    def stop(self) -> None:
        subprocess.run(_as_owner([self.tool("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "-t", "30", "stop"]),
                       capture_output=True, timeout=60)


def start_cluster() -> PgCluster:
    """initdb + pg_ctl start on a free port. Raises RuntimeError with the server's log on failure."""
    bindir = pg_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (no initdb): apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="opscheck-pg-"))
    datadir = root / "data"
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
    init = subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(datadir), "-U", user, "-A", "trust", "-E", "UTF8",
                                     "--no-sync", "--locale=C"]), capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr[-2000:]}")
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off -c max_connections=100"
    start = subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(root / "server.log"),
                                      "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"]),
                           capture_output=True, text=True, timeout=START_TIMEOUT_S + 30)
    if start.returncode != 0:
        log = (root / "server.log").read_text(errors="replace")[-2000:] if (root / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {start.stderr[-1000:]}\n{log}")
    return PgCluster(bindir, datadir, port, user)
