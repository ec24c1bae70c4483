"""Compare one response with an `expect:` block; the first mismatch becomes a CheckFailed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from opscheck.http import Response
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
        from opscheck.profile import status_set

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
    raise CheckFailed(Reason.STATUS, f"{label}: status {response.status}, expected {want}{suffix}", response.evidence)


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
            Reason.LATENCY, f"{label}: answered in {response.elapsed_ms:.1f} ms, budget {expect.max_ms:g} ms", response.evidence
        )


def json_mismatch(actual: Any, expected: Any, path: str = "$") -> str | None:
    """Where `actual` fails to contain `expected` (objects: a subset of keys; lists: item by item)."""
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
    # bool is an int in Python; true must not match 1.
    if actual != expected or isinstance(actual, bool) != isinstance(expected, bool):
        return f"{path} is {_show(actual)}, expected {_show(expected)}"
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
