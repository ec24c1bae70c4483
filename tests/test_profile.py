"""Profile loading: every mistake is reported as file:line: field: cause."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from opscheck.profile import ProfileError, load_profile, profile_schema

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = "# Runbook\n## API Not Responding\nRestart it.\n## Monitoring & Alerts\nLook.\n"


def write(tmp_path: Path, text: str, runbook: str | None = RUNBOOK) -> Path:
    if runbook is not None:
        (tmp_path / "RUNBOOK.md").write_text(runbook)
    path = tmp_path / "opscheck.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None, **kw) -> list[str]:
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, text, **kw), environ=env or {})
    return [str(p) for p in info.value.problems]


def test_full_example_loads_into_typed_cases(tmp_path):
    path = write(tmp_path, """\
        service: inventory-api
        runbook: RUNBOOK.md
        runbook_url: https://git.example.com/ops/RUNBOOK.md
        http: {timeout_s: 3}
        auth: {header: X-API-Key, keys_env: KEYS}
        environments:
          local: {base_url: "http://127.0.0.1:8000/", allow_mutating: true}
        smoke:
          - {name: api-health, path: /health, expect: {status: [200, 204], json: {status: ok}, max_ms: 1000},
             runbook: "#api-not-responding", severity: critical}
          - {name: post, method: POST, path: /x, json: [1], runbook: "Monitoring & Alerts"}
        readiness: {live: /health/live, ready: /health/ready, runbook: "#api-not-responding"}
    """)
    profile = load_profile(path, environ={"KEYS": "old-key; new-key"})
    smoke = profile.smoke[0]
    assert smoke.expect.status == (200, 204) and smoke.expect.json == {"status": "ok"} and smoke.expect.max_ms == 1000
    assert smoke.section.anchor == "api-not-responding" and smoke.severity == "critical"
    assert smoke.line == 9 and smoke.field == "smoke[0]"
    assert profile.smoke[1].mutating and profile.smoke[1].section.title == "Monitoring & Alerts"
    assert profile.smoke[1].severity == "error"
    assert profile.auth.keys == ("old-key", "new-key")
    assert profile.secrets == {"old-key", "new-key"}
    assert profile.environments["local"].base_url == "http://127.0.0.1:8000"
    assert profile.http.timeout_s == 3 and profile.http.deadline_s == 9  # default deadline: 3 x timeout_s
    assert [c.name for c in profile.readiness] == ["live", "ready"]
    assert profile.link(smoke.section) == "https://git.example.com/ops/RUNBOOK.md#api-not-responding"


def test_interpolation_with_defaults_and_types(tmp_path):
    path = write(tmp_path, """\
        service: ${SERVICE:-fallback}
        environments:
          ci: {base_url: "http://${HOST}:${PORT:-8000}"}
        smoke:
          - {name: a, path: /, expect: {max_ms: "${BENCH_FAIL_THRESHOLD_MS:-250}"}}
          - {name: b, path: "/cost$$"}
    """)
    profile = load_profile(path, environ={"HOST": "127.0.0.1"})
    assert profile.service == "fallback"
    assert profile.environments["ci"].base_url == "http://127.0.0.1:8000"
    assert profile.smoke[0].expect.max_ms == 250  # a number, not the string "250"
    assert profile.smoke[1].path == "/cost$"


def test_values_from_secret_looking_variables_are_secrets(tmp_path):
    path = write(tmp_path, """\
        service: s
        smoke: [{name: a, path: "/x?token=${MY_TOKEN}", headers: {X-Sig: "${SIGNING_SECRET}"}}]
    """)
    profile = load_profile(path, environ={"MY_TOKEN": "t-123456", "SIGNING_SECRET": "s-987654"})
    assert {"t-123456", "s-987654"} <= profile.secrets


def test_missing_variable_names_line_and_field(tmp_path):
    found = problems(tmp_path, """\
        service: s
        environments:
          prod: {base_url: "https://${PROD_HOST}"}
    """)
    assert found == [f"{tmp_path / 'opscheck.yaml'}:3: environments.prod.base_url: environment variable PROD_HOST is not set (write ${{PROD_HOST:-default}} for a fallback)"]


def test_typo_in_field_suggests_the_right_name(tmp_path):
    found = problems(tmp_path, """\
        service: s
        smoke:
          - name: a
            path: /
            expect: {status: 200, mx_ms: 5}
    """)
    assert found == [f"{tmp_path / 'opscheck.yaml'}:5: smoke[0].expect.mx_ms: unknown field; did you mean 'max_ms'?"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("service: s\nsmoke: [{name: a, path: /, expect: {status: 'ok'}}]\n", ":2: smoke[0].expect.status: must be an integer or a list, not text"),
        ("service: s\nsmoke: [{name: a, path: health}]\n", ":2: smoke[0].path: must match the pattern '^/'"),
        ("service: s\nhttp: {timeout_s: -1}\n", ":2: http.timeout_s: must be greater than 0"),
        ("service: s\nhttp: {timeout_s: 10, deadline_s: 5}\n", ":2: http.deadline_s: deadline_s (5.0) must be at least timeout_s (10.0)"),
        ("smoke: []\n", ": 'service' is a required property"),
        ("service: s\nenvironments: {prod: {base_url: ftp://x}}\n", ":2: environments.prod.base_url: must match the pattern '^https?://'"),
        ("service: s\nsmoke:\n  - {name: a, path: /}\n  - {name: a, path: /b}\n", ":4: smoke[1].name: duplicate check name 'a'"),
        ("service: s\nservice: t\n", ":2: service: duplicate key (first defined on line 1)"),
        ("service: [unclosed\n", ":2: invalid YAML"),
        ("- just\n- a list\n", ":1: the profile must be a YAML mapping"),
    ],
)
def test_each_mistake_is_one_clear_line(tmp_path, text, expected):
    found = problems(tmp_path, text)
    assert any(expected in line for line in found), found
    assert all(line.startswith(str(tmp_path / "opscheck.yaml")) for line in found)


def test_unknown_runbook_section_suggests_the_closest(tmp_path):
    found = problems(tmp_path, """\
        service: s
        runbook: RUNBOOK.md
        smoke:
          - {name: a, path: /, runbook: "#api-not-respnding"}
          - {name: b, path: /, runbook: "Monitoring and Alerts"}
    """)
    assert f"{tmp_path / 'opscheck.yaml'}:4: smoke[0].runbook: unknown runbook section '#api-not-respnding' in " in found[0]
    assert "closest: '#api-not-responding'" in found[0]
    assert "smoke[1].runbook" in found[1] and "'Monitoring & Alerts'" in found[1]


def test_family_default_section_is_checked_and_used(tmp_path):
    found = problems(tmp_path, """\
        service: s
        runbook: RUNBOOK.md
        defaults: {smoke: {runbook: "#nope"}}
        smoke: [{name: a, path: /}]
    """)
    assert ":3: defaults.smoke.runbook: unknown runbook section '#nope'" in found[0]


def test_section_without_a_runbook_file_and_missing_runbook_file(tmp_path):
    assert "names runbook section '#x' but the profile sets no `runbook:` file" in problems(
        tmp_path, "service: s\nsmoke: [{name: a, path: /, runbook: '#x'}]\n")[0]
    found = problems(tmp_path, "service: s\nrunbook: docs/MISSING.md\n", runbook=None)
    assert found[0].endswith("MISSING.md: file not found") and ":2: runbook:" in found[0]


def test_missing_profile_file(tmp_path):
    with pytest.raises(ProfileError) as info:
        load_profile(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: profile not found"


def test_published_schema_is_valid_and_accepts_the_bundled_profiles():
    schema = profile_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    for path in (ROOT / "opscheck.yaml", ROOT / "opscheck/demo/opscheck.yaml"):
        load_profile(path, environ={})  # raises on any problem


def test_root_profile_is_the_demo_profile_with_a_repo_relative_runbook():
    root = yaml.safe_load((ROOT / "opscheck.yaml").read_text())
    demo = yaml.safe_load((ROOT / "opscheck/demo/opscheck.yaml").read_text())
    assert root.pop("runbook") == "opscheck/demo/RUNBOOK.md"
    demo.pop("runbook")
    for entry in root.get("schema", []):
        entry["schema"] = entry["schema"].removeprefix("opscheck/demo/")
    assert json.dumps(root, sort_keys=True) == json.dumps(demo, sort_keys=True)
