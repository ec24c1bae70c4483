"""Values that are compared or shown: exact JSON numbers, bounded depth, bounded digits and formatting.

The pure rules (opscheck.jsonvalue, bands, expect.json matching), without sockets; the same rules
through the real families against a loopback server are in tests/e2e/test_values_e2e.py.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterator

import httpx
import pytest

from opscheck import jsonvalue
from opscheck.measure.bands import (Band, FieldAbsent, classify, describe, format_duration, json_path_get, parse_duration,
                            parse_timestamp, to_decimal)
from opscheck.evidence.kinds import Evidence
from opscheck.contract.expect import json_mismatch
from opscheck.transport.http import Response
from opscheck.jsonvalue import MAX_DEPTH, OutOfRange, TooDeep, format_decimal, loads
from opscheck.outcome import CheckFailed, Reason

D = Decimal
DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB, 100,000 levels (issue 9 §1 "Deep JSON")


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def small_peak() -> Iterator[Callable[[], int]]:
    """Peak bytes allocated by Python inside the test: a billion-digit string would be ~1 GB."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- jsonvalue.loads: exact numbers ---------------------------------------------------------------


def test_json_numbers_with_a_fraction_or_exponent_become_exact_decimals() -> None:
    doc = loads(b'{"par_90": 5.00000000000000001, "n": 7, "e": 1.5e3, "neg": -0.25}', what="t")
    assert doc == {"par_90": D("5.00000000000000001"), "n": 7, "e": D("1.5E+3"), "neg": D("-0.25")}
    assert type(doc["n"]) is int  # ints stay ints: JSON Schema's "integer" still recognises them
    assert doc["par_90"] > 5


def test_numbers_within_the_bounds_are_kept_whole() -> None:
    assert loads("[" + "9" * 4300 + "]", what="t") == [int("9" * 4300)]
    assert loads("[1e10000, -1e-10000]", what="t") == [D("1e10000"), D("-1e-10000")]


@pytest.mark.parametrize(
    "literal",
    ["1e999999999", "-1e999999999", "1e-999999999", "1e10001", "1" * 4301, "0." + "1" * 4301, "1e" + "9" * 5000],
)
def test_absurd_number_literals_are_out_of_range_not_built(literal: str, small_peak: Callable[[], int]) -> None:
    with pytest.raises(OutOfRange, match="GET /x: number out of range: ") as info:
        loads(f'{{"v": {literal}}}', what="GET /x")
    assert isinstance(info.value, ValueError)
    assert len(str(info.value)) < 200  # the literal is clipped in the message
    assert small_peak() < 5_000_000


def test_zero_with_a_huge_exponent_is_just_zero() -> None:
    assert loads("[0e999999999, -0.0E-999999999]", what="t") == [0, 0]
    assert format_decimal(loads("[0e999999999]", what="t")[0]) == "0"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant: str) -> None:
    with pytest.raises(jsonvalue.NotJson, match=f"{constant.lstrip('-')} is not a JSON number"):
        loads(f"[{constant}]", what="t")


def test_syntax_errors_say_where() -> None:
    with pytest.raises(jsonvalue.NotJson, match=r"GET /a: not JSON \(Expecting value at line 1 column 7\)"):
        loads(b'{"a": }', what="GET /a")


def test_utf16_and_bom_bodies_are_read_like_json_loads_reads_them() -> None:
    assert loads('{"a": 1.5}'.encode("utf-16"), what="t") == {"a": D("1.5")}
    assert loads(b'\xef\xbb\xbf{"a": 2}', what="t") == {"a": 2}


# --- jsonvalue.loads: depth ------------------------------------------------------------------------


def test_nesting_up_to_the_bound_is_parsed() -> None:
    doc = loads(nested(MAX_DEPTH), what="t")
    for _ in range(MAX_DEPTH - 1):
        doc = doc[0]
    assert doc == []


def test_one_level_past_the_bound_is_too_deep() -> None:
    with pytest.raises(TooDeep, match=f"t: JSON nested too deeply \\(more than {MAX_DEPTH} levels\\)"):
        loads(nested(MAX_DEPTH + 1), what="t")
    with pytest.raises(TooDeep):
        loads('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), what="t")


def test_100000_nested_arrays_fail_cleanly_without_recursion_error() -> None:
    with pytest.raises(TooDeep) as info:
        loads(DEEP, what="GET /deep")
    assert "JSON nested too deeply" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None  # no RecursionError inside


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"s": "[" * 1000, "t": 'a\\"[{' * 500, "u": "]}" * 1000})
    assert loads(text, what="t")["s"] == "[" * 1000


# --- format_decimal and show ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("5.00000000000000001"), "5.00000000000000001"),
        (D("3.40"), "3.40"),
        (D("1E-7"), "0.0000001"),
        (D("1E+3"), "1000"),
        (D("1e999999999"), "1E+999999999"),
        (D("-1e-999999999"), "-1E-999999999"),
        (D("12345e40"), "1.2345E+44"),
        (7, "7"),
        (True, "true"),
    ],
)
def test_format_decimal(value: Decimal | int, text: str) -> None:
    assert format_decimal(value) == text


