"""The restore drill end to end through the CLI: `opscheck snapshot`, then `opscheck drill` against
the reference service serving restored data. SQLite for the fast path; a real PostgreSQL (the
`pg_cluster` fixture) where `pg_dump -Fc` makes the backup and `pg_restore` into a fresh database
is the restore command.

Each lab is a folder: `live/` is what the service serves (data/ and, for SQLite, inventory.db),
`backup/` what the restore command copies back. Tests never assert a measured duration, except
the bound on a restore that hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from opscheck.cli import main
from opscheck.demo.data import seed
from opscheck.demo.launcher import DemoService

API_KEY = "drill-k3y-of-the-suite-19ae"
PASSWORD = "s3cret-pw-of-the-drill"

RUNBOOK = "# Runbook\n\n## API Not Responding\nx\n\n## Database Connection Issues\ny\n"

PROFILE = """\
service: inventory-api
runbook: RUNBOOK.md
http: {{timeout_s: 2, deadline_s: 5}}
auth: {{header: X-API-Key, keys_env: DRILL_TEST_KEYS}}
environments:
  staging: {{base_url: "{base_url}", drill: true}}
  prod: {{base_url: "{base_url}"}}
smoke:
  - {{name: health, path: /health, expect: {{status: 200, json: {{status: ok}}}}, runbook: "#api-not-responding"}}
