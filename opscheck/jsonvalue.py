"""The one JSON reader for values that are compared or shown: exact numbers, bounded work.

`loads` turns a body (or a file) into Python values where every number with a fraction or an
exponent is an exact `decimal.Decimal` (integers stay `int`), so `5.00000000000000001` stays above
`5`. It refuses, with a `JsonError` (a ValueError), what would cost unbounded time or memory later:

- nesting deeper than `MAX_DEPTH` (256) levels: checked by a scan before parsing, so a body of
  100,000 nested arrays never reaches a recursive parser (no RecursionError);
- a number literal with more than `MAX_DIGITS` (4300, Python's own int/str limit) digits, or whose
  decimal exponent lies beyond +-`MAX_EXPONENT` (10000): `1e999999999` is "out of range" instead
  of a value that some later `format(x, "f")` or `int(x)` would expand to a billion digits;
- `NaN`, `Infinity` and `-Infinity`, which Python accepts but JSON does not.

`format_decimal` renders any Decimal in bounded space: plain notation while that is short,
exact scientific notation beyond it, and an abbreviated mantissa past `SHOWN_DIGITS` digits.
`show` renders a parsed value as short JSON text for messages. `plain` turns the Decimals back
into floats for code that mixes them with floats (jsonschema against a YAML schema, request
bodies built from an OpenAPI document): exactly what json.loads would have returned.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DEPTH = 256
MAX_DIGITS = 4300
MAX_EXPONENT = 10_000
PLAIN_CHARS = 40  # plain notation up to this length; "0.00000001" stays readable, 1e50 does not
SHOWN_DIGITS = 30  # mantissa digits shown before a value is abbreviated

# A string (escapes included) or one bracket. Strings are matched whole so the brackets inside
# them are skipped; the unrolled form never backtracks.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset("[{")


class JsonError(ValueError):
    """A body or file that is not usable JSON. `detail` is the cause without the subject."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}" if what else detail)
        self.what = what
        self.detail = detail


class NotJson(JsonError):
    """Not JSON at all: a syntax error, bad encoding, or a non-JSON constant such as NaN."""


class TooDeep(JsonError):
    """Nested deeper than MAX_DEPTH levels."""


class OutOfRange(JsonError):
    """A number with too many digits or too large an exponent to handle in bounded space."""


def literal(text: str, size: int = 24) -> str:
    """`text` clipped for a message, with its full length when clipped."""
    return text if len(text) <= size else f"{text[:size]}... ({len(text)} characters)"


def out_of_range(shown: str, what: str = "") -> OutOfRange:
    return OutOfRange(what, f"number out of range: {literal(shown)} (at most {MAX_DIGITS} digits "
                            f"and an exponent within +-{MAX_EXPONENT})")


def check_decimal(value: Decimal, shown: str, what: str = "") -> Decimal:
    """`value` if finite and within the digit and exponent bounds; zero loses its exponent.

    Raises OutOfRange otherwise, NotJson for NaN and infinities (both ValueError).
    """
    if not value.is_finite():
        raise NotJson(what, f"not a number: {literal(shown)!r}")
    if value.is_zero():
        return Decimal(0)  # 0e999999999 is 0; keeping the exponent would print a billion zeros
    digits = value.as_tuple().digits
    if len(digits) > MAX_DIGITS or abs(value.adjusted()) > MAX_EXPONENT:
        raise out_of_range(shown, what)
    return value


def parse_number(text: str, what: str = "") -> Decimal:
    """A decimal literal ("5.01", "-1e-3") as an exact Decimal, within the bounds; else ValueError."""
    # Bound the literal before Decimal() sees it: its exponent digits alone could be huge.
    if len(text) > MAX_DIGITS + 32:
        raise out_of_range(text, what)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise NotJson(what, f"not a number: {literal(text)!r}") from None
    return check_decimal(value, text, what)


