"""The per-check hot path (issue 10, Measure): what was cut must not change what a run says.

A serial run hands the check's record and phase from the makereport hook to the merge as objects;
they become JSON only where they travel (an xdist worker, see test_xdist_reruns.py) or when a
plugin serialises a report. The generated fixtures declare their needs as arguments, so pytest
knows them at collection (`--setup-plan` lists them), and a mutating case is still skipped before
any of them is set up.
"""

from __future__ import annotations

import inspect
import json
import re

from opscheck.families.registry import FAMILIES, NEED_FIXTURES

PROBE = '''
import json
import re

CONFIG = []


def pytest_configure(config):
    CONFIG.append(config)


def pytest_runtest_logreport(report):
    data = CONFIG[0].hook.pytest_report_to_serializable(config=CONFIG[0], report=report)
    if data.get("opscheck") is not None:
        with open("serialised.jsonl", "a") as out:
            out.write(json.dumps(data["opscheck"]) + "\\n")
'''

MUTATING = """\
service: writes
http: {{timeout_s: 2, deadline_s: 5}}
environments:
  readonly: {{base_url: "{base}"}}
smoke:
  - {{name: read, path: /health}}
  - {{name: post, method: POST, path: /api/ingest, json: {{id: 1}}}}
benchmark:
  - {{name: post-bench, method: POST, path: /api/ingest, rounds: 2, warmup_rounds: 0}}
"""


def test_a_plugin_that_serialises_a_serial_runs_report_gets_the_check_and_phase_as_json(run_checks, service, pytester):
    pytester.makepyfile(probe_serialise=PROBE)
    run = run_checks("--base-url", service().base_url, "-p", "probe_serialise", "-k", "smoke")
    assert run.ret == 0, run.output
    lines = [json.loads(line) for line in (pytester.path / "serialised.jsonl").read_text().splitlines()]
    assert len(lines) == 3 * 3  # three smoke checks: setup, call and teardown each
    for data in lines:
        assert data["check"]["id"].startswith("smoke::") and data["check"]["nodeid"], data
        assert data["phase"]["when"] in ("setup", "call", "teardown"), data
    calls = [d for d in lines if d["phase"]["when"] == "call"]
    assert {d["phase"]["outcome"] for d in calls} == {"passed"}
    assert all(d["phase"]["evidence"][0]["kind"] == "http" for d in calls)
    # The run's own outputs are unchanged by a plugin reading its reports.
    assert run.outcomes() == {"smoke::health": "passed", "smoke::items": "passed", "smoke::home": "passed"}


def test_setup_show_lists_base_url_as_what_a_smoke_check_uses_and_no_second_function_fixture(run_checks, service):
    # The family fixture builds the check's CheckHttp from pytest-base-url's session fixture: one
    # function-scoped fixture per check, not two.
    run = run_checks("--base-url", service().base_url, "--setup-show", "-k", "smoke and health")
    assert run.ret == 0, run.output
    line = next(line for line in run.stdout.splitlines() if "SETUP    F smoke_check" in line)
    assert "(fixtures used: base_url)" in line, line
    assert re.findall(r"SETUP +F (\w+)", run.stdout) == ["smoke_check"], run.stdout


SAME_HTTP = """
def test_both(smoke_check, opscheck_http):
    assert smoke_check.http is opscheck_http
    smoke_check.run()
    assert len(opscheck_http.evidence) == 1


def test_http_first(opscheck_http, smoke_check):
    assert smoke_check.http is opscheck_http
    smoke_check.run()
"""


def test_a_custom_check_asking_for_opscheck_http_too_gets_the_same_checkhttp_as_its_family_fixture(run_checks, service, pytester):
    # One CheckHttp per test, whichever fixture is set up first: its evidence is the check's.
    pytester.makepyfile(test_same=SAME_HTTP)
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_same.py"), "-k", "test_both or test_http_first")
    assert run.ret == 0, run.output
    custom = [c for c in run.results["checks"] if "test_both" in c["nodeid"] or "test_http_first" in c["nodeid"]]
    assert len(custom) == 6 and all(c["outcome"] == "passed" and c["evidence"] for c in custom), custom


def test_every_generated_fixture_declares_exactly_its_rows_needs_as_arguments():
    from opscheck.plugin import fixtures

    for family in FAMILIES.values():
        definition = getattr(fixtures, family.argname)
        func = definition._get_wrapped_function() if hasattr(definition, "_get_wrapped_function") else definition
        params = list(inspect.signature(func).parameters)
        assert params == ["request", *(NEED_FIXTURES[need] for need in family.needs)], (family.section, params)
    assert FAMILIES["host"].needs == ()  # host reads this machine: no HTTP fixture is set up for it


def test_a_mutating_case_is_skipped_before_its_http_and_benchmark_fixtures_are_set_up(run_checks, service):
    svc = service()
    run = run_checks("--env", "readonly", "--setup-show", "-rs", profile=MUTATING.format(base=svc.base_url))
    assert run.ret == 0, run.output
    assert run.outcomes() == {"smoke::read": "passed", "smoke::post": "skipped", "benchmark::post-bench": "skipped"}
    for check in ("smoke::post", "benchmark::post-bench"):
        assert "does not allow mutating checks" in run.check(check)["message"]
    # --setup-show prints each fixture as it is set up: the skipped checks set up none of theirs
    # (the family fixture declares base_url and benchmark as arguments, set up before its body runs).
    setups = re.findall(r"SETUP +F (\w+)", run.stdout)
    assert setups == ["smoke_check"], run.stdout