readiness: {{live: /health/live, ready: /health/ready, runbook: "#database-connection-issues"}}
restore:
  files: ["**/*.csv"]
  files_root: live/data
  database:
    url_env: DRILL_TEST_DB
    tables: [{{table: items, updated_at: updated_at, checksum: {{key: id}}}}]
  command: {command}
  timeout: {timeout}
  ready_timeout: 20s
  rto: {{api: 15m, database: {{target: {db_rto}, until: {db_until}}}}}
  rpo: {{database: {rpo}}}
  canaries:
    - {{name: item-1, path: /api/items/1, expect: {{json: {{id: 1, name: item-1}}}}}}
{extra}"""

COPY_FILES = "rm -rf live/data && cp -a backup/data live/data"


@dataclass
class Lab:
    root: Path
    service: DemoService
    db_url: str  # what the service reads and the drill verifies (the restored database)

    rpo: str = "5m"
    db_rto: str = "30m"
    db_until: str = "database"

    def profile(self, command: str, timeout: str = "60s", extra: str = "") -> Path:
        path = self.root / "opscheck.yaml"
        path.write_text(PROFILE.format(base_url=self.service.base_url, command=json.dumps(command), timeout=timeout,
                                       extra=extra, rpo=self.rpo, db_rto=self.db_rto, db_until=self.db_until))
        (self.root / "RUNBOOK.md").write_text(RUNBOOK)
        return path

    def run(self, *args: str, env: dict[str, str] | None = None, capsys: Any = None) -> tuple[int, str]:
        saved = dict(os.environ)
        os.environ.update({"DRILL_TEST_KEYS": API_KEY, "DRILL_TEST_DB": self.db_url, **(env or {})})
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            code = main(list(args))
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(saved)
        out = capsys.readouterr() if capsys is not None else None
        return code, (out.out + out.err) if out else ""

    def results(self) -> dict[str, Any]:
        return json.loads((self.root / "reports" / "results.json").read_text())

    def drill(self) -> dict[str, Any]:
        return self.results()["drill"]

    def step(self, name: str) -> dict[str, Any]:
        return next(s for s in self.drill()["steps"] if s["name"] == name)


def _seed_files(data: Path) -> None:
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    seed(data, "sqlite:///" + str(data.parent / "scratch.db"), rows=50)  # the CSV files; scratch.db is thrown away
    (data.parent / "scratch.db").unlink()


# --- SQLite: the fast path ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("drill-sqlite")
    live = root / "live"
    live.mkdir()
    url = f"sqlite:///{live / 'inventory.db'}"
    with DemoService(api_keys=[API_KEY], data_dir=str(live / "data"), database_url=url) as service:
        yield Lab(root, service, url)


def _fresh_sqlite(lab: Lab, capsys: Any, *snapshot_args: str, timeout: str = "60s", command: str | None = None,
                  extra: str = "") -> None:
    """Live data seeded, snapshot taken, backup copied, live data gone (the disaster)."""
    live = lab.root / "live"
    shutil.rmtree(live, ignore_errors=True)
    shutil.rmtree(lab.root / "backup", ignore_errors=True)
    shutil.rmtree(lab.root / "reports", ignore_errors=True)
    live.mkdir()
    seed(live / "data", lab.db_url, rows=200)
    lab.profile(command or "rm -rf live && cp -a backup live", timeout=timeout, extra=extra)
    code, out = lab.run("snapshot", "-o", "manifest.json", *snapshot_args, capsys=capsys)
    assert code == 0, out
    shutil.copytree(live, lab.root / "backup")
    shutil.rmtree(live)


def test_a_clean_drill_on_sqlite_passes_and_files_its_record_everywhere(sqlite_lab: Lab, capsys: Any) -> None:
    _fresh_sqlite(sqlite_lab, capsys)
    history = sqlite_lab.root / "history.db"
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", "--history", str(history),
                               capsys=capsys)
    assert code == 0, out
    drill = sqlite_lab.drill()
    assert drill["outcome"] == "passed" and drill["findings"] == []
    assert [s["name"] for s in drill["steps"]] == ["backup-age", "restore", "ready", "files", "database", "rto", "rpo",
                                                   "canaries", "smoke"]
    assert {r["component"]: r["status"] for r in drill["rto"]} == {"api": "passed", "database": "passed"}
    assert drill["rpo"][0]["status"] == "passed" and drill["rpo"][0]["achieved_s"] is not None
    assert drill["files"]["counts"]["ok"] == 3 and drill["tables"][0]["rows"] == 200
    assert drill["smoke"]["status"] == "passed" and sqlite_lab.results()["run"]["exit_code"] == 0
    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "opscheck" / "results.schema.json").read_text())
    jsonschema.validate(sqlite_lab.results(), schema)  # the drill object in the published schema
    reports = sqlite_lab.root / "reports"
    assert "# Restore drill: inventory-api (staging): PASSED" in (reports / "drill.md").read_text()
    page = (reports / "report.html").read_text()
    assert page.index('<section id="opscheck-drill"') < page.index('id="environment"')  # at the top
    assert page.index('id="opscheck-sections"') < page.index('<section id="opscheck-drill"')  # in the report's anchor
    assert "<svg" in page[page.index('id="opscheck-drill"'):]
    from opscheck.history.store import open_store

    store = open_store(str(history), create=False)
    try:  # drills trend like any other check: each step is a check of family drill
        runs = store.check_runs("inventory-api", "staging", "drill::rto")
        assert [r.outcome for r in runs] == ["passed"]
        assert store.check_runs("inventory-api", "staging", "smoke::health")[0].outcome == "passed"
    finally:
        store.close()
    assert "history: stored as run" in out


def test_a_smoke_run_past_its_bound_is_killed_and_the_drill_still_files_its_record(sqlite_lab: Lab, capsys: Any) -> None:
    _fresh_sqlite(sqlite_lab, capsys, extra="  smoke_timeout: 0.2s\n")
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 1, out
    drill = sqlite_lab.drill()
    assert drill["smoke"]["status"] == "failed" and "killed after 0.2 s (smoke_timeout)" in drill["smoke"]["message"]
    assert drill["outcome"] == "failed" and sqlite_lab.results()["run"]["exit_code"] == 1
    reports = sqlite_lab.root / "reports"
    assert not (reports / "report.html").exists() and 'id="opscheck-drill"' in (reports / "drill.html").read_text()


def test_a_restore_that_hangs_is_killed_with_its_grandchild_and_fails_the_drill(sqlite_lab: Lab, capsys: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import opscheck.drill.run

    monkeypatch.setattr(opscheck.drill.run, "PROGRESS_EVERY_S", 0.3)
    hang = "sleep 300 & echo $! > grandchild.pid; echo restoring; wait"
    _fresh_sqlite(sqlite_lab, capsys, timeout="1s", command=hang)
    started = time.monotonic()
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert time.monotonic() - started < 60  # the 1 s restore bound held (the smoke run is bounded too)
    assert code == 1, out
    assert "of RTO 15 min 00 s; last: restoring" in out  # progress: elapsed against the tightest RTO, last line
    restore = sqlite_lab.drill()["restore"]
    assert restore["timed_out"] is True and restore["exit_code"] is None and "restoring" in restore["output_tail"]
    assert "timed out" in sqlite_lab.step("restore")["message"]
    grandchild = int((sqlite_lab.root / "grandchild.pid").read_text())
    assert grandchild in restore["killed_pids"]
    deadline = time.monotonic() + 5
    while psutil.pid_exists(grandchild) and psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the restore's grandchild outlived the drill"
        time.sleep(0.05)
    assert sqlite_lab.drill()["outcome"] == "failed"


def test_a_restore_slower_than_its_rto_target_fails_the_rto_step(sqlite_lab: Lab, capsys: Any) -> None:
    sqlite_lab.db_rto, sqlite_lab.db_until = "0.5s", "restored"
    try:
        _fresh_sqlite(sqlite_lab, capsys, command="sleep 1 && rm -rf live && cp -a backup live")
        code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    finally:
        sqlite_lab.db_rto, sqlite_lab.db_until = "30m", "database"
    assert code == 1, out
    rto = {r["component"]: r for r in sqlite_lab.drill()["rto"]}
    assert rto["api"]["status"] == "passed"
    assert rto["database"]["status"] == "failed" and rto["database"]["achieved_s"] >= 1.0
    assert sqlite_lab.step("rto")["message"].startswith("database: RTO") and "over its target 0.5 s" in sqlite_lab.step("rto")["message"]
    assert "api:" not in sqlite_lab.step("rto")["message"]  # the finding names only what failed


def test_a_tampered_or_truncated_manifest_is_refused_with_exit_4_before_anything_runs(sqlite_lab: Lab, capsys: Any) -> None:
    _fresh_sqlite(sqlite_lab, capsys)
    manifest = sqlite_lab.root / "manifest.json"
    document = json.loads(manifest.read_text())
    document["database"]["tables"][0]["rows"] = 150  # someone "fixes" the expected count
    manifest.write_text(json.dumps(document))
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 4 and "checksum mismatch" in out and "manifest refused" in out
    manifest.write_text(json.dumps(document)[:-200])
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 4 and "truncated" in out
    assert not (sqlite_lab.root / "live").exists()  # the restore never ran


def test_a_drill_against_an_environment_without_the_drill_mark_is_refused_with_exit_4(sqlite_lab: Lab, capsys: Any) -> None:
    _fresh_sqlite(sqlite_lab, capsys)
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "prod", capsys=capsys)
    assert code == 4
    assert "refusing to restore over environment 'prod'" in out and "drill: true" in out
    assert not (sqlite_lab.root / "live").exists() and not (sqlite_lab.root / "reports" / "results.json").exists()


def test_a_manifest_older_than_max_backup_age_fails_the_drill(sqlite_lab: Lab, capsys: Any) -> None:
    old = (datetime.now(timezone.utc) - timedelta(days=9)).isoformat()
    _fresh_sqlite(sqlite_lab, capsys, "--backup-time", old)
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 1, out
    assert sqlite_lab.step("backup-age")["status"] == "failed"
    assert "older than max_backup_age 8.0 d" in sqlite_lab.step("backup-age")["message"]
    assert any(f.startswith("backup-age:") for f in sqlite_lab.drill()["findings"])
    assert sqlite_lab.results()["run"]["exit_code"] == 1  # the smoke checks passed; the drill did not
    page = (sqlite_lab.root / "reports" / "report.html").read_text()
    assert 'data-verdict="PASS"' not in page and "Restore drill: <span" in page  # never PASS above a failed drill


def test_a_failed_drill_posts_fail_to_the_job_summary_and_annotates_its_findings(sqlite_lab: Lab, capsys: Any) -> None:
    # The smoke checks pass here; the backup is too old. The CI job summary is the drill's verdict,
    # never the smoke run's PASS.
    old = (datetime.now(timezone.utc) - timedelta(days=9)).isoformat()
    _fresh_sqlite(sqlite_lab, capsys, "--backup-time", old)
    step_summary = sqlite_lab.root / "step-summary.md"
    step_summary.write_text("")
    code, out = sqlite_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys,
                               env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step_summary)})
    assert code == 1, out
    posted = step_summary.read_text()
    assert posted.startswith("## ❌ opscheck drill: FAIL") and "backup-age:" in posted, posted
    assert "✅" not in posted.split("### The smoke run")[0]
    assert posted.count("opscheck drill: ") == 1  # once: the smoke run posts nothing of its own
    assert (sqlite_lab.root / "reports" / "summary.md").read_text().startswith("## ❌ opscheck drill: FAIL")
    assert "::error title=opscheck drill finding::backup-age:" in out


# --- PostgreSQL: pg_dump -Fc is the backup, pg_restore into a fresh database the restore ------


@pytest.fixture(scope="module")
def pg_lab(pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A source database with 300 items, the newest written 20 minutes ago (the profile's RPO target
    is 1 h), dumped with pg_dump -Fc; the service reads `restored`."""
    from sqlalchemy import create_engine, text

    root = tmp_path_factory.mktemp("drill-pg")
    source = pg_cluster.create_database()
    seed(root / "scratch", pg_cluster.url(source), rows=300, now=datetime.now(timezone.utc) - timedelta(minutes=20))
    shutil.rmtree(root / "scratch")
    restored = pg_cluster.create_database()
    engine = create_engine(pg_cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # the restored database is reached with a password: it must never show
        conn.execute(text(f"ALTER ROLE \"{pg_cluster.user}\" PASSWORD '{PASSWORD}'"))
    engine.dispose()
    url = pg_cluster.url(restored).replace(f"{pg_cluster.user}@", f"{pg_cluster.user}:{PASSWORD}@")
    (root / "live").mkdir()
    with ExitStack() as stack:
        service = stack.enter_context(DemoService(api_keys=[API_KEY], data_dir=str(root / "live" / "data"), database_url=url))
        lab = Lab(root, service, url, rpo="1h")
        lab.source_url = pg_cluster.url(source)  # type: ignore[attr-defined]
        lab.cluster = pg_cluster  # type: ignore[attr-defined]
        lab.restored = restored  # type: ignore[attr-defined]
        yield lab


def _pg_restore_command(lab: Lab, after: str = "") -> str:
    c = lab.cluster  # type: ignore[attr-defined]
    conn = f"-h {c.host} -p {c.port} -U {c.user}"
    db = lab.restored  # type: ignore[attr-defined]
    command = (f"{COPY_FILES} && {c.tool('dropdb')} {conn} --force --if-exists {db} && {c.tool('createdb')} {conn} {db} && "
               f"{c.tool('pg_restore')} {conn} --no-owner -d {db} backup.dump")
    return command + (f" && {after}" if after else "")


def _pg_backup(lab: Lab, capsys: Any, *snapshot_args: str) -> None:
    """Files and database snapshotted from the source, the backup made (files copied, pg_dump -Fc),
    the live files gone."""
    import subprocess

    c = lab.cluster  # type: ignore[attr-defined]
    shutil.rmtree(lab.root / "reports", ignore_errors=True)
    _seed_files(lab.root / "live" / "data")
    lab.profile(_pg_restore_command(lab))
    code, out = lab.run("snapshot", "-o", "manifest.json", *snapshot_args,
                        env={"DRILL_TEST_DB": lab.source_url}, capsys=capsys)  # type: ignore[attr-defined]
    assert code == 0, out
    shutil.rmtree(lab.root / "backup", ignore_errors=True)
    shutil.copytree(lab.root / "live", lab.root / "backup")
    subprocess.run([c.tool("pg_dump"), "-Fc", "-f", str(lab.root / "backup.dump"), c.libpq_url(lab.source_url.rsplit("/", 1)[1])],  # type: ignore[attr-defined]
                   check=True, capture_output=True, timeout=60)
    shutil.rmtree(lab.root / "live" / "data")


def test_a_clean_drill_on_postgresql_passes(pg_lab: Lab, capsys: Any) -> None:
    _pg_backup(pg_lab, capsys)
    pg_lab.profile(_pg_restore_command(pg_lab, after='echo "restored into $DRILL_TEST_DB"'))
    code, out = pg_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 0, out
    drill = pg_lab.drill()
    assert drill["outcome"] == "passed", drill["findings"]
    assert drill["tables"] == [{**drill["tables"][0], "table": "items", "rows": 300, "expected_rows": 300, "status": "passed"}]
    assert drill["tables"][0]["checksum"]["status"] == "passed"
    assert drill["canaries"][0]["status"] == "passed"
    text = out + json.dumps(pg_lab.results()) + (pg_lab.root / "reports" / "drill.md").read_text()
    text += (pg_lab.root / "reports" / "report.html").read_text()
    assert PASSWORD not in text  # the database URL is a secret, in every channel
    assert drill["restore"]["output_tail"][-1] == "restored into [REDACTED]"


def test_rows_deleted_after_the_snapshot_fail_the_database_step(pg_lab: Lab, capsys: Any) -> None:
    _pg_backup(pg_lab, capsys)
    c = pg_lab.cluster  # type: ignore[attr-defined]
    delete = f"{c.tool('psql')} -h {c.host} -p {c.port} -U {c.user} -d {pg_lab.restored} -qc 'DELETE FROM items WHERE id > 290'"  # type: ignore[attr-defined]
    pg_lab.profile(_pg_restore_command(pg_lab, after=delete))
    code, out = pg_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 1, out
    table = pg_lab.drill()["tables"][0]
    assert table["status"] == "failed" and table["rows"] == 290 and table["expected_rows"] == 300
    assert "290 rows, the manifest has 300 (-10): rows are missing" in table["message"]
    assert table["checksum"]["status"] == "failed"
    assert pg_lab.step("database")["status"] == "failed" and pg_lab.step("files")["status"] == "passed"


def test_a_csv_with_one_byte_changed_fails_with_a_checksum_mismatch(pg_lab: Lab, capsys: Any) -> None:
    _pg_backup(pg_lab, capsys)
    target = pg_lab.root / "backup" / "data" / "items.csv"
    data = bytearray(target.read_bytes())
    data[40] = ord("7") if data[40] != ord("7") else ord("8")
    target.write_bytes(bytes(data))
    code, out = pg_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 1, out
    entry = next(f for f in pg_lab.drill()["files"]["entries"] if f["path"] == "items.csv")
    assert entry["status"] == "checksum_mismatch"
    assert entry["observed"]["size"] == entry["expected"]["size"] and entry["observed"]["rows"] == entry["expected"]["rows"]
    assert pg_lab.drill()["files"]["counts"]["ok"] == 2 and pg_lab.step("database")["status"] == "passed"


def test_a_file_missing_from_the_restore_fails_and_an_extra_file_is_listed(pg_lab: Lab, capsys: Any) -> None:
    _pg_backup(pg_lab, capsys)
    (pg_lab.root / "backup" / "data" / "exports" / "notes.csv").unlink()
    (pg_lab.root / "backup" / "data" / "new.csv").write_text("a\n1\n")
    code, out = pg_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    assert code == 1, out
    files = pg_lab.drill()["files"]
    assert {f["path"]: f["status"] for f in files["entries"]}["exports/notes.csv"] == "missing"
    assert files["extra"] == ["new.csv"]
    assert "1 missing" in pg_lab.step("files")["message"]


def test_a_restore_that_lags_gives_an_rpo_over_its_target(pg_lab: Lab, capsys: Any) -> None:
    # The newest restored record is 20 minutes older than the backup time: against a 5 minute RPO.
    pg_lab.rpo = "5m"
    try:
        _pg_backup(pg_lab, capsys)
        code, out = pg_lab.run("drill", "--manifest", "manifest.json", "--env", "staging", capsys=capsys)
    finally:
        pg_lab.rpo = "1h"
    assert code == 1, out
    rpo = pg_lab.drill()["rpo"][0]
    assert rpo["status"] == "failed" and rpo["achieved_s"] > 20 * 60 and rpo["target_s"] == 300
    assert "over its target 5 min 00 s" in rpo["message"] and rpo["newest_table"] == "items"
    assert [s["name"] for s in pg_lab.drill()["steps"] if s["status"] != "passed"] == ["rpo"]  # the only finding


def test_the_reference_service_reports_its_restored_data_down_until_the_restore(sqlite_lab: Lab) -> None:
    import urllib.error
    import urllib.request

    shutil.rmtree(sqlite_lab.root / "live", ignore_errors=True)
    with pytest.raises(urllib.error.HTTPError) as down:
        urllib.request.urlopen(sqlite_lab.service.base_url + "/health/ready", timeout=5)
    assert json.loads(down.value.read())["checks"] == {"database": "down", "data": "down", "cache": "up"}
    (sqlite_lab.root / "live").mkdir()
    seed(sqlite_lab.root / "live" / "data", sqlite_lab.db_url, rows=3)
    with urllib.request.urlopen(sqlite_lab.service.base_url + "/health/ready", timeout=5) as answer:
        assert json.loads(answer.read())["status"] == "ready"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_opscheck_demo_drill_restores_the_reference_service_data_and_passes(tmp_path: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("OPSCHECK_API_KEYS", "PYTEST_BASE_URL", "OPSCHECK_PROFILE")}
    done = subprocess.run([sys.executable, "-m", "opscheck", "demo", "--drill", "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the service's data is gone" in done.stdout and "verdict: PASS" in done.stdout
    drill = json.loads((tmp_path / "reports" / "results.json").read_text())["drill"]
    assert drill["outcome"] == "passed" and [c["status"] for c in drill["canaries"]] == ["passed", "passed"]
    assert drill["tables"][0]["rows"] == 1000 and drill["files"]["counts"]["ok"] == 3


def test_snapshot_and_drill_refuse_bad_input_in_one_line_with_exit_4_and_an_unreachable_database_with_exit_1(
        tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "live" / "data").mkdir(parents=True)
    (tmp_path / "live" / "data" / "a.csv").write_text("h\n1\n")
    url = "postgresql+psycopg://app:unreachable-pw-77@127.0.0.1:9/db"
    lab = Lab(tmp_path, type("S", (), {"base_url": "http://127.0.0.1:9"})(), url)  # type: ignore[arg-type]
    lab.profile("true")
    cases = [
        (("snapshot", "--env", "nowhere"), 4, "unknown environment 'nowhere'"),
        (("snapshot", "--backup-time", "yesterday"), 4, "--backup-time: 'yesterday' is not an ISO 8601 time"),
        (("snapshot",), 1, "snapshot: FAILED: database: cannot connect"),
        (("drill", "--manifest", "missing.json", "--env", "staging"), 4, "manifest refused: missing.json: file not found"),
        (("drill", "--manifest", "missing.json"), 4, "manifest refused"),  # the one environment marked drill: true
    ]
    for args, want_code, want_text in cases:
        code, out = lab.run(*args, capsys=capsys)
        assert (code, want_text in out) == (want_code, True), (args, out)
        assert "unreachable-pw-77" not in out and "Traceback" not in out
    (tmp_path / "opscheck.yaml").write_text("service: s\n")
    code, out = lab.run("snapshot", capsys=capsys)
    assert code == 4 and "the profile has no restore section" in out
