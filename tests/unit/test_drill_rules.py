"""The restore drill's pure rules: CSV record counting, the manifest's seal, the `restore:` section,
row encoding, and the record's renderings. No sockets, no subprocesses."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from opscheck.config.profile import ProfileError, load_profile
from opscheck.drill.database import _encode, clean, newest_timestamp
from opscheck.drill.files import _RecordCounter, find_files, scan_file, verify_file
from opscheck.drill.manifest import ManifestError, load_manifest, seal
from opscheck.drill.record import AnchorMissing, html_section, insert_section, markdown
from opscheck.drill.run import finish, fmt_s, smoke_from_records
from opscheck.drill.session import step_records


def _count(data: bytes, chunk: int) -> int:
    counter = _RecordCounter()
    for i in range(0, len(data), chunk):
        counter.feed(data[i:i + chunk])
    return counter.total(len(data))


CSV_CASES = [
    b"",
    b"a,b\n",
    b"a,b\n1,2\n3,4\n",
    b"a,b\n1,2\n3,4",  # no final line break
    b"a,b\r\n1,2\r\n",
    b'a,b\n1,"two\nlines"\n3,"say ""hi""\nthere"\n',
    b'a\n"x\n\n\ny"\n"""",""\n',
    b'a\n"x""\n""y"\n"""\n"""\nz',
]


@pytest.mark.parametrize("data", CSV_CASES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_csv_records_are_counted_as_the_csv_module_reads_them_whatever_the_chunk_size(data: bytes, chunk: int) -> None:
    expected = len(list(csv.reader(io.StringIO(data.decode(), newline=""))))
    assert _count(data, chunk) == expected


def test_csv_records_of_random_files_written_by_the_csv_module_are_counted_exactly() -> None:
    import random

    rng = random.Random(13)
    alphabet = ['a', ',', '"', '\n', '\r\n', ' ', 'x"y', '""']
    for _ in range(200):
        rows = [[''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 3))]
                for _ in range(rng.randint(0, 12))]
        out = io.StringIO(newline="")
        csv.writer(out).writerows(rows)
        data = out.getvalue().encode()
        expected = len(list(csv.reader(io.StringIO(data.decode(), newline=""))))
        assert _count(data, rng.randint(1, 9)) == expected, data


def test_a_file_scan_gives_size_sha256_rows_and_header_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.csv").write_bytes(b'id,"na,me"\n1,a\n2,"b\nc"\n')
    facts = scan_file(tmp_path, "d/t.csv", chunk_bytes=4)
    assert (facts.size, facts.rows, facts.header) == (23, 2, ["id", "na,me"])
    import hashlib

    assert facts.sha256 == hashlib.sha256((tmp_path / "d" / "t.csv").read_bytes()).hexdigest()
    assert scan_file(tmp_path, "d/t.csv").to_dict()["csv"] == {"rows": 2, "header": ["id", "na,me"]}


def test_file_verification_names_each_kind_of_difference(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("h\n1\n2\n")
    entry = scan_file(tmp_path, "a.csv").to_dict()
    assert verify_file(tmp_path, entry).status == "ok"
    (tmp_path / "a.csv").write_text("h\n1\n3\n")
    assert verify_file(tmp_path, entry).status == "checksum_mismatch"
    (tmp_path / "a.csv").write_text("h\n1\n22\n")
    assert verify_file(tmp_path, entry).status == "size_mismatch"
    (tmp_path / "a.csv").write_text("h\n1\n")
    check = verify_file(tmp_path, entry)
    assert check.status == "row_count_mismatch" and "1 rows, manifest has 2 (-1)" in check.message
    (tmp_path / "a.csv").unlink()
    assert verify_file(tmp_path, entry).status == "missing"
    (tmp_path / "a.csv").mkdir()
    assert verify_file(tmp_path, entry).status == "unreadable"


def test_globs_find_regular_files_and_report_patterns_that_match_nothing(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "b.csv").write_text("h\n")
    (tmp_path / "a.csv").write_text("h\n")
    (tmp_path / "dir.csv").mkdir()
    assert find_files(tmp_path, ["**/*.csv", "none/*.json"]) == (["a.csv", "x/y/b.csv"], ["none/*.json"])


def _manifest() -> dict[str, Any]:
    return {"manifest_version": 1, "service": "s", "environment": None, "created_at": "2026-11-30T03:00:00+00:00",
            "backup_time": "2026-11-30T03:00:00+00:00", "files": {"root": "d", "patterns": ["*.csv"], "entries": []},
            "database": None}


def test_a_sealed_manifest_loads_and_any_change_to_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(seal(_manifest())))
    assert load_manifest(path)["service"] == "s"
    document = json.loads(path.read_text())
    document["backup_time"] = "2026-11-30T03:05:00+00:00"
    path.write_text(json.dumps(document))
    with pytest.raises(ManifestError, match="checksum mismatch"):
        load_manifest(path)
    path.write_text(json.dumps(seal(_manifest()))[:50])
    with pytest.raises(ManifestError, match="truncated"):
        load_manifest(path)
    path.write_text(json.dumps({**seal(_manifest()), "surprise": 1}))
    with pytest.raises(ManifestError, match="surprise"):
        load_manifest(path)


