"""The gate's pure rules (issue 11): which failures are retried, the modes table, summary.md, the
GitHub workflow annotations, check labels and runbook links in the terminal. No sockets."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from opscheck.config.gate import Retries
from opscheck.config.modes import MODES, TRANSPORT_REASONS, mode_table
from opscheck.plugin.gate import Gate, _resolve_retries
from opscheck.report.summary import annotations, render_markdown, verdict_of
from opscheck.report.terminal import check_label, shown_link
from opscheck.results import Attempt, CheckResult, RunbookRef, RunInfo


class _Config:
    def __init__(self, **options: Any) -> None:
        self.options = {"opscheck_retries": None, "opscheck_retry_delay": None, "opscheck_retry_on": None, **options}

    def getoption(self, name: str) -> Any:
        return self.options[name]


def _state(retries: Retries | None) -> Any:
    return SimpleNamespace(profile=SimpleNamespace(extras={"retries": retries} if retries else {}))


def test_transport_reasons_are_retried_by_default_and_nothing_else():
    gate = _resolve_retries(_Config(opscheck_retries=2), None, None)
    assert (gate.retries, gate.delay_s) == (2, 0.0)
    for reason in TRANSPORT_REASONS:
        assert gate.retry_wanted([reason], [""])
    for reason in ("status", "latency", "body", "errors", "error"):
        assert not gate.retry_wanted([reason], [""])
    assert not gate.retry_wanted([], [])


def test_retry_on_widens_the_transport_reasons_and_any_retries_every_reason():
    gate = _resolve_retries(_Config(opscheck_retries=1, opscheck_retry_on=["status,latency"]), None, None)
    assert gate.retry_wanted(["status"], [""]) and gate.retry_wanted(["latency"], [""]) and gate.retry_wanted(["connect"], [""])
    assert not gate.retry_wanted(["body"], [""])
    anything = _resolve_retries(_Config(opscheck_retries=1, opscheck_retry_on=["any"]), None, None)
    assert anything.retry_wanted(["schema"], [""])


def test_a_failure_on_the_unreachable_memo_is_never_retried():
    gate = Gate(None, 2, 0.0, frozenset(TRANSPORT_REASONS))
    assert not gate.retry_wanted(["connect"], ["GET /x: target unreachable, not retried: http://h:1"])


def test_an_option_wins_over_the_profile_section_which_wins_over_the_mode():
    section = _state(Retries(count=3, delay_s=0.5, on=("status",)))
    gate = _resolve_retries(_Config(), MODES["gate"], section)
    assert (gate.retries, gate.delay_s) == (3, 0.5) and "status" in gate.retry_on
    gate = _resolve_retries(_Config(opscheck_retries=0, opscheck_retry_delay=1.0), MODES["gate"], section)
    assert (gate.retries, gate.delay_s) == (0, 1.0)
    gate = _resolve_retries(_Config(), MODES["gate"], _state(None))
    assert (gate.retries, gate.delay_s) == (MODES["gate"].retries, MODES["gate"].retry_delay_s)
    assert _resolve_retries(_Config(), MODES["oncall"], None).retries == 0


@pytest.mark.parametrize(("options", "text"), [
    ({"opscheck_retries": 11}, "--retries: 11 is out of range (0 to 10)"),
    ({"opscheck_retries": -1}, "--retries: -1 is out of range"),
    ({"opscheck_retry_delay": -1.0}, "--retry-delay: -1 is out of range (0 to 300 s)"),
    ({"opscheck_retry_delay": 301.0}, "--retry-delay: 301 is out of range"),
    ({"opscheck_retry_on": ["status,statsu"]}, "--retry-on: unknown reason 'statsu'; known: dns, connect"),
])
def test_bad_retry_options_are_usage_errors_that_name_the_option(options, text):
    with pytest.raises(pytest.UsageError) as raised:
        _resolve_retries(_Config(**options), None, None)
    assert text in str(raised.value)


def test_the_modes_table_has_one_row_per_preset_with_every_column():
    rows = mode_table()
    assert [r["mode"] for r in rows] == list(MODES) == ["gate", "oncall", "nightly", "restore"]
    for row in rows:
        assert set(row) == {"mode", "families / markers", "retries", "wait for readiness", "watch", "reports"}
        assert all(row.values())
    gate = rows[0]
    assert "summary.md" in gate["reports"] and "exit 4" in gate["reports"]
    assert gate["retries"].startswith("2 after 2 s")


# --- summary.md and annotations --------------------------------------------------------------


def _record(check_id: str, outcome: str, reason: str | None = None, message: str | None = None,
            line: int | None = 12, link: str = "/srv/RUNBOOK.md#api-not-responding") -> CheckResult:
    family, _, name = check_id.partition("::")
    record = CheckResult(id=check_id, nodeid=f"test_{family}.py::test_{family}[{name}]", family=family, name=name,
                         severity="critical", runbook=RunbookRef("API Not Responding", "api-not-responding", link),
                         profile_field=f"{family}[0]", profile_line=line)
    record.outcome, record.reason, record.message = outcome, reason, message
    record.attempts = [Attempt("failed", "connect", "refused"), Attempt("passed")] if outcome == "flaky" else [Attempt(outcome)]
    return record


def _run(exit_code: int, profile: str = "/repo/deploy/opscheck.yaml") -> RunInfo:
    return RunInfo(service="api", environment="staging", base_url="https://api.example", profile=profile,
                   started_at="2026-11-30T04:00:00+00:00", exit_code=exit_code)


def test_summary_md_has_the_verdict_a_failure_table_and_the_degraded_and_flaky_checks():
    records = [_record("smoke::health", "failed", "status", "GET /health: status 500 | expected 200"),
               _record("smoke::items", "passed"),
               _record("smoke::home", "flaky", "connect", "passed on attempt 2 of 2"),
               _record("tls::certificate", "degraded", "threshold", "expires in 20 days", link="https://wiki/rb#tls")]
    text = render_markdown(_run(1), records)
    assert text.startswith("## ❌ opscheck: FAIL\n")
    assert "**api**, environment `staging`, `https://api.example`: 1 failed, 1 passed, 1 flaky, 1 degraded of 4 checks; exit code 1." in text
    assert ("| `smoke::health` | critical | status | GET /health: status 500 \\| expected 200 "
            "| API Not Responding (`/srv/RUNBOOK.md#api-not-responding`) |") in text
    soft = text[text.index("### Degraded and flaky"):]
    assert "| `smoke::home` | flaky | connect | passed on attempt 2 of 2 |" in soft
    assert "| `tls::certificate` | degraded | threshold | expires in 20 days | [API Not Responding](https://wiki/rb#tls) |" in soft
    assert "smoke::items" not in text


@pytest.mark.parametrize(("exit_code", "outcomes", "verdict"), [
    (0, ["passed"], "PASS"),
    (0, ["passed", "flaky"], "PASS with flaky results"),
    (0, ["degraded", "flaky"], "PASS with degraded and flaky results"),
    (1, ["passed", "failed"], "FAIL"),
    (3, ["passed"], "FAIL"),  # an internal error never passes
])
def test_the_verdict_is_pass_only_with_exit_code_0_and_names_soft_results(exit_code, outcomes, verdict):
    records = [_record(f"smoke::c{i}", o) for i, o in enumerate(outcomes)]
    assert verdict_of(_run(exit_code), records) == verdict


def test_annotations_point_at_the_profile_line_relative_to_the_workspace_and_escape_their_fields():
    records = [_record("limits::body:chunked", "failed", "limit", "50% over, then\nmore", line=31),
               _record("smoke::home", "flaky", "connect", "passed on attempt 2 of 2", line=None),
               _record("smoke::items", "passed")]
    lines = annotations(_run(1), records, workspace="/repo")
    assert lines[0] == ("::error file=deploy/opscheck.yaml,line=31,title=limits%3A%3Abody%3Achunked%3A failed (limit)"
                        "::50%25 over, then%0Amore%0Arunbook: API Not Responding -> /srv/RUNBOOK.md#api-not-responding")
    assert lines[1].startswith("::warning file=deploy/opscheck.yaml,title=smoke%3A%3Ahome%3A flaky (connect)::")
    assert len(lines) == 2
    # A profile outside the workspace keeps its own path.
    assert annotations(_run(1), records[:1], workspace="/elsewhere")[0].startswith("::error file=/repo/deploy/opscheck.yaml,")


# --- terminal --------------------------------------------------------------------------------


def test_a_bundled_check_node_id_is_shown_as_its_family_and_check_id():
    files = {"test_smoke.py": "smoke", "test_openapi.py": "schema", "test_protected.py": "auth"}
    assert check_label("test_smoke.py::test_smoke[api-health]", files) == ("smoke", "smoke::api-health")
    assert check_label("test_openapi.py::test_openapi[openapi:conformance]", files) == ("schema", "schema::openapi:conformance")
    assert check_label("test_protected.py::test_protected[items:key-2]", files) == ("auth", "auth::items:key-2")
    assert check_label("tests/test_mine.py::test_it", files) is None
    assert check_label("test_smoke.py::test_smoke", files) is None


def test_a_runbook_path_is_shown_relative_to_the_cwd_only_when_shorter(tmp_path):
    near = tmp_path / "ops" / "RUNBOOK.md"
    assert shown_link(f"{near}#db", cwd=str(tmp_path)) == os.path.join("ops", "RUNBOOK.md") + "#db"
    far = "/usr/lib/python3/site-packages/opscheck/demo/RUNBOOK.md#db"
    deep = tmp_path / "a" / "b" / "c" / "d" / "e" / "f" / "g" / "h"
    assert shown_link(far, cwd=str(deep)) == far  # ../../.. would be longer
    assert shown_link("https://wiki.example/runbook#db", cwd=str(tmp_path)) == "https://wiki.example/runbook#db"


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_sep(self, sep: str, title: str, **markup: bool) -> None:
        self.lines.append(f"== {title} ==")

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append(line)


def test_the_reports_line_names_only_files_this_run_wrote(tmp_path):
    from opscheck.report.terminal import write_summary

    run = _run(0)
    run.started_at = "2026-11-30T04:00:00+00:00"
    run.report_dir = str(tmp_path)
    for name in ("results.json", "summary.md"):
        (tmp_path / name).write_text("{}")
    started = 1_796_011_200  # 2026-11-30T04:00:00Z
    os.utime(tmp_path / "results.json", (started + 5, started + 5))
    os.utime(tmp_path / "summary.md", (started - 3600, started - 3600))  # left by an earlier gate run
    out = _Lines()
    write_summary(out, run, [_record("smoke::home", "flaky", "connect", "passed on attempt 2 of 2")], 0)
    assert out.lines[-1] == f"opscheck reports: {tmp_path / 'results.json'}"
    assert out.lines[-2].startswith("opscheck verdict: PASS with flaky results (1 flaky of 1 checks; 1 rerun; exit code 0)")
    assert any("FLAKY passed on attempt 2 of 2" in line for line in out.lines)
