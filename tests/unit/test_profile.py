"""Profile loading: every mistake is reported as file:line: field: cause."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from opscheck.config.profile import ProfileError, load_profile, profile_schema

ROOT = Path(__file__).resolve().parents[2]
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


# --- hostile profiles: every one ends in file:line: field: cause, exit 4, never a traceback -----

from opscheck.cli import main as cli_main  # noqa: E402


def lint(tmp_path: Path, content: str | bytes, capsys, env: dict[str, str] | None = None,
         monkeypatch=None) -> tuple[int, str]:
    """`opscheck lint` in-process on *content*; (exit code, stderr)."""
    path = tmp_path / "opscheck.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if monkeypatch is not None:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
    code = cli_main(["lint", "--profile", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return code, err


NESTED = "service: s\nsmoke: " + "[" * 600 + "]" * 600 + "\n"
BILLION_LAUGHS = "service: s\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi"))


@pytest.mark.parametrize(("content", "expected"), [
    ("service: s\nx: &a [*a]\n", ":2: recursive alias: this collection contains itself"),
    ("service: s\nx: &a {y: *a}\n", ":2: recursive alias"),
    (NESTED, ":2: nested more than 64 levels deep (column 71)"),
    ("service: s\n[a]: b\n", ":2: a key must be plain text, not a list or a mapping"),
    ("service: s\n? {a: 1}\n: b\n", ":2: a key must be plain text"),
    ("service: s\ntrue: 1\nfoo: 2\n", ":2: true: unknown field"),
    ("service: s\n1: x\nnull: y\n", ":2: 1: unknown field"),
    (BILLION_LAUGHS, ": more than 100000 values here once aliases are expanded"),
], ids=["recursive-list", "recursive-map", "600-deep", "flow-key", "complex-key", "bool-key", "int-key", "billion-laughs"])
def test_a_hostile_document_is_one_clear_line_with_exit_4(tmp_path, capsys, content, expected):
    started = time.monotonic()
    code, err = lint(tmp_path, content, capsys)
    assert code == 4 and expected in err, err
    assert all(line.startswith(f"{tmp_path / 'opscheck.yaml'}:") for line in err.splitlines())
    assert time.monotonic() - started < 5


def test_a_billion_laughs_profile_is_refused_fast_in_a_subprocess(tmp_path):
    path = tmp_path / "opscheck.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 700
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "opscheck", "lint", "--profile", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4 and ":7: more than 100000 values here once aliases are expanded" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - started < 20


def test_aliases_and_merge_keys_that_stay_small_are_read(tmp_path):
    path = write(tmp_path, """\
        service: s
        description: &health /health
        smoke:
          - &base {name: a, path: *health, expect: {status: 200}}
          - <<: *base
            name: b
          - {<<: [*base], name: c, path: /other}
    """, runbook=None)
    smoke = load_profile(path, environ={}).smoke
    assert [(c.name, c.path) for c in smoke] == [("a", "/health"), ("b", "/health"), ("c", "/other")]


@pytest.mark.parametrize(("entry", "expected"), [
    ('slo: [{name: a, path: /, requests: 5, p95_ms: "5 ms"}]', "slo[0].p95_ms: must be a number"),
    ('tls: {fail_days: ""}', "tls.fail_days: must be a number"),
    ("tls: {warn_days: .inf}", "tls.warn_days: `.inf` is not a finite number; quote it if you mean the text"),
    ("tls: {warn_days: -.INF}", "tls.warn_days: `-.INF` is not a finite number"),
    ("tls: {warn_days: .nan}", "tls.warn_days: `.nan` is not a finite number"),
    ('thresholds: [{name: a, source: /, field: x, critical: "1e999999999"}]', "thresholds[0].critical: must be a number"),
    ("thresholds: [{name: a, source: /, field: x, critical: 1e999999999}]", "thresholds[0].critical: `1e999999999` is not a finite number"),
    ("thresholds: [{name: a, source: /, field: x, critical: " + "9" * 150 + "}]", "thresholds[0].critical: `99999"),
    ('thresholds: [{name: a, source: /, field: x, critical: "' + "9" * 60 + '"}]', "thresholds[0].critical: must be a number"),
    ('freshness: [{name: a, source: /, field: x, fail_after: "soon"}]', "freshness[0].fail_after: must be a duration"),
    ("http: {timeout_s: 1e999}", "http.timeout_s: `1e999` is not a finite number"),
    ("http: {max_body_bytes: 0x10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}",
     "http.max_body_bytes: `0x100000"),
    ("smoke: [{name: a, path: /, expect: {max_ms: .inf}}]", "smoke[0].expect.max_ms: `.inf` is not a finite number"),
])
def test_a_bound_that_is_not_a_bounded_number_is_a_profile_error(tmp_path, capsys, entry, expected):
    code, err = lint(tmp_path, f"service: s\n{entry}\n", capsys)
    assert code == 4 and f"opscheck.yaml:2: {expected}" in err, err


@pytest.mark.parametrize(("content", "expected"), [
    (b"", ":1: the profile is empty: it needs at least `service:`"),
    (b"# only a comment\n\n", ":1: the profile is empty"),
    (b"service: s\ndescription: caf\xe9\n", ":2: not valid UTF-8: byte 0xe9 at column 17; save the profile as UTF-8"),
    (b"service: s\n\nx: a\x01b\n", ":3: control character U+0001 at column 5 is not allowed in YAML; remove it"),
    (b"service: s\nx: \x7f\n", ":2: control character U+007F at column 4"),
    (b"service: [a,\n  b\n", ":3: invalid YAML (column 1)"),
])
def test_unreadable_text_names_its_line(tmp_path, capsys, content, expected):
    code, err = lint(tmp_path, content, capsys)
    assert code == 4 and f"opscheck.yaml{expected}" in err, err


def test_a_byte_order_mark_is_not_a_problem(tmp_path):
    path = tmp_path / "opscheck.yaml"
    path.write_bytes("\ufeffservice: s\n".encode())
    assert load_profile(path, environ={}).service == "s"


def test_a_profile_path_that_is_a_device_pipe_or_directory_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for target, cause in (("/dev/zero", "a character device, not a regular file"),
                          (str(fifo), "a named pipe, not a regular file"),
                          (str(tmp_path), "a directory, not a regular file")):
        started = time.monotonic()
        assert cli_main(["lint", "--profile", target]) == 4
        assert capsys.readouterr().err.strip() == f"{target}: cannot read profile: {cause}"
        assert time.monotonic() - started < 5


def test_a_profile_over_one_mib_is_refused(tmp_path, capsys):
    code, err = lint(tmp_path, "service: s\n" + "# padding\n" * 110_000, capsys)
    assert code == 4 and "larger than the 1 MiB limit for profiles" in err


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_runbook_or_ca_file_that_is_not_a_regular_file_is_refused_at_its_line(tmp_path, capsys, kind):
    target = "/dev/zero"
    if kind == "fifo":
        target = str(tmp_path / "pipe")
        os.mkfifo(target)
    started = time.monotonic()
    code, err = lint(tmp_path, f"service: s\nrunbook: {target}\nhttp: {{ca_file: {target}}}\n", capsys)
    assert code == 4 and time.monotonic() - started < 5
    assert f"opscheck.yaml:2: runbook: {target}: a " in err and "not a regular file" in err, err
    assert f"opscheck.yaml:3: http.ca_file: {target}: a " in err, err


# --- secrets never appear in lint output --------------------------------------------------------

SECRET = "s3cr3t-VALUE-42"


@pytest.mark.parametrize("entry", [
    'environments: {prod: {base_url: "${MY_TOKEN}"}}',
    'smoke: [{name: a, path: "${MY_TOKEN}"}]',
    'smoke: [{name: a, path: /, headers: {X-Key: "${MY_TOKEN}\\u00e9"}}]',
    'http: {timeout_s: "${MY_TOKEN}"}',
    'smoke: [{name: a, path: /, expect: {status: "${MY_TOKEN}"}}]',
    'service: ["${MY_TOKEN}"]',
    'thresholds: [{name: a, source: /, field: x, critical: "${MY_TOKEN}"}]',
    'freshness: [{name: a, source: /, field: x, fail_after: "1${MY_TOKEN}"}]',
])
def test_a_value_from_a_secret_variable_never_appears_in_lint_output(tmp_path, capsys, monkeypatch, entry):
    content = f"service: s\n{entry}\n" if not entry.startswith("service") else entry + "\n"
    code, err = lint(tmp_path, content, capsys, env={"MY_TOKEN": SECRET}, monkeypatch=monkeypatch)
    assert code == 4 and "opscheck.yaml:" in err, err
    assert SECRET not in err and "s3cr3t" not in err, err


def test_schema_messages_describe_the_constraint_not_the_value(tmp_path, capsys):
    code, err = lint(tmp_path, "service: s\nenvironments: {prod: {base_url: my-password-here}}\n", capsys)
    assert code == 4 and "my-password-here" not in err
    assert "environments.prod.base_url: must match the pattern '^https?://'" in err


# --- header names and values the transport cannot send --------------------------------------------

@pytest.mark.parametrize(("entry", "expected"), [
    ('http: {headers: {X-Team: "Sécurité"}}', "http.headers.X-Team: must be text an HTTP header can carry"),
    ('http: {headers: {X-Team: "a\\r\\nX-Injected: 1"}}', "http.headers.X-Team: must be text an HTTP header can carry"),
    ('http: {headers: {X-Team: "ops\\n"}}', "http.headers.X-Team: must be text an HTTP header can carry"),
    # The name is shown escaped, so the problem stays on one `file:line:` line (tests/unit/test_profile_fuzz.py).
    ('http: {headers: {"X-Team\\n": a}}', "http.headers.'X-Team\\n': the name must be an HTTP header name"),
    ('http: {headers: {"X Team": a}}', "http.headers.X Team: the name must be an HTTP header name"),
    ('http: {headers: {"Équipe": a}}', "http.headers.Équipe: the name must be an HTTP header name"),
    ('smoke: [{name: a, path: /, headers: {X-Team: "Sécurité"}}]', "smoke[0].headers.X-Team: must be text"),
    ('limits: [{name: a, path: /, headers: {X-Team: "\\u2028"}, max_body_bytes: 10}]', "limits[0].headers.X-Team: must be text"),
    ("auth: {header: X API Key, keys_env: K}", "auth.header: must be an HTTP header name"),
    ('auth: {header: Authorization, scheme: "Bearer\\n", keys_env: K}', "auth.scheme: must be one word"),
])
def test_a_header_the_transport_cannot_send_is_refused_at_its_line(tmp_path, capsys, entry, expected):
    code, err = lint(tmp_path, f"service: s\n{entry}\n", capsys)
    assert code == 4 and f"opscheck.yaml:2: {expected}" in err, err


def test_an_api_key_the_transport_cannot_send_is_refused_without_showing_it(tmp_path, capsys, monkeypatch):
    code, err = lint(tmp_path, "service: s\nauth: {header: X-API-Key, keys_env: KEYS}\n", capsys,
                     env={"KEYS": "good;clé-secrète"}, monkeypatch=monkeypatch)
    assert code == 4 and "opscheck.yaml:2: auth.keys_env: a key in $KEYS has characters an HTTP header cannot carry" in err
    assert "clé" not in err


def test_headers_in_printable_ascii_are_sent_as_written(tmp_path):
    path = write(tmp_path, 'service: s\nhttp: {headers: {X-Team: "ops\tteam (EU) ~1"}}\n', runbook=None)
    assert load_profile(path, environ={}).http.headers == {"X-Team": "ops\tteam (EU) ~1"}


# --- YAML typing: YAML 1.2 core rules, and ${VAR} typed by its field -------------------------------

def test_plain_scalars_follow_yaml_1_2_core_rules(tmp_path):
    path = write(tmp_path, """\
        service: s
        smoke:
          - name: a
            path: /
            headers: {X-Flag: off, X-Other: on, X-Yes: yes, X-Y: y}
            expect:
              json: {country: NO, t: true, T: True, f: FALSE, oct: 0o17, hex: 0x1F, dec: 0755,
                     sexa: 1:20, under: 1_000, date: 2024-01-01, n: null, tilde: ~, f2: 1.10}
    """, runbook=None)
    case = load_profile(path, environ={}).smoke[0]
    assert case.headers == {"X-Flag": "off", "X-Other": "on", "X-Yes": "yes", "X-Y": "y"}
    assert case.expect.json == {"country": "NO", "t": True, "T": True, "f": False, "oct": 15, "hex": 31, "dec": 755,
                                "sexa": "1:20", "under": "1_000", "date": "2024-01-01", "n": None, "tilde": None,
                                "f2": 1.1}


def test_a_whole_value_variable_takes_the_type_its_field_declares(tmp_path):
    path = write(tmp_path, """\
        service: ${SERVICE}
        smoke:
          - name: a
            path: /
            headers: {X-Flag: "${FLAG}"}
            expect:
              status: "${STATUS}"
              max_ms: "${BUDGET}"
              json:
                version: "${APP_VERSION}"
                quoted_flag: "${FLAG}"
                plain: ${APP_VERSION}
        thresholds: [{name: t, source: /, field: x, critical: "${CRIT}"}]
    """, runbook=None)
    env = {"SERVICE": "1.10", "FLAG": "off", "STATUS": "204", "BUDGET": "250", "APP_VERSION": "1.10", "CRIT": "5.00"}
    profile = load_profile(path, environ=env)
    case = profile.smoke[0]
    assert profile.service == "1.10" and case.headers == {"X-Flag": "off"}
    assert case.expect.status == (204,) and case.expect.max_ms == 250
    assert case.expect.json == {"version": "1.10", "quoted_flag": "off", "plain": 1.1}
    assert str(profile.cases("thresholds")[0].band.critical) == "5.00"  # a decimal field keeps the exact text


def test_a_variable_that_is_not_a_number_where_one_is_needed_is_a_type_error(tmp_path):
    found = problems(tmp_path, 'service: s\nhttp: {timeout_s: "${T}"}\n', env={"T": "soon"}, runbook=None)
    assert found == [f"{tmp_path / 'opscheck.yaml'}:2: http.timeout_s: must be a number, not text"]


def test_lint_warns_where_yaml_1_1_reads_a_plain_scalar_differently_and_still_exits_0(tmp_path, capsys):
    code, err = lint(tmp_path, "service: s\nsmoke:\n  - {name: a, path: /, headers: {X-Flag: off},"
                               " expect: {json: {country: NO, ok: 'NO', v: 0755}}}\n", capsys)
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 3, lines
    assert ("opscheck.yaml:3: smoke[0].headers.X-Flag: warning: `off` is text here (YAML 1.2, as opscheck reads it)"
            " but the boolean false for YAML 1.1 tools; quote it (\"off\") if you mean the text") in lines[0]
    assert "smoke[0].expect.json.country: warning: `NO` is text here" in lines[1]
    assert "smoke[0].expect.json.v: warning: `0755` is the number 755 here" in lines[2] and "the number 493" in lines[2]


def test_quoted_and_unambiguous_scalars_give_no_warning(tmp_path):
    path = write(tmp_path, "service: s\nsmoke: [{name: a, path: /, headers: {X: 'off'}, expect: {json: {a: true, b: 12, c: x}}}]\n",
                 runbook=None)
    assert load_profile(path, environ={}).warnings == []


def test_a_builder_that_slips_is_a_profile_error_at_its_section_not_an_internal_error(tmp_path, capsys, monkeypatch):
    import opscheck.families.smoke as smoke

    def slip(raw, builder):
        raise KeyError("expect")

    monkeypatch.setattr(smoke, "build", slip)
    code, err = lint(tmp_path, "service: s\nsmoke: [{name: a, path: /}]\n", capsys)
    assert code == 4 and "opscheck.yaml:2: smoke: cannot read this entry ('expect')" in err, err


@pytest.mark.parametrize("content", ["service: s\nx: &a [*a]\n", 'service: s\nhttp: {headers: {X-Team: "Sécurité"}}\n'])
def test_opscheck_run_refuses_a_hostile_profile_as_a_usage_error_with_its_line(tmp_path, content):
    path = tmp_path / "opscheck.yaml"
    path.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "opscheck", "run", "--profile", str(path), "--base-url", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"{path}:2: " in proc.stderr and "Traceback" not in proc.stdout + proc.stderr


def test_a_schema_file_that_is_a_device_or_pipe_is_refused_at_its_line_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, err = lint(tmp_path, f"service: s\nschema:\n  - {{name: a, path: /, schema: /dev/zero}}\n"
                               f"  - {{name: b, path: /, schema: {fifo}}}\n", capsys)
    assert code == 4 and time.monotonic() - started < 5
    assert "opscheck.yaml:3: schema[0].schema: /dev/zero: a character device, not a regular file" in err, err
    assert f"opscheck.yaml:4: schema[1].schema: {fifo}: a named pipe, not a regular file" in err, err
