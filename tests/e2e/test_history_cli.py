"""`opscheck history` as a user runs it: the report (text and JSON), incidents, prune, the
Pushgateway delete calls, bad input (exit 4), and the trend page rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from opscheck.history.store import open_store
from opscheck.results import RunInfo
from tests.history_data import fill, record

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

PROFILE = """\
service: svc
runbook: RUNBOOK.md
smoke:
  - {name: health, path: /health, runbook: "#api-not-responding"}
objectives:
  - {check: "smoke::health", target: 99.5, window: 7d, method: timeslices, timeslice: 10m}
"""
RUNBOOK = "# Runbook\n\n## API Not Responding\nRestart it.\n"


def opscheck(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscheck", "history", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """A folder with history.db (a recent mixed history: an incident at eu) and a profile with an objective."""
    folder = tmp_path_factory.mktemp("history-cli")
    store = open_store(str(folder / "history.db"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    import tests.history_data as data

    start = now - timedelta(minutes=20 * 150)
    original = data.T0
    data.T0 = start
    try:
        fill(store, runs=150, step_min=20)
    finally:
        data.T0 = original
    old = (now - timedelta(days=500)).isoformat()
    store.record_run(RunInfo("svc", "prod", None, "p.yaml", old), [record("smoke::health", "passed")],
                     location="retired/dc", release=None, run_key="old", profile_path="p", profile_hash="h")
    (folder / "opscheck.yaml").write_text(PROFILE)
    (folder / "RUNBOOK.md").write_text(RUNBOOK)
    return folder


def test_the_report_names_its_method_next_to_every_figure_and_counts_unknown_runs(filled):
    out = opscheck("--days", "30", cwd=filled)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "svc / prod" in text and "smoke::health" in text
    health = text.split("smoke::health", 1)[1].split("\n  slo::", 1)[0]
    assert "(timeslices " in health  # the objective declares timeslices for this check
    search = text.split("slo::search", 1)[1]
    assert re.search(r"30d \d+\.\d{3} % \(runs \d+/\d+ runs, 10 unknown", search), search[:400]
    assert "p95     now" in text and "flaky" in text and "state   UP" in text
    assert "attainment" in text and "error budget remaining" in text and "14.4x 1h/5m" in text


def test_the_json_report_holds_exact_decimal_figures(filled):
    out = opscheck("--json", "--service", "svc", "--env", "prod", cwd=filled)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    health = next(c for c in report["checks"] if c["check"] == "smoke::health")
    assert set(health["uptime"]) == {"1d", "7d", "30d"} and health["method"] == "timeslices"
    (objective,) = report["objectives"]
    assert objective["target"] == "99.5" and [b["threshold"] for b in objective["burn_rates"]] == ["14.4", "6", "3", "1"]
    for value in re.findall(r'"(?:percent|attainment|error_budget_remaining|long|short)": "([^"]+)"', out.stdout):
        assert re.fullmatch(r"-?\d+(\.\d{1,6})?", value), value
    assert "e-" not in out.stdout and "9999999999" not in out.stdout


def test_incidents_list_the_failing_streak_with_its_timeline_and_runbook_section(filled):
    out = opscheck("incidents", cwd=filled)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if "smoke::health" in l)
    assert "@ eu [status]" in line and "(10 failing runs" in line and "#api-not-responding" in line
    data = json.loads(opscheck("incidents", "--json", cwd=filled).stdout)
    (incident,) = [i for i in data["incidents"] if i["check"] == "smoke::health"]
    assert incident["duration_s"] == 10 * 20 * 60 and incident["time_to_detect_s"] == 0
    assert incident["time_to_recover_s"] == 10 * 20 * 60 and incident["runbook"]["section"] == "API Not Responding"


def test_pushgateway_delete_calls_name_only_groups_not_seen_recently(filled):
    out = opscheck("deletes", "--pushgateway", "http://user:pw@pushgateway:9091/", "--stale-after", "2d", cwd=filled)
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stdout.splitlines() if l.startswith("curl")]
    assert len(lines) == 1 and "pw@" not in out.stdout
    assert "curl -X DELETE 'http://pushgateway:9091/metrics/job/opscheck/service/svc/env/prod/location@base64/" in lines[0]


def test_bad_input_is_one_line_and_exit_4(filled, tmp_path):
    for args in (["--days", "zero"], ["prune", "--older-than", "soon"], ["--history", str(tmp_path / "none.db")],
                 ["import", str(tmp_path / "missing.json")], ["deletes", "--pushgateway", "ftp://x"]):
        out = opscheck(*args, cwd=filled)
        assert out.returncode == 4, (args, out.stdout, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    (tmp_path / "bad.json").write_text("{\"run\": 1}")
    out = opscheck("import", str(tmp_path / "bad.json"), "--history", str(filled / "history.db"), cwd=filled)
    assert out.returncode == 4 and "not an opscheck results.json" in out.stderr


def test_an_unreachable_store_exits_6_in_one_line_without_its_password(filled):
    out = opscheck("--history", "postgresql+psycopg://u:pa55-w0rd-x@127.0.0.1:9/h", cwd=filled,
                   env={"OPSCHECK_HISTORY_TIMEOUT_S": "3"})
    assert out.returncode == 6 and "pa55-w0rd-x" not in out.stdout + out.stderr and out.stderr.count("\n") == 1


def test_prune_deletes_runs_older_than_the_retention_and_keeps_the_rest(filled, tmp_path):
    copy = tmp_path / "history.db"
    for suffix in ("", "-wal"):  # WAL mode: recent commits live in the -wal file until a checkpoint
        if (filled / f"history.db{suffix}").exists():
            shutil.copy(filled / f"history.db{suffix}", tmp_path / f"history.db{suffix}")
    before = len(open_store(str(copy)).runs())
    out = opscheck("prune", "--older-than", "400d", "--history", str(copy), cwd=filled)
    assert out.returncode == 0, out.stderr
    assert "pruned 1 runs (1 check results)" in out.stdout
    assert len(open_store(str(copy)).runs()) == before - 1


def test_prune_keeps_to_the_service_and_environment_it_is_given(filled, tmp_path):
    copy = tmp_path / "history.db"
    for suffix in ("", "-wal"):
        if (filled / f"history.db{suffix}").exists():
            shutil.copy(filled / f"history.db{suffix}", tmp_path / f"history.db{suffix}")
    before = len(open_store(str(copy)).runs())
    for scope in (["--service", "other-service"], ["--env", "staging"]):
        out = opscheck("prune", "--older-than", "1s", *scope, "--history", str(copy), cwd=filled)
        assert out.returncode == 0, out.stderr
        assert "pruned 0 runs" in out.stdout, out.stdout  # every stored run is svc/prod: none of these
    assert len(open_store(str(copy)).runs()) == before
    out = opscheck("prune", "--older-than", "400d", "--service", "svc", "--env", "prod", "--history", str(copy), cwd=filled)
    assert "pruned 1 runs" in out.stdout and "of service 'svc' of environment 'prod'" in out.stdout, out.stdout


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("OPSCHECK_REQUIRE_SERVERS") != "1", reason="no chromium on PATH")
def test_the_trend_page_is_self_contained_and_renders_timelines_charts_burn_rates_and_linked_incidents(filled, tmp_path):
    assert CHROMIUM is not None, "chromium is required here (OPSCHECK_REQUIRE_SERVERS=1)"
    page = tmp_path / "reports" / "trend.html"
    out = opscheck("--html", str(page), cwd=filled)
    assert out.returncode == 0, out.stderr
    source = page.read_text()
    assert "<script" not in source and not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", source)
    import importlib.util

    spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "benchmarks" / "screenshot_report.py")
    shot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot)
    dom = shot.dump_dom(CHROMIUM, page)
    assert dom.count('aria-label="outcome timeline"') == 3 and dom.count('aria-label="latency per run"') == 2
    assert "budget 400 ms" in dom and "burn-rate threshold" in dom
    incidents = dom.split('id="incidents"', 1)[1]
    assert '<a href="RUNBOOK.md#api-not-responding">API Not Responding</a>' in incidents
    size = shot.screenshot(CHROMIUM, page, tmp_path / "trend.png", 1300, 1800)
    assert size > 10_000


def test_the_trend_page_leads_with_a_summary_and_the_incidents_with_their_alerts_and_labels_its_time_axes(filled, tmp_path):
    folder = tmp_path / "alerts"
    shutil.copytree(filled, folder)
    store = open_store(str(folder / "history.db"))
    try:
        from opscheck.history.trend import collect_incidents

        _, found = collect_incidents(store, service="svc", env="prod")
        (incident,) = [i for i in found if i.check_id == "smoke::health"]
        for receiver, kind, state, ok, at in (("notify-url", "webhook", "firing", True, incident.start),
                                              ("oncall", "slack", "firing", False, incident.start),
                                              ("notify-url", "webhook", "resolved", True, incident.end)):
            store.record_delivery(service="svc", env="prod", check_id="smoke::health", receiver=receiver, state=state,
                                  attempts=1 if ok else 2, ok=ok, error=None if ok else "status 500", run_id=None,
                                  location="eu", sent_at=at + timedelta(seconds=20),
                                  detail={"kind": kind, "reminder": False, "refresh": False})
    finally:
        store.close()
    page = folder / "trend.html"
    out = opscheck("--html", str(page), cwd=folder)
    assert out.returncode == 0, out.stderr
    source = page.read_text()
    # What needs attention first: the summary, then the incidents, then the per-check cards.
    assert source.index('id="summary"') < source.index('id="incidents"') < source.index('id="checks"')
    incidents = source.split('id="incidents"', 1)[1].split('id="checks"', 1)[0]
    assert 'FIRING → webhook receiver "notify-url": delivered (1 attempt)' in incidents
    assert 'FIRING → slack receiver "oncall": <span class="bad">NOT delivered (2 attempts)</span>: status 500' in incidents
    assert 'RESOLVED → webhook receiver "notify-url": delivered' in incidents
    assert "1 not delivered" in source.split('id="incidents"', 1)[0]
    # Timestamps never wrap mid-date; both charts label the ends of their time axis.
    assert re.search(r'<span class="ts">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</span>', incidents)
    assert ".num,.ts{white-space:nowrap" in source
    card = source.split('id="check-svc-prod-smoke--health"', 1)[1]
    first = re.findall(r">(\d{4}-\d\d-\d\d \d\d:\d\d UTC)</text>", card.split('aria-label="latency per run"', 1)[1])
    assert len(first) == 3 and first[0] < first[1] < first[2]  # start, middle, end
    json_incident = next(i for i in json.loads(opscheck("incidents", "--json", cwd=folder).stdout)["incidents"]
                         if i["check"] == "smoke::health")
    assert [(a["state"], a["receiver"], a["ok"]) for a in json_incident["alerts"]] == [
        ("firing", "notify-url", True), ("firing", "oncall", False), ("resolved", "notify-url", True)]
