"""The plugin's contract with the user: usage errors without tracebacks, secrets never shown,
inert where there is no profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import API_KEY, PROFILE

TOKEN = "tok-5ecr3t-value-91"


def test_secrets_appear_in_no_report_and_no_terminal_output(service, run_checks, monkeypatch):
    monkeypatch.setenv("TEST_TOKEN", TOKEN)
    profile = PROFILE.replace("readiness:", (
        '  - {name: leak, path: "/api/items?token=${TEST_TOKEN}", expect: {status: 201}}\n'
        '  - {name: leak-header, path: /health, headers: {X-Debug-Token: "${TEST_TOKEN}"}, expect: {status: 418}}\n'
        "readiness:"
    ))
    run = run_checks("--base-url", service().base_url, "-vv", "--tb=long", "-rA", profile=profile)
    assert run.ret == 1
    leak = run.check("smoke::leak")
    assert leak["reason"] == "status" and "[REDACTED]" in leak["message"]
    # The key really was sent (the route needs it), and shows only as redacted.
    assert run.check("smoke::items")["evidence"][0]["request_headers"]["x-api-key"] == "[REDACTED]"
    outputs = {"terminal": run.output}
    outputs.update({p.name: p.read_text() for p in run.report_dir.iterdir()})
    for name, text in outputs.items():
        assert API_KEY not in text, f"API key leaked into {name}"
        assert TOKEN not in text, f"token leaked into {name}"
    assert "[REDACTED]" in outputs["results.json"] and "[REDACTED]" in outputs["report.html"]


def test_invalid_profile_is_a_usage_error_without_traceback(service, run_checks):
    run = run_checks("--base-url", service().base_url, profile=PROFILE.replace("max_ms: 400", "mx_ms: 400"))
    assert run.ret == 4
    assert "opscheck.yaml:10: smoke[0].expect.mx_ms: unknown field; did you mean 'max_ms'?" in run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output


def test_unknown_runbook_section_is_a_usage_error_at_collection(service, run_checks):
    run = run_checks("--base-url", service().base_url, profile=PROFILE.replace('"Health Checks"', '"Health Check"'))
    assert run.ret == 4
    assert "smoke[2].runbook: unknown runbook section 'Health Check'" in run.output
    assert "closest: 'Health Checks'" in run.output
    assert "Traceback" not in run.output


def test_unknown_environment_lists_the_known_ones(run_checks):
    run = run_checks("--env", "prod")
    assert run.ret == 4
    assert "unknown environment 'prod' (known: staging)" in run.output


def test_no_target_is_a_usage_error(run_checks):
    run = run_checks()
    assert run.ret == 4
    assert "no target: pass --base-url URL (or PYTEST_BASE_URL) or --env NAME (environments: staging)" in run.output


def test_base_url_from_pytest_base_url_environment_variable(service, run_checks, monkeypatch):
    monkeypatch.setenv("PYTEST_BASE_URL", service().base_url)
    run = run_checks()
    assert run.ret == 0
    assert run.results["run"]["base_url"] == service().base_url


def test_plugin_is_inert_without_a_profile(pytester: pytest.Pytester):
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    assert "opscheck" not in result.stdout.str().replace("opscheck-", "")
    assert not (pytester.path / "reports").exists()


def test_a_crashing_custom_check_is_reason_error_with_its_traceback(service, run_checks, pytester):
    # A team's own check module using our fixtures: a bug in it must not pass as a service failure.
    pytester.makepyfile(test_custom="def test_custom(smoke_check, opscheck_http):\n    1 / 0\n")
    run = run_checks("--base-url", service().base_url, str(pytester.path / "test_custom.py"))
    check = [c for c in run.results["checks"] if "test_custom" in c["nodeid"]][0]
    assert check["outcome"] == "failed" and check["reason"] == "error"
    assert "ZeroDivisionError" in check["message"]


def test_without_a_profile_the_plugin_imports_only_its_own_small_modules(tmp_path):
    # Installing opscheck must cost other projects' pytest sessions next to nothing: no httpx,
    # jsonschema, yaml or hypothesis import until a profile is found (measured: ~7 ms in all).
    script = (
        "import json, sys, pytest\n"
        "pytest.main(['--co', '-q', '-p', 'no:cacheprovider', *sys.argv[2:]])\n"
        "json.dump(sorted(sys.modules), open(sys.argv[1], 'w'))\n"
    )

    def modules(*args: str) -> set[str]:
        out = tmp_path / f"modules{len(args)}.json"
        subprocess.run([sys.executable, "-c", script, str(out), *args], cwd=tmp_path, capture_output=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k not in ("OPSCHECK_PROFILE", "PYTEST_BASE_URL")})
        return set(json.loads(out.read_text()))

    added = modules() - modules("-p", "no:opscheck")
    assert added == {"opscheck", "opscheck.plugin", "opscheck.outcome", "opscheck.families", "opscheck.families.registry",
                     "opscheck.plugin.fixtures", "opscheck.plugin.gcpolicy", "opscheck.config", "opscheck.config.discovery",
                     # the hook modules of the gate, the nightly job and the drill (pytest_plugins): small by rule
                     "opscheck.plugin.gate", "opscheck.plugin.sampling", "opscheck.plugin.nightly",
                     "opscheck.plugin.alerting", "opscheck.plugin.drill"}
