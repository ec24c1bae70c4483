"""The watch's pure rules: durations, the schedule, when it stops, where its settings come from,
how a round's results.json becomes a round, the terminal lines and the report.html timeline."""

from __future__ import annotations

import argparse
import io
import json
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from opscheck.config.profile import ProfileError, load_profile
from opscheck.config.watch import WatchSettings, parse_count, parse_seconds
from opscheck.measure.bands import parse_duration
from opscheck.report.timeline import ANCHOR, TimelineAnchorMissing, insert_timeline, render_timeline
from opscheck.watch import command
from opscheck.watch.driver import INTERNAL_ERROR, WatchRun, _write_reports
from opscheck.watch.progress import Progress, clock
from opscheck.watch.rounds import Round, RoundCheck, latency_ms, round_checks, status_of
from opscheck.watch.schedule import Plan, Tally


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1.5s", 1.5), ("90", 90), (" 5 min ", 300),
    (45, 45), (0.5, 0.5), ("1h 30m 10s", 5410),
])
def test_watch_durations_read_as_every_profile_duration_does(text, seconds):
    assert parse_seconds(text) == seconds
    assert Decimal(str(parse_seconds(text))) == parse_duration(text)


@pytest.mark.parametrize(("text", "cause"), [
    ("5x", "unknown unit 'x'"), ("0", "must be longer than 0 s"), ("0s", "must be longer than 0 s"),
    ("", "not a duration"), ("-5s", "not a duration"), ("15", None), ("m", "not a duration"),
    (True, "not a duration"), ("1e999", "not a finite duration"), (float("inf"), "not a finite duration"),
])
def test_a_bad_duration_says_why(text, cause):
    if cause is None:
        assert parse_seconds(text) == 15
        return
    with pytest.raises(ValueError, match=cause.replace("(", r"\(")):
        parse_seconds(text)


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", True, 0])
def test_fail_after_must_be_a_whole_number_of_rounds(value):
    with pytest.raises(ValueError, match="whole number of rounds"):
        parse_count(value)
    assert parse_count("2") == 2 and parse_count(3) == 3


# --- the schedule --------------------------------------------------------------------------------


def test_the_window_plans_ceil_window_over_interval_rounds():
    assert Plan(6, 1).planned_rounds == 6
    assert Plan(900, 30).planned_rounds == 30
    assert Plan(10, 3).planned_rounds == 4
    assert Plan(0.3 * 3, 0.3).planned_rounds == 3  # no float error adds a round


def test_a_round_on_time_starts_the_next_one_interval_later_and_a_late_one_delays_it():
    plan = Plan(60, 10)
    assert plan.next_start(0, 2.5) == 10  # on time: the schedule
    assert plan.next_start(10, 23) == 23  # late: right after it, never overlapping
    assert plan.next_start(23, 24) == 33  # then the interval again, counted from the late start: no catching up
    assert plan.in_window(59.9) and not plan.in_window(60)


def test_a_round_deadline_is_the_round_timeout_else_the_interval_but_at_least_60_s():
    assert Plan(600, 30).deadline_s == 60
    assert Plan(3600, 120).deadline_s == 120
    assert Plan(600, 30, round_timeout_s=5).deadline_s == 5


def test_the_watch_stops_after_fail_after_consecutive_failed_rounds():
    tally = Tally(fail_after=2)
    assert [tally.add(s) for s in ("passed", "failed", "passed", "failed", "degraded", "failed", "failed")] == [
        False, False, False, False, False, False, True]
    assert tally.failed_rounds == 4
    assert Tally(1).add("failed") is True
    assert Tally(1).add("interrupted") is False


# --- where the settings come from ---------------------------------------------------------------


def args(**given: object) -> argparse.Namespace:
    values = {"watch": None, "interval": None, "fail_after": None, "mode": None}
    values.update(given)
    return argparse.Namespace(**values)


def test_the_command_line_wins_over_the_profile_which_wins_over_the_mode_preset():
    profile = WatchSettings(window_s=600, interval_s=20, fail_after=3, markers="smoke", keywords="not frontend")
    mode = {"interval_s": 30.0, "markexpr": "readiness", "window": "5m"}
    plan, shown, select = command.resolve(args(watch="15m", interval="10s"), [], profile, mode)
    assert (plan.window_s, plan.interval_s, plan.fail_after) == (900, 10, 3)
    assert select == ["-m", "smoke", "-k", "not frontend"] and shown == 'checks -m "smoke" -k "not frontend"'
    plan, _, select = command.resolve(args(watch=""), [], WatchSettings(), mode)
    assert (plan.window_s, plan.interval_s, plan.fail_after) == (300, 30, 1) and select == ["-m", "readiness"]
    plan, _, select = command.resolve(args(watch=""), [], WatchSettings(), {})
    assert (plan.window_s, plan.interval_s, plan.fail_after) == (900, 30, 1)
    assert select == ["-m", "smoke or readiness"]


