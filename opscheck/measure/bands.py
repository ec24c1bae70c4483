"""Exact comparisons for KPI bands and data freshness.

Values are Decimals end to end so a bound is never crossed (or missed) by float rounding, and
the failure message shows the value exactly as it was read. Every number is bounded as in
opscheck.jsonvalue (at most 4300 digits, decimal exponent within +-10000) and every one shown goes
through `jsonvalue.format_decimal`, so no value can expand into a billion-digit string.

Impossible sides, as audited (the band itself is one-sided; these are judged by the callers):
- an age is negative when a stamp lies in the future: beyond MAX_CLOCK_SKEW_S that is a time-zone or
  clock error, never "fresh" (families/freshness.py);
- durations (`parse_duration`) are never negative;
- a percentage of a whole (unit "%") is never negative (families/thresholds.py);
- an epoch timestamp outside years 1..9999 is out of range, not clamped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from opscheck import jsonvalue
from opscheck.jsonvalue import format_decimal

# A stamp up to this far in the future still counts as "now": clocks of two hosts disagree by
# seconds, rarely minutes. Beyond it the stamp is wrong (a local time labelled Z, a bad clock).
MAX_CLOCK_SKEW_S = Decimal(300)

Level = Literal["ok", "warn", "fail"]


def to_decimal(value: object) -> Decimal:
    """Exact conversion: floats go through repr, so 0.1 is Decimal("0.1"), not its binary expansion.

    Accepts int, float, Decimal and numeric strings ("3.5", "4.25 %"). Raises ValueError "not a
    number: ..." for anything else (bools, NaN, infinities), and jsonvalue.OutOfRange (a ValueError,
    "number out of range: 1e999999999 ...") past the digit/exponent bounds.
    """
    if isinstance(value, bool) or value is None:  # bool is an int subclass; True is not 1 %
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if value.bit_length() > jsonvalue.MAX_DIGITS * 10 // 3:  # more than ~4300 digits
            raise jsonvalue.out_of_range(f"an integer of {value.bit_length()} bits")
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            return jsonvalue.parse_number(text)
        except jsonvalue.NotJson:
            raise ValueError(f"not a number: {jsonvalue.literal(repr(value))}") from None
    else:
        raise ValueError(f"not a number: {jsonvalue.literal(repr(value))}")
    if not result.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return jsonvalue.check_decimal(result, format_decimal(result))


@dataclass(frozen=True)
class Band:
    """E.g. "PAR_90 target < 3 %, warning > 3 %, critical > 5 %" is Band(target=3, warn=3, critical=5).

    The target is informational and always strict ("< 3"); only warn and critical change the level.
    Ints, floats and strings are accepted and converted exactly.
    """

    target: Decimal | None = None
    warn: Decimal | None = None
    critical: Decimal | None = None
    direction: Literal["above", "below"] = "above"
    inclusive: bool = False

    def __post_init__(self) -> None:
        if self.direction not in ("above", "below"):
            raise ValueError(f"direction must be 'above' or 'below', not {self.direction!r}")
        for name in ("target", "warn", "critical"):
            raw = getattr(self, name)
            if raw is not None:
                object.__setattr__(self, name, to_decimal(raw))
        warn, critical = self.warn, self.critical
        if warn is not None and critical is not None and self._beyond(warn, critical, strict=True):
            raise ValueError(f"warning {warn} lies beyond critical {critical} for direction {self.direction!r}")

    def _beyond(self, value: Decimal, bound: Decimal, strict: bool | None = None) -> bool:
        strict = not self.inclusive if strict is None else strict
        if self.direction == "above":
            return value > bound if strict else value >= bound
        return value < bound if strict else value <= bound

    def _op(self) -> str:
        return (">" if self.direction == "above" else "<") + ("=" if self.inclusive else "")

    def _target_op(self) -> str:
        return "<" if self.direction == "above" else ">"


def classify(value: Decimal, band: Band) -> Level:
    value = to_decimal(value)
    if band.critical is not None and band._beyond(value, band.critical):
        return "fail"
    if band.warn is not None and band._beyond(value, band.warn):
        return "warn"
    return "ok"


def _exact(value: Decimal) -> str:
    return format_decimal(value)  # plain while short, exact scientific beyond; never rounded


def describe(
    value: Decimal, band: Band, unit: str = "", *, fmt: Callable[[Decimal], str] | None = None
) -> str:
    """One line: the actual value and the bound that applied, e.g.
    "3.4 % > warning 3 % (critical > 5 %, target < 3 %)". `fmt` (e.g. format_duration) renders
    value and bounds instead of "<exact> <unit>"; the exact value is added when fmt hides it.
    """
    value = to_decimal(value)
    suffix = f" {unit}" if unit else ""

    def show(x: Decimal) -> str:
        return fmt(x) if fmt else f"{_exact(x)}{suffix}"

    op, level = band._op(), classify(value, band)
    parts = {
        "warning": f"warning {op} {show(band.warn)}" if band.warn is not None else None,
        "critical": f"critical {op} {show(band.critical)}" if band.critical is not None else None,
        "target": f"target {band._target_op()} {show(band.target)}" if band.target is not None else None,
    }
    shown = show(value)
    if level != "ok":
        bound = band.critical if level == "fail" else band.warn
        assert bound is not None
        name = "critical" if level == "fail" else "warning"
        if fmt and fmt(bound) == shown:  # "8 h > warning 8 h" would read as a bug
            shown += f" ({_exact(value)}{suffix})"
        head = f"{shown} {op} {name} {show(bound)}"
        rest = [parts[k] for k in ("warning", "critical", "target") if k != name and parts[k]]
    elif band.target is not None:
        met = value < band.target if band.direction == "above" else value > band.target
        head = f"{shown} {'within' if met else 'ok, outside'} {parts['target']}"
        rest = [p for p in (parts["warning"], parts["critical"]) if p]
    else:
        head = f"{shown} ok"
        rest = [p for p in (parts["warning"], parts["critical"]) if p]
    return f"{head} ({', '.join(rest)})" if rest else head


_UNITS = {
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}  # fmt: skip
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*")


def parse_duration(text: str | int | float) -> Decimal:
    """Seconds. "6h", "8 h", "90m", "30s", "2d", "1h30m"; a bare number is seconds."""
    hint = "expected e.g. '6h', '90m', '1h30m', '2d', '30s' or a number of seconds"
    if not isinstance(text, str):
        seconds = to_decimal(text)
    else:
        s = text.strip().lower()
        try:
            seconds = to_decimal(s) if s and not s.endswith("%") else None
        except jsonvalue.OutOfRange:
            raise
        except ValueError:
            seconds = None
        if seconds is None:
            pos, total = 0, Decimal(0)
            while s and pos < len(s) and (m := _PART.match(s, pos)):
                if m.group(2) not in _UNITS:
                    raise ValueError(f"not a duration: {text!r}: unknown unit {m.group(2)!r} ({hint})")
                total += Decimal(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if not s or pos != len(s):
                raise ValueError(f"not a duration: {text!r} ({hint})")
            seconds = total
    if seconds < 0:
        raise ValueError(f"not a duration: {text!r} is negative")
    return jsonvalue.check_decimal(seconds, str(text))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


_LAST_SECOND = Decimal(253402300799)  # 9999-12-31T23:59:59Z, datetime's last year
_FIRST_SECOND = Decimal(-62135596800)  # 0001-01-01T00:00:00Z


def _from_epoch(seconds: Decimal, original: object) -> datetime:
    if abs(seconds) > Decimal("1e11"):  # year 5138 in seconds, 1973 in milliseconds: it is ms
        seconds = seconds / 1000
    if not _FIRST_SECOND <= seconds <= _LAST_SECOND:  # before the arithmetic: 1e10000 stays cheap
        raise ValueError(f"not a timestamp: {jsonvalue.literal(repr(original))} is out of range (years 1 to 9999)")
    try:
        return _EPOCH + timedelta(microseconds=int((seconds * 1_000_000).to_integral_value()))
    except OverflowError:
        raise ValueError(f"not a timestamp: {original!r} is out of range") from None


def parse_timestamp(value: object) -> datetime:
    """Aware UTC datetime from ISO 8601 (Z/offset/naive=UTC/date-only) or epoch s or ms."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        try:
            return _from_epoch(to_decimal(value), value)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
    elif isinstance(value, str):
        text = value.strip()
        if _NUMERIC.fullmatch(text):
            return _from_epoch(to_decimal(text), value)
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r} (expected ISO 8601 or epoch seconds/ms)") from None
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # naive timestamps in pipeline output are UTC by convention
    return dt.astimezone(UTC)