def test_a_signed_manifest_needs_its_key_and_a_recomputed_sha256_does_not_pass_for_it(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(seal(_manifest(), b"key-1")))
    assert load_manifest(path, b"key-1")["checksum"]["algorithm"] == "hmac-sha256"
    with pytest.raises(ManifestError, match="checksum mismatch"):
        load_manifest(path, b"key-2")
    with pytest.raises(ManifestError, match="signed"):
        load_manifest(path)
    path.write_text(json.dumps(seal(_manifest())))  # a forger's plain sha256
    with pytest.raises(ManifestError, match="not signed"):
        load_manifest(path, b"key-1")


PROFILE = """\
service: s
environments: {{staging: {{base_url: "http://127.0.0.1:9", drill: true}}}}
readiness: {{ready: /ready}}
restore:
{restore}
"""


def _load(tmp_path: Path, restore: str) -> Any:
    path = tmp_path / "opscheck.yaml"
    path.write_text(PROFILE.format(restore=textwrap.indent(textwrap.dedent(restore), "  ")))
    return load_profile(path, environ={})


def test_the_restore_section_reads_into_its_typed_form(tmp_path: Path) -> None:
    spec = _load(tmp_path, """\
        files: ["data/*.csv"]
        database: {url_env: DB, tables: [{table: orders, schema: shop, updated_at: ts, checksum: {key: id, first: 1, last: 9}}]}
        command: pg_restore -d x dump
        rto: {api: 15m, database: {target: 30m, until: restored}}
        rpo: {database: {target: 1m, tables: [orders]}}
        max_backup_age: 2d
        canaries: [{name: c1, path: /api/items/1, expect: {json: {id: 1}}}]
    """).extras["restore"]
    assert spec.command == ("/bin/sh", "-c", "pg_restore -d x dump") and spec.command_is_shell
    assert [(o.component, o.target_s, o.until) for o in spec.rto] == [("api", 900.0, "ready"), ("database", 1800.0, "restored")]
    assert spec.rpo[0].tables == ("orders",) and spec.max_backup_age_s == 172800.0
    assert spec.timeout_s == 1800.0  # the largest RTO target
    assert spec.database.tables[0].qualified == "shop.orders" and spec.database.tables[0].checksum.first == 1
    assert spec.canaries[0].expect == {"json": {"id": 1}}


@pytest.mark.parametrize("restore, field, cause", [
    ("rpo: {db: 1m}\n", "restore.rpo.db", "add restore.database"),
    ("database: {url_env: DB, tables: [{table: t}]}\nrpo: {db: 1m}\n", "restore.rpo.db", "updated_at"),
    ("database: {url_env: DB, tables: [{table: t, updated_at: u}]}\nrpo: {db: {target: 1m, tables: [x]}}\n",
     "restore.rpo.db.tables", "'x' is not in restore.database.tables"),
    ("rto: {api: 10 parsecs}\n", "restore.rto.api", "duration"),
    ("rto: {api: {target: 1m, until: database}}\n", "restore.rto.api.until", "needs restore.database"),
    ("canaries: [{name: a, path: /x}, {name: a, path: /y}]\n", "restore.canaries[1].name", "duplicate canary name"),
    ("database: {url_env: DB, tables: [{table: t}, {table: t}]}\n", "restore.database.tables[1].table", "listed twice"),
    ("command: []\n", "restore.command", ""),
    ("timeout: 0s\n", "restore.timeout", "more than 0 s"),
    ("databse: {}\n", "restore.databse", "did you mean 'database'"),
])
def test_restore_section_problems_name_the_field_and_the_cause(tmp_path: Path, restore: str, field: str, cause: str) -> None:
    with pytest.raises(ProfileError) as error:
        _load(tmp_path, restore)
    assert any(p.field == field and cause in p.cause for p in error.value.problems), str(error.value)
    assert all(p.line for p in error.value.problems)


def test_row_values_encode_by_type_so_equal_text_of_other_types_never_collides() -> None:
    import datetime as dt

    values = [None, True, 1, Decimal("1.50"), 1.5, "1", b"\x01", dt.date(2026, 1, 1)]
    assert len({_encode(v) for v in values}) == len(values)
    assert _encode(Decimal("1.50")) == _encode(Decimal("1.5"))
    plus_one = dt.timezone(dt.timedelta(hours=1))  # one instant under two session time zones: one encoding
    assert _encode(dt.datetime(2026, 1, 1, 4, tzinfo=plus_one)) == _encode(dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone.utc))
    from opscheck.drill.database import _row_bytes

    # The fast path of the checksum encodes exactly as _encode does, type by type.
    assert _row_bytes(values + [dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone.utc), -7, "é", float("nan"), False]) == \
        b"\x1f".join(_encode(v) for v in values + [dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone.utc), -7, "é", float("nan"), False])