FREEZE_PROBE = '''
import gc
import json

SEEN = []


def pytest_runtest_call(item):
    SEEN.append(gc.get_freeze_count())


def pytest_unconfigure(config):
    with open("frozen.json", "w") as out:
        json.dump(SEEN, out)
'''


def test_a_run_keeps_its_long_lived_objects_out_of_gc_passes_and_hands_them_back_when_it_ends(service, pytester, monkeypatch):
    import gc

    from opscheck.cli import checks_dir

    monkeypatch.delenv("PYTEST_BASE_URL", raising=False)
    monkeypatch.delenv("OPSCHECK_PROFILE", raising=False)
    pytester.makepyfile(probe_freeze=FREEZE_PROBE)
    pytester.syspathinsert()
    profile = pytester.path / "opscheck.yaml"
    profile.write_text("service: frozen\nsmoke:\n  - {name: health, path: /health}\n  - {name: home, path: /}\n")
    frozen_before = gc.get_freeze_count()
    result = pytester.runpytest_inprocess(
        str(checks_dir()), "--profile", str(profile), "--base-url", service().base_url,
        "--report-dir", str(pytester.path / "reports"), "-p", "probe_freeze", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    seen = json.loads((pytester.path / "frozen.json").read_text())
    assert len(seen) == 2 and all(count > 0 for count in seen), seen  # frozen while the checks ran
    # An in-process run leaves nothing frozen behind: every object is the collector's again.
    assert gc.get_freeze_count() == frozen_before
    assert json.loads((pytester.path / "reports" / "results.json").read_text())["run"]["counts"]["passed"] == 2


def test_without_a_target_nothing_is_frozen(pytester, monkeypatch):
    # A profile but no --base-url (e.g. --co in a repository that has an opscheck.yaml): no checks
    # run in this process, so the garbage collector is left as it was.
    import gc

    monkeypatch.delenv("PYTEST_BASE_URL", raising=False)
    monkeypatch.delenv("OPSCHECK_PROFILE", raising=False)
    pytester.makepyfile(probe_freeze=FREEZE_PROBE, test_plain="def test_plain():\n    pass\n")
    pytester.syspathinsert()
    (pytester.path / "opscheck.yaml").write_text("service: frozen\nsmoke:\n  - {name: health, path: /health}\n")
    result = pytester.runpytest_inprocess("test_plain.py", "-p", "probe_freeze", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    assert json.loads((pytester.path / "frozen.json").read_text()) == [0]


TWO_RUNS = '''
import gc
import json
import sys
import weakref

import pytest

args = sys.argv[1:]
seen = {}


class Cycle:
    def __init__(self):
        self.me = self


class LeaveACycle:
    """Made during the first run, unreachable at its end except through its own cycle."""

    def pytest_runtest_call(self, item):
        if "ref" not in seen:
            seen["ref"] = weakref.ref(Cycle())


class Probe:
    def pytest_configure(self, config):
        seen["cycle_alive_at_second_configure"] = seen["ref"]() is not None


first = pytest.main([*args, "-p", "no:cacheprovider", "-q"], plugins=[LeaveACycle()])
seen["frozen_after_first"] = gc.get_freeze_count()
second = pytest.main([*args, "-p", "no:cacheprovider", "-q"], plugins=[Probe()])
seen.pop("ref")
print(json.dumps({"exit": [int(first), int(second)], **seen}))
'''


def test_the_outermost_run_ends_frozen_and_a_second_run_in_the_process_frees_what_the_first_left(service, tmp_path):
    # The outermost run leaves its objects frozen (pytest's closing full collections then walk only
    # the rest; the process ends next). A program that calls pytest.main() again gets them back:
    # the next run's configure unfreezes and collects before freezing anew, so a cycle from the
    # first run is freed there and nothing piles up across runs.
    import subprocess
    import sys

    from opscheck.cli import checks_dir

    profile = tmp_path / "opscheck.yaml"
    profile.write_text("service: frozen\nsmoke:\n  - {name: health, path: /health}\n")
    (tmp_path / "two_runs.py").write_text(TWO_RUNS)
    proc = subprocess.run(
        [sys.executable, "two_runs.py", str(checks_dir()), "--confcutdir", str(checks_dir()), "--profile", str(profile),
         "--base-url", service().base_url, "--report-dir", str(tmp_path / "reports"), "--rootdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["exit"] == [0, 0], seen
    assert seen["frozen_after_first"] > 0, seen
    assert seen["cycle_alive_at_second_configure"] is False, seen


DEL_RAISES = """
class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        raise RuntimeError("DEL-OF-A-CYCLE-RAN")


def test_leaves_a_cycle(smoke_check):
    Cycle()  # garbage at once, reachable only through its own cycle: for the collector to free
    smoke_check.run()
"""


def test_a_cycle_a_check_drops_is_still_freed_and_its_del_exception_reported(run_checks, service, pytester):
    # The policy freezes only what is alive: each freeze after the first collects first, so a
    # cycle that became garbage during a check is freed before it could be frozen, and pytest
    # still reports the exception its __del__ raised, as in a plain run.
    pytester.makepyfile(test_cycle=DEL_RAISES)
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_cycle.py"), "-k", "test_leaves_a_cycle",
                     profile="service: cycles\nsmoke:\n  - {name: ok, path: /health}\n")
    assert run.ret == 0, run.output
    assert "DEL-OF-A-CYCLE-RAN" in run.output and "PytestUnraisableExceptionWarning" in run.output, run.output[-3000:]