def _depth_exceeds(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:  # cheap, and true of most bodies
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif token[0] != '"':
            depth -= 1
    return False


def loads(data: bytes | str, *, what: str) -> Any:
    """JSON text or bytes (UTF-8/16/32, as json.loads detects) -> dict/list/str/int/Decimal/bool/None.

    `what` names the subject in error messages ("GET /summary"). Raises NotJson, TooDeep or
    OutOfRange, all JsonError and so ValueError; never RecursionError.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode(json.detect_encoding(data), "surrogatepass")
        except (UnicodeDecodeError, LookupError) as exc:
            raise NotJson(what, f"not JSON (cannot decode: {exc.reason if isinstance(exc, UnicodeDecodeError) else exc})") from None
    else:
        text = data
    if _depth_exceeds(text, MAX_DEPTH):
        raise TooDeep(what, f"JSON nested too deeply (more than {MAX_DEPTH} levels)")

    def parse_int(literal_text: str) -> int:
        if len(literal_text) - literal_text.startswith("-") > MAX_DIGITS:
            raise out_of_range(literal_text, what)
        return int(literal_text)

    def parse_float(literal_text: str) -> Decimal:
        if len(literal_text) <= SHOWN_DIGITS:  # the common case; only the exponent can be absurd
            value = Decimal(literal_text)
            if value and abs(value.adjusted()) <= MAX_EXPONENT:
                return value
        return parse_number(literal_text, what)

    def parse_constant(name: str) -> Any:
        raise NotJson(what, f"not JSON: {name} is not a JSON number")

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
    except JsonError:
        raise
    except json.JSONDecodeError as exc:
        raise NotJson(what, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:  # the scan above makes this unreachable; kept so no traceback can escape
        raise TooDeep(what, f"JSON nested too deeply (more than {MAX_DEPTH} levels)") from None


def format_decimal(value: Decimal | int) -> str:
    """Exact text for a number, in bounded space, never via 'f' of a huge exponent.

    "5.00000000000000001", "0.001", "1E+999999999", "1.2345E+44"; past SHOWN_DIGITS significant
    digits the mantissa is cut: "1.23...E+4299 (4300 digits)".
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() <= 3 * PLAIN_CHARS:  # ~36 digits: str() is cheap and exact
            return str(value)
        value = Decimal(value)  # exact; str() of a huge int would hit the 4300-digit limit
    if not value.is_finite():
        return str(value)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    count = len(digits)
    plain = count + exponent if exponent >= 0 else max(count, -exponent) + 2
    if plain <= PLAIN_CHARS:
        return format(value, "f")
    if count <= SHOWN_DIGITS:
        return format(value, "E")
    head = "".join(map(str, digits[:SHOWN_DIGITS]))
    return f"{'-' if sign else ''}{head[0]}.{head[1:]}...E{value.adjusted():+d} ({count} digits)"


def show(value: Any, limit: int = 60) -> str:
    """`value` as JSON text for a message, at most `limit` characters; Decimals via format_decimal."""
    out: list[str] = []
    budget = [limit + 1]

    def put(text: str) -> bool:
        out.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(item: Any, depth: int) -> bool:
        if depth > MAX_DEPTH:
            return put("...")
        if item is None or isinstance(item, bool):
            return put("null" if item is None else "true" if item else "false")
        if isinstance(item, (int, Decimal)):
            return put(format_decimal(item))
        if isinstance(item, float):
            return put(repr(item))
        if isinstance(item, str):
            return put(json.dumps(item[: max(budget[0], 0) + 1], ensure_ascii=False))
        if isinstance(item, dict):
            if not put("{"):
                return False
            for index, (key, sub) in enumerate(item.items()):
                if not put((", " if index else "") + json.dumps(str(key)[: max(budget[0], 0) + 1]) + ": "):
                    return False
                if not walk(sub, depth + 1):
                    return False
            return put("}")
        if isinstance(item, (list, tuple)):
            if not put("["):
                return False
            for index, sub in enumerate(item):
                if index and not put(", "):
                    return False
                if not walk(sub, depth + 1):
                    return False
            return put("]")
        return put(repr(item)[: max(budget[0], 0) + 1])

    walk(value, 0)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plain(value: Any) -> Any:
    """`value` with every Decimal replaced by float(d), as json.loads would have read it.

    For consumers that need float semantics; values compared against bands stay Decimal.
    Recursion is bounded by MAX_DEPTH for anything `loads` returned.
    """
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: plain(sub) for key, sub in value.items()}
    if isinstance(value, list):
        return [plain(sub) for sub in value]
    return value