def test_format_decimal_never_builds_a_billion_digits(small_peak: Callable[[], int]) -> None:
    assert format_decimal(D("1e999999999")) == "1E+999999999"
    assert format_decimal(D("9" * 4300)) == "9." + "9" * 29 + "...E+4299 (4300 digits)"
    assert format_decimal(10**5000).endswith("E+5000 (5001 digits)")  # str() of it would raise
    assert small_peak() < 1_000_000


def test_show_is_short_json_with_exact_numbers() -> None:
    assert jsonvalue.show({"a": [D("0.1"), True, None, "x"]}) == '{"a": [0.1, true, null, "x"]}'
    assert jsonvalue.show(D("1e999999999")) == "1E+999999999"
    assert len(jsonvalue.show(["y" * 1000] * 1000, 60)) == 60


# --- bands: bounds, timestamps, durations, paths -------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["1e999999999", " 1e999999999 %", D("1e999999999"), pytest.param(10**5000, id="int-of-5001-digits"), "1" * 5000]
)
def test_to_decimal_refuses_absurd_numbers_with_a_clear_error(bad: object, small_peak: Callable[[], int]) -> None:
    with pytest.raises(OutOfRange, match="number out of range"):
        to_decimal(bad)
    assert small_peak() < 5_000_000


def test_a_profile_bound_out_of_range_is_a_value_error_a_builder_can_place() -> None:
    with pytest.raises(ValueError, match="number out of range: 1e999999999"):
        Band(critical="1e999999999")
    with pytest.raises(ValueError, match="number out of range"):
        parse_duration("1e999999999")


def test_a_large_but_bounded_value_is_described_in_bounded_text() -> None:
    band = Band(warn=3, critical=5)
    text = describe(to_decimal("1e10000"), band, "%")
    assert text.startswith("1E+10000 % > critical 5 %")
    assert format_duration(parse_duration("1e10000")) == "1E+10000 s"


def test_epoch_timestamps_are_exact_to_the_microsecond() -> None:
    base = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_timestamp(D("1714564800.000001")) == base + timedelta(microseconds=1)
    assert parse_timestamp(loads("[1714564800.000001]", what="t")[0]) == base + timedelta(microseconds=1)
    assert parse_timestamp("1714564800123.5") == base + timedelta(milliseconds=123, microseconds=500)


@pytest.mark.parametrize("bad", [D("1e10000"), "1" + "0" * 30, D("-1e12") * 1000])
def test_epoch_timestamps_out_of_datetime_range_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp(bad)


def test_an_absent_field_or_index_is_field_absent_a_wrong_shape_is_not() -> None:
    doc = {"summary": {"par_30": 1}, "runs": []}
    with pytest.raises(FieldAbsent, match=r"summary.par_90: no such field \(have: par_30\)"):
        json_path_get(doc, "summary.par_90")
    with pytest.raises(FieldAbsent):
        json_path_get(doc, "runs[0]")
    with pytest.raises(LookupError, match="not an object") as info:
        json_path_get(doc, "summary.par_30.x")
    assert not isinstance(info.value, FieldAbsent)


def test_exact_values_decide_the_band() -> None:
    band = Band(target=3, warn=3, critical=5)
    assert classify(loads('{"v": 5.00000000000000001}', what="t")["v"], band) == "fail"
    assert classify(loads('{"v": 5.0}', what="t")["v"], band) == "warn"


# --- expect.json subset matching ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"n": 1.0}', {"n": 1}),
        ('{"n": 1}', {"n": 1.0}),
        ('{"r": 0.1}', {"r": 0.1}),  # YAML's float 0.1 is the 0.1 that was written
        ('{"r": 0.30000000000000004}', {"r": 0.1 + 0.2}),
        ('{"b": true, "s": "x", "z": null}', {"b": True, "s": "x", "z": None}),
        ('{"a": [1, 2.50, {"k": 3}], "extra": 0}', {"a": [1, 2.5, {"k": 3}]}),
    ],
)
def test_expect_json_matches_equal_values(body: str, expected: Any) -> None:
    assert json_mismatch(loads(body, what="t"), expected) is None


@pytest.mark.parametrize(
    ("body", "expected", "message"),
    [
        ('{"par_90": 5.00000000000000001}', {"par_90": 5}, "$.par_90 is 5.00000000000000001, expected 5"),
        ('{"ok": 1}', {"ok": True}, "$.ok is 1, expected true (a number, expected a boolean)"),
        ('{"ok": true}', {"ok": 1}, "$.ok is true, expected 1 (a boolean, expected a number)"),
        ('{"ok": false}', {"ok": 0}, "$.ok is false, expected 0"),
        ('{"v": "1.10"}', {"v": 1.1}, '$.v is "1.10", expected 1.1 (a string, expected a number)'),
        ('{"v": 1.10}', {"v": "1.10"}, '$.v is 1.10, expected "1.10" (a number, expected a string)'),
        ('{"v": null}', {"v": 0}, "$.v is null, expected 0"),
        ('{"v": 0.1}', {"v": 0.10000000000000001}, None),  # the same float: repr is 0.1
        ('{"v": 1e999}', {"v": 1}, "$.v is 1E+999, expected 1"),
    ],
)
def test_expect_json_mismatches_are_exact_and_typed(body: str, expected: Any, message: str | None) -> None:
    found = json_mismatch(loads(body, what="t"), expected)
    assert found == message or (message is not None and found is not None and found.startswith(message))