def test_newest_timestamps_are_utc_iso_and_naive_values_are_read_as_utc() -> None:
    import datetime as dt

    assert newest_timestamp("2026-11-30 03:00:00") == "2026-11-30T03:00:00+00:00"
    assert newest_timestamp(dt.datetime(2026, 11, 30, 4, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == "2026-11-30T03:00:00+00:00"
    assert newest_timestamp(None) is None
    with pytest.raises(ValueError):
        newest_timestamp(b"x")


def test_database_errors_lose_the_url_and_its_password() -> None:
    url = "postgresql+psycopg://app:pa55word-x@db.internal:5432/shop"
    text = clean(f"connection to {url} failed; also postgresql://app:pa55word-x@other/db", url)
    assert "pa55word-x" not in text and url not in text


def _record(*statuses: str) -> dict[str, Any]:
    steps = [{"name": n, "status": s, "start_s": i, "end_s": i + 1, "message": f"{n} <b>&"}
             for i, (n, s) in enumerate(zip(["backup-age", "restore", "files"], statuses))]
    return {"service": "s", "environment": "staging", "started_at": "2026-11-30T03:00:00+00:00", "started_epoch": 0,
            "manifest": {"path": "m.json", "backup_time": "2026-11-30T02:00:00+00:00", "checksum": "sha256:ab"},
            "steps": steps, "findings": [f"{s['name']}: x" for s in steps if s["status"] != "passed"],
            "rto": [{"component": "api", "until": "ready", "target_s": 900, "achieved_s": 12.5, "status": "passed", "message": "m"}],
            "rpo": [], "files": None, "tables": [], "canaries": [], "restore": None, "smoke": None}


def test_a_drill_passes_only_when_every_step_and_the_smoke_run_passed() -> None:
    smoke = smoke_from_records([], 5, 1.0, 2.0)
    assert smoke["status"] == "failed" and "no smoke or readiness check ran" in smoke["message"]
    assert finish(_record("passed", "passed"), None)["outcome"] == "failed"  # the smoke run never reported
    assert finish(_record("passed", "passed"), {**smoke, "status": "passed"})["outcome"] == "passed"
    assert finish(_record("passed", "skipped"), {**smoke, "status": "passed"})["outcome"] == "failed"
    assert finish(_record("passed", "passed"), smoke)["outcome"] == "failed"


def test_the_record_renders_as_markdown_and_escaped_html_with_a_timeline() -> None:
    record = finish(_record("passed", "failed", "passed"), {"status": "passed", "exit_code": 0, "counts": {"passed": 2},
                                                            "checks": [], "message": "2 check(s)", "start_s": 3, "end_s": 4})
    text = markdown(record)
    assert text.startswith("# Restore drill: s (staging): FAILED") and "| RTO (until ready) | api | 15 min 00 s | 12.5 s | passed |" in text
    page = html_section(record)
    assert "<b>" not in page and "&lt;b&gt;" in page and page.count("<rect") == 4


def test_drill_steps_become_check_records_for_the_history() -> None:
    record = finish(_record("failed", "passed"), None)
    records = {r.id: r for r in step_records(record)}
    assert records["drill::backup-age"].outcome == "failed" and records["drill::backup-age"].reason == "stale"
    assert records["drill::restore"].outcome == "passed" and records["drill::restore"].message is None
    assert fmt_s(59.95) == "60.0 s" and fmt_s(3600 * 3 + 120) == "3 h 02 min" and fmt_s(None) == "-"


def test_the_drill_section_goes_into_the_reports_sections_anchor_once_and_a_page_without_it_fails_loudly(
        tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text('<html><body><h1 id="title">r</h1><div id="opscheck-verdict"></div>'
                    '<div id="opscheck-sections"></div><!-- /opscheck-sections --><p>rest</p></body></html>')  # as finish_page writes it
    record = finish(_record("passed"), None)
    insert_section(page, record)
    insert_section(page, record)  # a second drill into the same page replaces the first section
    text = page.read_text()
    assert text.count('<section id="opscheck-drill"') == 1
    assert text.index("opscheck-verdict") < text.index('id="opscheck-drill"') < text.index("rest")
    page.write_text('<html><body><h1 id="title">r</h1><p>no anchor</p></body></html>')
    with pytest.raises(AnchorMissing, match="opscheck-sections"):
        insert_section(page, record)