def age_seconds(ts: datetime, now: datetime | None = None) -> Decimal:
    """now - ts, exact to the microsecond (timedelta.total_seconds() is a float)."""
    ts = parse_timestamp(ts)
    now = parse_timestamp(now) if now is not None else datetime.now(UTC)
    delta = now - ts
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros) / 1_000_000


def format_duration(seconds: Decimal) -> str:
    """Two largest units, truncated: "7 h 12 min", "2 d 3 h", "45 s"; negative -> "in the future by ..."."""
    seconds = to_decimal(seconds)
    if seconds < 0:
        return f"in the future by {format_duration(-seconds)}"
    if seconds >= _LONGEST:  # int() and divmod of 1e10000 would be a 10000-digit detour
        return f"{format_decimal(seconds)} s"
    if seconds < 60:
        return f"{_exact(seconds.quantize(Decimal('0.001')).normalize())} s"
    whole = int(seconds)
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    for i, (name, size) in enumerate(units):
        if whole >= size:
            first, rest = divmod(whole, size)
            second_name, second_size = units[i + 1]
            second = rest // second_size
            return f"{first} {name} {second} {second_name}" if second else f"{first} {name}"
    raise AssertionError("unreachable")


_LONGEST = Decimal(10**12)  # ~31,700 years