# --- consumers that need floats get what json.loads gave them --------------------------------------


def test_schema_validation_of_an_exact_body_against_a_float_schema_behaves_as_before() -> None:
    from opscheck.contract import validate

    body = loads(b'{"a": 0.1, "b": 0.25, "d": 2.0}', what="t")
    schema = {"properties": {"a": {"enum": [0.1], "const": 0.1}, "b": {"multipleOf": 0.05, "maximum": 1},
                             "d": {"type": "integer"}}}
    assert validate(body, schema) == []  # Decimal vs float: enum/const failed, multipleOf crashed
    assert jsonvalue.plain({"x": [D("1.5"), 2, "s"]}) == {"x": [1.5, 2, "s"]}


# --- Response.json: every refusal is a `body` failure -----------------------------------------------


def response(body: bytes) -> Response:
    return Response(status=200, headers=httpx.Headers({"content-type": "application/json"}), body=body,
                    truncated=False, elapsed_ms=1.0, evidence=Evidence(method="GET", url="http://h/x", request_id="r"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (DEEP, "GET /x: JSON nested too deeply (more than 256 levels)"),
        (b'{"v": 1e999999999}', "GET /x: number out of range: 1e999999999"),
        (b"[NaN]", "GET /x: body is not JSON: NaN is not a JSON number: '[NaN]'"),
        (b"<html>", "GET /x: body is not JSON (Expecting value at line 1 column 1): '<html>'"),
    ],
)
def test_response_json_refusals_are_body_failures(body: bytes, message: str) -> None:
    with pytest.raises(CheckFailed) as info:
        response(body).json("GET /x")
    assert info.value.reason is Reason.BODY
    assert info.value.message.startswith(message)
    assert info.value.__cause__ is None


# --- data family rules, driven without a server ---------------------------------------------------


class FakeBuilder:
    """The part of profile.Builder that the data family's build uses."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.problems: list[tuple[tuple[Any, ...], str]] = []

    def problem(self, path: tuple[Any, ...], cause: str) -> None:
        self.problems.append((path, cause))

    def common(self, family: str, name: str, path: tuple[Any, ...], entry: Any) -> dict[str, Any]:
        return {"family": family, "name": name, "field": f"{family}[{path[1]}]", "line": None,
                "severity": "major", "section": None}

    def file(self, relative: str) -> Any:
        return self.base / relative

    def unique(self, cases: Any, paths: Any) -> None:
        pass


def test_an_absurd_bound_is_a_problem_at_its_own_key(tmp_path: Any) -> None:
    from opscheck.families import freshness, thresholds

    b = FakeBuilder(tmp_path)
    assert list(thresholds.build([{"name": "t", "file": "x.json", "field": "v", "critical": "1e999999999"}], b)) == []
    assert list(freshness.build([{"name": "f", "file": "x.json", "field": "t", "fail_after": "1e999999999"}], b)) == []
    assert [path for path, _ in b.problems] == [("thresholds", 0, "critical"), ("freshness", 0, "fail_after")]
    assert all(cause.startswith("number out of range: 1e999999999") for _, cause in b.problems)


@pytest.mark.parametrize(("ahead", "skew", "outcome"),
                         [(timedelta(minutes=4), None, "passed"), (timedelta(minutes=6), None, "failed"),
                          (timedelta(minutes=30), "1h", "passed"), (timedelta(hours=2), "1h", "failed")])
def test_a_future_stamp_passes_only_within_the_clock_skew(tmp_path: Any, ahead: timedelta, skew: str | None,
                                                          outcome: str) -> None:
    from types import SimpleNamespace

    from opscheck.families import freshness

    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    (tmp_path / "s.json").write_text(json.dumps({"finished_at": (now + ahead).isoformat()}))
    entry = {"name": "f", "file": "s.json", "field": "finished_at", "fail_after": "12h"}
    if skew:
        entry["max_clock_skew"] = skew
    [case] = freshness.build([entry], FakeBuilder(tmp_path))
    http = SimpleNamespace(client=SimpleNamespace(settings=SimpleNamespace(max_body_bytes=1 << 20)))
    try:
        freshness.run(case, http, now=now)  # type: ignore[arg-type]
        got = "passed"
    except CheckFailed as exc:
        assert exc.reason is Reason.STALE
        assert "in the future: a local time labelled Z, or a clock error?" in exc.message
        got = "failed"
    assert got == outcome
