"""Mutated profiles never break `opscheck lint`: exit 0 or 4, `file:line: ...` lines, no traceback, no hang.

Valid profiles (the bundled demo profile and the test suite's own) are mutated at the text level
(cut, duplicated and swapped lines, hostile characters and YAML syntax spliced in) and at the
structure level (a value anywhere replaced by a hostile one, a key dropped or added), then linted
in-process under a per-case time bound.

CI keeps the example count small. Run it longer with, for example:

    OPSCHECK_FUZZ_EXAMPLES=1000 python -m pytest tests/unit/test_profile_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscheck.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "opscheck" / "demo"
EXAMPLES = int(os.environ.get("OPSCHECK_FUZZ_EXAMPLES", "60"))
CASE_BOUND_S = 10  # one lint of a profile this size takes well under a second

SEEDS = [
    (DEMO / "opscheck.yaml").read_text(encoding="utf-8"),
    """\
service: inventory-api
runbook: RUNBOOK.md
http: {timeout_s: 3, headers: {X-Team: ops}}
auth: {header: X-API-Key, keys_env: KEYS}
environments:
  local: {base_url: "http://127.0.0.1:8000/", allow_mutating: true}
smoke:
  - {name: api-health, path: /health, expect: {status: [200, 204], json: {status: ok}, max_ms: 1000},
     runbook: "#api-not-responding", severity: critical}
  - {name: post, method: POST, path: /x, json: [1], runbook: "Monitoring & Alerts"}
readiness: {live: /health/live, ready: /health/ready}
thresholds: [{name: par, source: /kpi, field: par_90, warn: 3, critical: "5 %"}]
freshness: [{name: f, source: /kpi, field: at, warn_after: 6h, fail_after: 12h}]
tls: {warn_days: 30, fail_days: 7}
slo: [{name: s, path: /health, requests: 20, p95_ms: 200}]
""",
]

# Fragments that broke the loader before (see issue 9 §2) and their relatives.
HOSTILE_TEXT = [
    "[", "]", "{", "}", ":", ": ", "- ", "? ", ",", "&a ", "*a", "&a [*a]", "<<: *a", "!!binary ", "!!python/name:os.system",
    "!foo ", "'", '"', "#", "|", ">", "\t", "\x00", "\x01", "\x7f", "\ufeff", "é", "\u2028", "${X}", "${MY_TOKEN}",
    "$$", ".inf", "-.inf", ".nan", "1e999999999", "9" * 200, "0x" + "f" * 120, "0o17", "1:20", "1_000", "NO", "on",
    "~", "null", "true", "[a]: b", "true: 1", "\r\n", "\r", "---\n", "...\n", "%YAML 1.1\n", "[" * 700, "{a: " * 80,
]
HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**120), max_value=10**120),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "5 ms", "1e999999999", "Sécurité", "a\r\nX-Injected: 1", "\x00", "../../../dev/zero",
                     "/dev/zero", "${MY_TOKEN}", "${UNSET_VAR}", "#nope", "http://", "ftp://x", "/", "NO", "off"]),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=1), max_leaves=100),
)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, path + (index,))
    return out


def _set(document: Any, path: tuple, value: Any, drop: bool) -> Any:
    if not path:
        return value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@st.composite
def text_mutants(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SEEDS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["splice", "cut", "dup", "swap", "truncate"]))
        i = draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
        if not lines:
            lines = [""]
        if op == "splice":
            line = lines[i]
            at = draw(st.integers(min_value=0, max_value=len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(HOSTILE_TEXT)) + line[at:]
        elif op == "cut" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            lines = lines[: i + 1]
    return "".join(lines)


@st.composite
def structure_mutants(draw: st.DrawFn) -> str:
    document = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(document)))
        op = draw(st.sampled_from(["replace", "drop", "add"]))
        if op == "add" and isinstance(_get(document, path), dict):
            _get(document, path)[draw(st.sampled_from(["x", "true", "1", "Équipe", "", "name"]))] = draw(HOSTILE_VALUES)
        else:
            document = _set(document, path, draw(HOSTILE_VALUES), drop=op == "drop" and bool(path))
    return yaml.safe_dump(document, allow_unicode=draw(st.booleans()), default_flow_style=draw(st.sampled_from([None, True, False])))


def _get(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copy(DEMO / "RUNBOOK.md", folder / "RUNBOOK.md")
    shutil.copytree(DEMO / "schemas", folder / "schemas")
    return folder


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang()


def lint_in_process(folder: Path, text: str) -> tuple[int, str, str, float]:
    path = folder / "opscheck.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_BOUND_S)
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(["lint", "--profile", str(path)])
    except _Hang:
        pytest.fail(f"lint ran past {CASE_BOUND_S} s on:\n{text[:2000]}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue(), time.monotonic() - started


def check_verdict(folder: Path, text: str) -> None:
    code, out, err, took = lint_in_process(folder, text)
    shown = f"exit {code}\nstdout: {out}\nstderr: {err}\nprofile:\n{text[:3000]}"
    assert code in (0, 4), shown
    assert "Traceback" not in out + err and "internal error" not in err, shown
    where = re.escape(str(folder / "opscheck.yaml"))
    for line in err.splitlines():
        # Every problem and warning names the file and the line: `file:line: [field:] cause`.
        assert re.match(rf"{where}:\d+: \S", line), shown
    if code == 0:
        assert out.startswith(f"{folder / 'opscheck.yaml'}: ok: "), shown
        assert all(": warning: " in line for line in err.splitlines()), shown
    else:
        assert err.strip(), shown
    assert took < CASE_BOUND_S


FUZZ = settings(max_examples=EXAMPLES, deadline=CASE_BOUND_S * 1000, derandomize=EXAMPLES <= 60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
                database=None)


@FUZZ
@given(text=text_mutants())
def test_a_profile_mutated_as_text_lints_to_exit_0_or_4_with_file_and_line(workdir, text):
    check_verdict(workdir, text)


@FUZZ
@given(text=structure_mutants())
def test_a_profile_mutated_in_structure_lints_to_exit_0_or_4_with_file_and_line(workdir, text):
    check_verdict(workdir, text)


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_every_seed_profile_lints_clean(workdir, seed):
    code, out, err, _ = lint_in_process(workdir, SEEDS[seed])
    assert code == 0, err