_SEGMENT = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")


class FieldAbsent(LookupError):
    """The path leads to a field or index that the document does not have (nothing to measure)."""

    def __init__(self, path: str, have: str) -> None:
        super().__init__(f"{path}: no such {'index' if path.endswith(']') else 'field'} ({have})")
        self.path = path
        self.have = have


def _kind(doc: object) -> str:
    if isinstance(doc, bool):
        return "boolean"
    if isinstance(doc, (int, float, Decimal)):
        return "number"
    names = {dict: "object", list: "list", str: "string", type(None): "null"}
    return names.get(type(doc), type(doc).__name__)


def json_path_get(doc: object, path: str) -> object:
    """ "summary.par_90", "runs[0].finished_at", "$.a.b", 'labels["app.kubernetes.io/name"]'.

    Raises FieldAbsent (a LookupError) for a missing field or index, LookupError when a step meets
    the wrong kind of value ("not an object (is list)"), ValueError for a malformed path.
    """
    rest = path.strip()
    rest = rest.removeprefix("$")
    rest = rest.removeprefix(".")
    here, pos = "", 0
    while pos < len(rest):
        m = _SEGMENT.match(rest, pos)
        if not m:
            raise ValueError(f"bad path {path!r} at {rest[pos:]!r}")
        pos = m.end()
        if m.group(2) is not None:
            index = int(m.group(2))
            here += f"[{index}]"
            if not isinstance(doc, list):
                raise LookupError(f"{here}: not a list (is {_kind(doc)})")
            if not -len(doc) <= index < len(doc):
                raise FieldAbsent(here, f"have {len(doc)} items")
            doc = doc[index]
            continue
        key = next(g for g in (m.group(1), m.group(3), m.group(4)) if g is not None)
        here += f"[{key!r}]" if m.group(1) is None else (f".{key}" if here else key)
        if not isinstance(doc, dict):
            raise LookupError(f"{here}: not an object (is {_kind(doc)})")
        if key not in doc:
            keys = sorted(map(str, doc))
            have = ", ".join(keys[:20]) + (f", ... ({len(keys)} in all)" if len(keys) > 20 else "")
            raise FieldAbsent(here, f"have: {have or 'nothing'}")
        doc = doc[key]
    return doc