@pytest.mark.parametrize("extra", [["-m", "slo"], ["-k", "health"], ["-mslo"], ["-khealth", "-x"]])
def test_m_or_k_on_the_command_line_replace_the_selection(extra):
    _, shown, select = command.resolve(args(watch="1m"), extra, WatchSettings(markers="smoke"), {})
    assert select == [] and "-m/-k" in shown


def test_the_gate_preset_watch_defaults_are_read_when_the_modes_module_has_them():
    modes = pytest.importorskip("opscheck.config.modes")
    watch = getattr(modes.MODES["gate"], "watch", None)
    if not watch:
        pytest.skip("the gate preset has no watch defaults")
    defaults = command._mode_defaults(args(mode="gate"), [])
    assert defaults == watch
    plan, _, _ = command.resolve(args(watch="10m", mode="gate"), [], WatchSettings(), defaults)
    assert plan.interval_s == parse_seconds(watch.get("interval_s") or watch.get("interval") or 30)
    assert command._mode_defaults(args(), ["--mode=gate"]) == watch
    assert command._mode_defaults(args(mode="no-such-mode"), []) == {}


def test_report_dir_is_each_rounds_own_and_wait_ready_is_for_the_first_round_only():
    kept, first = command.split_per_round(["--profile", "p.yaml", "--report-dir", "out", "--wait-ready", "120",
                                           "--mode", "gate", "--report-dir=x"])
    assert kept == ["--profile", "p.yaml", "--mode", "gate"] and first == ["--wait-ready", "120"]


# --- a round's results.json ----------------------------------------------------------------------


def test_a_checks_latency_is_its_slowest_exchange_or_its_sample_p95():
    assert latency_ms([{"kind": "http", "elapsed_ms": 3.0}, {"elapsed_ms": 12.5}, {"kind": "http", "elapsed_ms": None}]) == 12.5
    assert latency_ms([{"kind": "sample_summary", "percentiles": {"p95_ms": 41.2}}]) == 41.2
    assert latency_ms([{"kind": "tls_handshake"}]) is None and latency_ms([]) is None


def test_a_check_with_no_verdict_is_dropped_from_an_interrupted_round_and_is_a_timeout_in_a_round_past_its_deadline():
    payload = {"run": {}, "checks": [
        {"id": "smoke::a", "outcome": "passed", "reason": None, "message": None, "evidence": [{"elapsed_ms": 2}]},
        {"id": "smoke::b", "outcome": "failed", "reason": "error",
         "message": "no verdict: the run stopped before this check reported one (pytest exit status 2)", "evidence": []},
        {"id": "smoke::c", "outcome": "failed", "reason": "error", "message": "check crashed in call: boom"},
    ]}
    assert [c.id for c in round_checks(payload, drop_unsettled=True)] == ["smoke::a", "smoke::c"]
    relabelled = round_checks(payload, unsettled_reason="timeout", unsettled_message="past the deadline")
    assert [(c.id, c.reason, c.message) for c in relabelled][1:] == [
        ("smoke::b", "timeout", "past the deadline"), ("smoke::c", "error", "check crashed in call: boom")]
    assert round_checks(payload)[1].reason == "error"  # left as it is otherwise


@pytest.mark.parametrize(("exit_code", "outcomes", "status"), [
    (0, ["passed"], "passed"), (0, ["passed", "degraded"], "degraded"), (0, ["flaky"], "degraded"),
    (1, ["failed"], "failed"), (2, [], "interrupted"), (3, ["passed"], "error"), (4, [], "error"), (5, [], "error"),
])
def test_a_rounds_status_comes_from_its_exit_code_and_its_checks(exit_code, outcomes, status):
    checks = [RoundCheck(f"smoke::{i}", o, None, None, None) for i, o in enumerate(outcomes)]
    assert status_of(exit_code, checks) == status


# --- the terminal --------------------------------------------------------------------------------


def test_without_a_terminal_each_round_is_one_complete_log_line_and_nothing_is_redrawn():
    out = io.StringIO()
    progress = Progress(out, window_s=900, planned=30, tty=False)
    rnd = Round(3, "2026-11-30T04:00:00.000+00:00", 61.0, 1.04, "failed",
                checks=[RoundCheck("readiness::ready", "failed", "status", "503", 2.0),
                        RoundCheck("smoke::api-health", "passed", None, None, 412.4)])
    progress.live("round 4/30 running", 62)
    progress.round_done(rnd, 62.5)
    assert out.getvalue() == ("opscheck watch: round 3/30 failed in 1.0s | elapsed 1m02s, remaining 13m58s | "
                              "failing now: readiness::ready | worst latency 412 ms smoke::api-health (round 3)\n")


