"""Exact band comparisons, durations, timestamps and JSON paths (opscheck.measure.bands)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from opscheck.measure.bands import (
    Band,
    age_seconds,
    classify,
    describe,
    format_duration,
    json_path_get,
    parse_duration,
    parse_timestamp,
    to_decimal,
)

D = Decimal
H = 3600

# "data freshness < 6 h, warning > 8 h, critical > 12 h" (in seconds)
FRESHNESS = Band(target=parse_duration("6h"), warn=parse_duration("8 h"), critical=parse_duration("12h"))
# "PAR_90 target < 3 %, warning > 3 %, critical > 5 %"
PAR_90 = Band(target=D("3"), warn=D("3"), critical=D("5"))


# --- the runbook sentences --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "level"),
    [(5, "ok"), (6, "ok"), (7, "ok"), (8, "ok"), (9, "warn"), (12, "warn"), (13, "fail")],
)
def test_freshness_band(hours: int, level: str) -> None:
    assert classify(D(hours * H), FRESHNESS) == level


def test_freshness_just_past_each_bound() -> None:
    assert classify(D(8 * H) + D("0.000001"), FRESHNESS) == "warn"
    assert classify(D(12 * H) + D("0.000001"), FRESHNESS) == "fail"


@pytest.mark.parametrize(
    ("value", "level"),
    [("2.9", "ok"), ("3", "ok"), ("3.01", "warn"), ("3.4", "warn"), ("5", "warn"), ("5.01", "fail")],
)
def test_par_90_band(value: str, level: str) -> None:
    assert classify(to_decimal(value), PAR_90) == level


def test_band_converts_plain_numbers_exactly() -> None:
    assert Band(target=3, warn="3 %", critical=5.0) == PAR_90
    assert Band(warn=0.1).warn == D("0.1")


def test_band_rejects_warning_beyond_critical() -> None:
    with pytest.raises(ValueError, match="beyond critical"):
        Band(warn=6, critical=5)
    with pytest.raises(ValueError, match="beyond critical"):
        Band(warn=99, critical="99.9", direction="below")
    with pytest.raises(ValueError, match="direction"):
        Band(warn=1, direction="sideways")  # type: ignore[arg-type]


# --- bounds, inclusivity, direction -------------------------------------------------------------


def test_equality_at_bound_depends_on_inclusive() -> None:
    exclusive = Band(warn=3, critical=5)
    inclusive = Band(warn=3, critical=5, inclusive=True)
    assert classify(D(3), exclusive) == "ok"
    assert classify(D(3), inclusive) == "warn"
    assert classify(D(5), exclusive) == "warn"
    assert classify(D(5), inclusive) == "fail"
    assert classify(D("2.999"), inclusive) == "ok"


def test_direction_below_lower_is_worse() -> None:
    uptime = Band(target="99.9", warn="99.5", critical="99", direction="below")
    assert classify(D("99.95"), uptime) == "ok"
    assert classify(D("99.5"), uptime) == "ok"  # exclusive: reaching the bound is not yet a warning
    assert classify(D("99.49"), uptime) == "warn"
    assert classify(D("99"), uptime) == "warn"
    assert classify(D("98.99"), uptime) == "fail"
    inclusive = Band(warn="99.5", critical="99", direction="below", inclusive=True)
    assert classify(D("99.5"), inclusive) == "warn"
    assert classify(D("99"), inclusive) == "fail"


def test_band_with_only_some_bounds() -> None:
    assert classify(D(100), Band()) == "ok"
    assert classify(D(6), Band(critical=5)) == "fail"
    assert classify(D(6), Band(warn=5)) == "warn"


# --- exactness ---------------------------------------------------------------------------------


def test_to_decimal_is_exact() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal(0.1) != D(0.1)  # the binary expansion
    assert to_decimal(0.1 + 0.2) == D("0.30000000000000004")  # float arithmetic stays visible
    assert to_decimal(7) == D(7)
    assert to_decimal(10**30) == D("1" + "0" * 30)
    assert to_decimal("3.5") == D("3.5")
    assert to_decimal("3.5%") == D("3.5")
    assert to_decimal(" 12 ") == D(12)
    assert to_decimal(" 4.25 % ") == D("4.25")
    assert to_decimal(D("1.50")) == D("1.50")


@pytest.mark.parametrize(
    "bad",
    [True, False, None, float("nan"), float("inf"), "NaN", "Infinity", "-inf", "", "abc", "3.5.1", [], D("NaN")],
)
def test_to_decimal_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="not a number"):
        to_decimal(bad)


def test_value_just_over_critical_fails() -> None:
    assert classify(to_decimal("5.000000000000001"), PAR_90) == "fail"
    assert float("5.000000000000001") == 5.000000000000001  # float still tells them apart here...
    assert classify(to_decimal("5.0000000000000001"), PAR_90) == "fail"  # ...but not here
    assert float("5.0000000000000001") == 5.0


def test_describe_shows_value_exactly() -> None:
    assert describe(to_decimal("0.3"), Band(target="0.5", warn=1)) == "0.3 within target < 0.5 (warning > 1)"
    assert "0.30000000000000004" not in describe(to_decimal("0.3"), PAR_90, "%")
    assert describe(to_decimal("5.000000000000001"), PAR_90, "%").startswith("5.000000000000001 % > critical 5 %")
    assert describe(D("3.40"), PAR_90, "%").startswith("3.40 %")  # the value as read, trailing zero kept
    assert describe(D("1E-7"), Band(warn=1)) == "0.0000001 ok (warning > 1)"  # never exponent notation


def test_describe_each_level() -> None:
    assert describe(D("2.9"), PAR_90, "%") == "2.9 % within target < 3 % (warning > 3 %, critical > 5 %)"
    assert describe(D("3"), PAR_90, "%") == "3 % ok, outside target < 3 % (warning > 3 %, critical > 5 %)"
    assert describe(D("3.4"), PAR_90, "%") == "3.4 % > warning 3 % (critical > 5 %, target < 3 %)"
    assert describe(D("5.01"), PAR_90, "%") == "5.01 % > critical 5 % (warning > 3 %, target < 3 %)"
    inclusive = Band(warn=3, critical=5, inclusive=True)
    assert describe(D(5), inclusive) == "5 >= critical 5 (warning >= 3)"
    uptime = Band(target="99.9", warn="99.5", critical="99", direction="below")
    assert describe(D("99.2"), uptime, "%") == "99.2 % < warning 99.5 % (critical < 99 %, target > 99.9 %)"
    assert describe(D(1), Band()) == "1 ok"


def test_describe_freshness_with_duration_format() -> None:
    msg = describe(D(9 * H + 12 * 60), FRESHNESS, fmt=format_duration)
    assert msg == "9 h 12 min > warning 8 h (critical > 12 h, target < 6 h)"
    ok = "5 h within target < 6 h (warning > 8 h, critical > 12 h)"
    assert describe(D(5 * H), FRESHNESS, fmt=format_duration) == ok
    # Just past a bound the rounded text equals the bound's; the exact value is added.
    assert describe(D(8 * H + 30), FRESHNESS, "s", fmt=format_duration).startswith("8 h (28830 s) > warning 8 h")


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6h", 6 * H),
        ("8 h", 8 * H),
        ("90m", 5400),
        ("30s", 30),
        ("2d", 2 * 86400),
        ("1h30m", 5400),
        ("1h 30m 15s", 5415),
        ("1.5h", 5400),
        ("15 min", 900),
        ("2 hours", 7200),
        ("6H", 6 * H),
        ("90", 90),
        (" 2.5 ", D("2.5")),
        (45, 45),
        (0.1, D("0.1")),
    ],
)
def test_parse_duration(text: str | int | float, seconds: int | Decimal) -> None:
    assert parse_duration(text) == D(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a duration: ''"),
        ("soon", "not a duration: 'soon'"),
        ("6x", "unknown unit 'x'"),
        ("h6", "not a duration"),
        ("6h30", "not a duration: '6h30'"),
        ("-5m", "not a duration"),
        (-5, "negative"),
        ("1h,30m", "not a duration"),
    ],
)
def test_parse_duration_rejects(text: str | int, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_duration(text)
    if isinstance(text, str) and text:
        assert "expected e.g." in str(info.value)  # the message says what would have worked


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (D(45), "45 s"),
        (D("0.5"), "0.5 s"),
        (D(0), "0 s"),
        (D(90), "1 min 30 s"),
        (D(7 * H + 12 * 60 + 59), "7 h 12 min"),
        (D(8 * H), "8 h"),
        (D(2 * 86400 + 3 * H + 5), "2 d 3 h"),
        (D(-120), "in the future by 2 min"),
        (D("-45"), "in the future by 45 s"),
    ],
)
def test_format_duration(seconds: Decimal, text: str) -> None:
    assert format_duration(seconds) == text


# --- timestamps --------------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", T0),
        ("2024-05-01T12:00:00+00:00", T0),
        ("2024-05-01T14:00:00+02:00", T0),
        ("2024-05-01T12:00:00", T0),  # naive: UTC
        ("2024-05-01 12:00:00.250Z", T0 + timedelta(milliseconds=250)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        (1714564800, T0),
        (1714564800.5, T0 + timedelta(milliseconds=500)),
        ("1714564800", T0),
        (1714564800123, T0 + timedelta(milliseconds=123)),  # > 1e11: milliseconds
        ("1714564800123", T0 + timedelta(milliseconds=123)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), T0),
        (date(2024, 5, 1), datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(value: object, expected: datetime) -> None:
    got = parse_timestamp(value)
    assert got == expected
    assert got.tzinfo == UTC


@pytest.mark.parametrize("bad", ["yesterday", "", "2024-13-01", "12:00", True, None, [], float("nan"), 10**30])
def test_parse_timestamp_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp(bad)


def test_age_seconds_is_exact() -> None:
    assert age_seconds(T0, T0 + timedelta(hours=9)) == D(9 * H)
    assert age_seconds(T0, T0 + timedelta(seconds=1, microseconds=1)) == D("1.000001")
    assert age_seconds(T0 + timedelta(minutes=2), T0) == D(-120)
    assert age_seconds(datetime(2024, 5, 1, 12), T0 + timedelta(hours=1)) == D(H)  # naive ts is UTC
    recent = age_seconds(datetime.now(UTC) - timedelta(hours=1))
    assert D(H) <= recent < D(H + 60)


def test_freshness_end_to_end() -> None:
    now = T0 + timedelta(hours=13)
    age = age_seconds(parse_timestamp("2024-05-01T12:00:00Z"), now)
    assert classify(age, FRESHNESS) == "fail"
    assert describe(age, FRESHNESS, fmt=format_duration) == "13 h > critical 12 h (warning > 8 h, target < 6 h)"


# --- JSON paths --------------------------------------------------------------------------------

DOC = {
    "summary": {"par_90": 2.9, "par_30": "4.1%"},
    "runs": [{"finished_at": "2024-05-01T12:00:00Z"}, {"finished_at": 1714564800}],
    "labels": {"app.kubernetes.io/name": "etl"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("summary.par_90", 2.9),
        ("$.summary.par_90", 2.9),
        ("$summary.par_30", "4.1%"),
        ("runs[0].finished_at", "2024-05-01T12:00:00Z"),
        ("$.runs[1].finished_at", 1714564800),
        ("runs[-1].finished_at", 1714564800),
        ('labels["app.kubernetes.io/name"]', "etl"),
        ("$", DOC),
    ],
)
def test_json_path_get(path: str, expected: object) -> None:
    assert json_path_get(DOC, path) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("summary.par_91", "summary.par_91: no such field (have: par_30, par_90)"),
        ("$.nope", "nope: no such field (have: labels, runs, summary)"),
        ("runs[5].finished_at", "runs[5]: no such index (have 2 items)"),
        ("runs.finished_at", "runs.finished_at: not an object (is list)"),
        ("summary[0]", "summary[0]: not a list (is object)"),
        ("summary.par_90.x", "summary.par_90.x: not an object (is number)"),
        ("runs[0].started_at", "runs[0].started_at: no such field (have: finished_at)"),
    ],
)
def test_json_path_get_missing(path: str, message: str) -> None:
    with pytest.raises(LookupError) as info:
        json_path_get(DOC, path)
    assert str(info.value) == message


def test_json_path_get_bad_syntax() -> None:
    with pytest.raises(ValueError, match="bad path"):
        json_path_get(DOC, "summary..par_90")


def test_kpi_end_to_end() -> None:
    value = to_decimal(json_path_get(DOC, "summary.par_30"))
    assert classify(value, PAR_90) == "warn"
    assert describe(value, PAR_90, "%") == "4.1 % > warning 3 % (critical > 5 %, target < 3 %)"
