"""Compare one response with an `expect:` block; the first mismatch becomes a CheckFailed."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from opscheck import jsonvalue
from opscheck.transport.http import Response
from opscheck.outcome import CheckFailed, Reason

_MISSING = object()


@dataclass(frozen=True)
class Expect:
    status: tuple[int, ...] = (200,)
    json: Any = None
    has_json: bool = False
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body_contains: str | None = None
    max_ms: float | None = None

    @classmethod
    def from_profile(cls, raw: Mapping[str, Any], default_status: tuple[int, ...] = (200,)) -> Expect:
        from opscheck.config.profile import status_set

        return cls(
            status=status_set(raw.get("status"), default_status),
            json=raw.get("json"),
            has_json="json" in raw,
            content_type=raw.get("content_type"),
            headers=dict(raw.get("headers", {})),
            body_contains=raw.get("body_contains"),
            max_ms=raw.get("max_ms"),
        )


def expect_status(response: Response, expected: tuple[int, ...], label: str, detail: str = "") -> None:
    if response.status in expected:
        return
    want = " or ".join(map(str, expected))
    suffix = f"; {detail}" if detail else ""
    raise CheckFailed(Reason.STATUS, f"{label}: status {response.status}, expected {want}{suffix}", response.evidence,
                      observed=response.status, limit=want, unit="status")


def check_expect(response: Response, expect: Expect, label: str) -> None:
    expect_status(response, expect.status, label)
    if expect.content_type and not response.content_type.lower().startswith(expect.content_type.lower()):
        raise CheckFailed(
            Reason.BODY,
            f"{label}: content type {response.content_type or '(none)'!r}, expected {expect.content_type!r}",
            response.evidence,
        )
    for name, want in expect.headers.items():
        got = response.headers.get(name)
        if got is None:
            raise CheckFailed(Reason.BODY, f"{label}: header {name} missing, expected {want!r}", response.evidence)
        if want != "*" and got != want:
            raise CheckFailed(Reason.BODY, f"{label}: header {name} is {got!r}, expected {want!r}", response.evidence)
    if expect.body_contains is not None and expect.body_contains not in response.text:
        raise CheckFailed(Reason.BODY, f"{label}: body does not contain {expect.body_contains!r}", response.evidence)
    if expect.has_json:
        mismatch = json_mismatch(response.json(label), expect.json)
        if mismatch:
            raise CheckFailed(Reason.BODY, f"{label}: {mismatch}", response.evidence)
    if expect.max_ms is not None and response.elapsed_ms > expect.max_ms:
        raise CheckFailed(
            Reason.LATENCY, f"{label}: answered in {response.elapsed_ms:.1f} ms, budget {expect.max_ms:g} ms", response.evidence,
            observed=response.elapsed_ms, limit=expect.max_ms, unit="ms",
        )


def json_mismatch(actual: Any, expected: Any, path: str = "$") -> str | None:
    """Where `actual` fails to contain `expected` (objects: a subset of keys; lists: item by item).

    Scalars match by JSON type and value: numbers exactly (1.0 matches 1, 0.1 from YAML matches a
    body's 0.1, 5.00000000000000001 does not match 5), and a boolean never matches a number, nor a
    string a number ("5" is not 5). None on success, else one line naming the first mismatch.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path} is {_kind(actual)}, expected an object"
        for key, want in expected.items():
            got = actual.get(key, _MISSING)
            if got is _MISSING:
                return f"{path}.{key} is missing, expected {_show(want)}"
            found = json_mismatch(got, want, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path} is {_kind(actual)}, expected a list"
        if len(actual) < len(expected):
            return f"{path} has {len(actual)} items, expected at least {len(expected)}"
        for index, want in enumerate(expected):
            found = json_mismatch(actual[index], want, f"{path}[{index}]")
            if found:
                return found
        return None
    if _same_scalar(actual, expected):
        return None
    kinds = f" ({_kind(actual)}, expected {_kind(expected)})" if _kind(actual) != _kind(expected) else ""
    return f"{path} is {_show(actual)}, expected {_show(expected)}{kinds}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)  # bool is an int


def _same_scalar(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _is_number(expected):
        from opscheck.measure.bands import to_decimal  # floats through repr: YAML's 0.1 is the body's 0.1

        try:
            return to_decimal(actual) == to_decimal(expected)
        except ValueError:  # NaN or out of range on one side: only identical objects match
            return actual is expected
    if _is_number(actual) or _is_number(expected) or isinstance(actual, bool) != isinstance(expected, bool):
        return False
    return bool(type(actual) is type(expected) and actual == expected)


def _kind(value: Any) -> str:
    if _is_number(value):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    return jsonvalue.show(value, 60)