def test_on_a_terminal_the_status_line_is_redrawn_in_place_and_cleared_before_a_round_line(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    progress = Progress(out, window_s=60, planned=6, tty=True)
    progress.live("round 1/6 running", 0.5)
    progress.live("round 1/6 running", 0.6)  # the same text: not drawn again
    progress.live("round 1/6 running", 1.5)
    progress.round_done(Round(1, "t", 0, 1.9, "passed"), 2.0)
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 3 and "watch: round 1/6 running | elapsed 1s, remaining 59s" in text
    assert "\x1b[32mpassed\x1b[0m" in text and text.endswith("\n")
    assert clock(3725) == "1h02m05s" and clock(59.9) == "59s"


# --- the timeline --------------------------------------------------------------------------------


ROUNDS = [
    {"round": 1, "started_at": "2026-11-30T04:00:00.000+00:00", "offset_s": 0, "duration_s": 1.0, "status": "passed",
     "exit_code": 0, "reason": None, "message": None, "report_dir": "rounds/001",
     "checks": [{"id": "smoke::a", "outcome": "passed", "reason": None, "message": None, "latency_ms": 10.0},
                {"id": "readiness::ready", "outcome": "passed", "reason": None, "message": None, "latency_ms": 2.0}]},
    {"round": 2, "started_at": "2026-11-30T04:00:01.000+00:00", "offset_s": 1, "duration_s": 1.0, "status": "failed",
     "exit_code": 1, "reason": None, "message": None, "report_dir": "rounds/002",
     "checks": [{"id": "smoke::a", "outcome": "failed", "reason": "status",
                 "message": "GET /<script>alert(1)</script>: status 500", "latency_ms": 40.0}]},
]


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "td" and "watch-cell" in (dict(attrs).get("class") or ""):
            self.cells.append(dict(attrs))
        if tag == "script":
            self.scripts += 1


def test_the_timeline_has_a_row_per_check_and_a_cell_per_round_coloured_by_outcome_with_the_latency_drawn():
    html = render_timeline(ROUNDS, "FAIL: round 2 failed", "FAIL")
    parsed = Cells()
    parsed.feed(html)
    assert [(c["data-check"], c["data-round"], c["data-outcome"], c.get("data-latency-ms")) for c in parsed.cells] == [
        ("smoke::a", "1", "passed", "10.0"), ("smoke::a", "2", "failed", "40.0"),
        ("readiness::ready", "1", "passed", "2.0"), ("readiness::ready", "2", "missing", None)]
    assert 'style="height:25%' in html and 'style="height:100%' in html  # 10 of the row's 40 ms
    assert parsed.scripts == 0 and "<script>alert" not in html and "&lt;script&gt;" in html


def test_the_timeline_goes_before_pytest_htmls_results_table_or_the_run_fails_loudly():
    page = "<html><body><h1>x</h1>\n" + ANCHOR + "><tr></tr></table></body></html>"
    out = insert_timeline(page, "<section id=\"opscheck-watch\"></section>")
    assert out.index("opscheck-watch") < out.index(ANCHOR)
    with pytest.raises(TimelineAnchorMissing, match="results-table"):
        insert_timeline("<html><body><table id=\"other\"></table></body></html>", "<section></section>")


def test_the_watch_verdict_and_timeline_go_under_the_banner_which_is_labelled_as_one_round_and_cells_link_rounds():
    from opscheck.report.html import SECTIONS_ID
    from opscheck.report.timeline import label_banner

    # The shape report.html's finish_page writes: the banner, then the sections anchor.
    page = ('<html><body><h1 id="title">r</h1><div id="opscheck-verdict"><div class="opscheck-banner__verdict">PASS</div>'
            f'</div><div id="{SECTIONS_ID}"></div><!-- /{SECTIONS_ID} --><p>env</p>' + ANCHOR + "></table></body></html>")
    section = render_timeline(ROUNDS, "FAIL: round 2 failed", "FAIL", window_s=900, interval_s=30,
                              started_at="2026-11-30T04:00:00+00:00", final_round=2)
    out = label_banner(insert_timeline(page, section), 2)
    assert out.index("Round 2 of the watch: PASS") < out.index("Watch verdict: FAIL") < out.index("<p>env</p>")
    assert "2 rounds: 1 passed, 1 failed · window 15m, a round every 30s" in out
    assert '<span class="watch-when">2026-11-30 04:00:00 UTC</span>' in out
    assert "show <b>round 2</b> only" in out
    assert out.count('href="rounds/002/report.html"') == 4  # the round header, its 2 cells, the note
    # A second insert (the same page written again) replaces the section instead of adding one.
    assert insert_timeline(out, section).count("Watch verdict: FAIL") == 1


def test_a_report_page_without_the_anchor_ends_the_watch_with_exit_code_3_and_results_json_says_so(tmp_path):
    round_dir = tmp_path / "rounds" / "001"
    round_dir.mkdir(parents=True)
    payload = {"version": 1, "run": {"service": "s", "exit_code": 0}, "checks": []}
    (round_dir / "results.json").write_text(json.dumps(payload))
    (round_dir / "report.html").write_text("<html><body>a page pytest-html changed</body></html>")
    rnd = Round(1, "2026-11-30T04:00:00.000+00:00", 0, 1, "passed", 0, report_dir="rounds/001", payload=payload)
    out = io.StringIO()
    watch = WatchRun(plan=Plan(60, 10), run_args=[], report_dir=tmp_path)
    from datetime import datetime, timezone

    code, written = _write_reports(watch, [rnd], 0, "PASS", "PASS", datetime.now(timezone.utc), 1.0,
                                    Progress(out, 60, 6, tty=False))
    assert code == INTERNAL_ERROR and "INTERNAL ERROR: report.html has no <div id=\"opscheck-sections\"> nor <table id=\"results-table\"" in out.getvalue()
    assert not (tmp_path / "report.html").exists()
    assert json.loads((tmp_path / "results.json").read_text())["run"]["exit_code"] == INTERNAL_ERROR


# --- the profile section -------------------------------------------------------------------------


def test_the_watch_section_is_read_into_its_typed_form(tmp_path: Path):
    path = tmp_path / "opscheck.yaml"
    path.write_text("service: s\nsmoke: [{name: a, path: /}]\n"
                    "watch: {window: 10m, interval: 15s, fail_after: 2, markers: smoke, round_timeout: 90}\n")
    settings = load_profile(path).extras["watch"]
    assert settings == WatchSettings(600, 15, 2, "smoke", None, 90, line=3)


@pytest.mark.parametrize(("section", "problem"), [
    ("{window: 5x}", "opscheck.yaml:4: watch.window: not a duration: '5x': unknown unit 'x'"),
    ("{interval: 0.5}", "opscheck.yaml:4: watch.interval: must be at least 1 s"),
    ("{window: 1m, interval: 2m}", "opscheck.yaml:4: watch.interval: the interval is longer than the window"),
    ("{window: 2d}", "opscheck.yaml:4: watch.window: must be at most 24 h"),
    ("{markers: '  '}", "opscheck.yaml:4: watch.markers: must not be empty"),
    ("{fail_after: 0}", "opscheck.yaml:4: watch.fail_after: must be at least 1"),
    ("{every: 30s}", "opscheck.yaml:4: watch.every: unknown field"),
])
def test_a_bad_watch_section_is_a_profile_problem_with_its_line(tmp_path: Path, section, problem):
    path = tmp_path / "opscheck.yaml"
    path.write_text(f"service: s\nsmoke: [{{name: a, path: /}}]\n\nwatch: {section}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert any(line.startswith(f"{path.parent}/{problem}") for line in str(caught.value).splitlines()), str(caught.value)


# --- the reference service's switch ---------------------------------------------------------------


def test_the_demo_switch_turns_its_three_faults_on_and_off_and_keeps_the_start_ones():
    from opscheck.demo.switch import FaultSwitch

    switch = FaultSwitch({"not_ready"})
    assert "not_ready" in switch and "unhealthy" not in switch
    switch.switch("unhealthy", True)
    assert "unhealthy" in switch and switch.active() == ["not_ready", "unhealthy"]
    switch.switch("unhealthy", False)
    assert "unhealthy" not in switch
    with pytest.raises(ValueError):
        switch.switch("not_ready", False)  # given with --fault: stays on
    with pytest.raises(KeyError):
        switch.switch("schema_drift", True)


def test_a_rounds_line_measures_its_duration_and_the_elapsed_time_on_one_clock_and_counts_in_words():
    out = io.StringIO()
    progress = Progress(out, window_s=20, planned=6, tty=False)
    # The round started 0.1 s in and took 3.8 s: elapsed is where it ended, never less than its duration.
    progress.round_done(Round(1, "t", 0.1, 3.8, "passed"), 3.2)
    assert "round 1/6 passed in 3.8s | elapsed 3.9s, remaining 17s" in out.getvalue()
    from opscheck.report.terminal import plural

    assert (plural(1, "round"), plural(2, "round")) == ("1 round", "2 rounds")
