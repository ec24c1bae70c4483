"""JSON values built from a schema: the flattened schema, and a small body that conforms to it.

`ValueBuilder.conforming` gives the body `build_request` sends for a required request body that
documents no example, and the base every invalid body of contract.mutate is one change away from.
Strings that must match a `pattern` come from hypothesis (`matching_string`): the simplest match,
the same on every run. Builds on contract.validate only.
"""

from __future__ import annotations

import copy
import functools
import math
import random
import re
import string
from collections.abc import Callable
from typing import Any

from opscheck.contract.validate import resolve_pointer

__all__ = ["MAX_DEPTH", "ValueBuilder", "int_or", "matching_string"]

MAX_DEPTH = 4  # nesting levels built (and mutated) below the top
# A conforming value per `format`, where "opscheck" would not do.
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "ops@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


class ValueBuilder:
    """Walks one schema inside its (translated) document: `document` resolves its local `$ref`s."""

    def __init__(self, document: Any, seed: int) -> None:
        self.document = document
        self.seed = seed

    # -- the schema as one flat object ----------------------------------------------------------

    def effective(self, schema: Any, depth: int = 0) -> dict:
        """`schema` with local `$ref`s followed and `allOf` merged (enough to build bodies from)."""
        if schema is True or not isinstance(schema, dict):
            return {} if schema is not False else {"not": {}}
        if depth > 8:
            return {}
        out = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        parts = []
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            target = resolve_pointer(self.document, ref[1:])
            if isinstance(target, dict):
                parts.append(self.effective(target, depth + 1))
        for sub in schema.get("allOf") or []:
            parts.append(self.effective(sub, depth + 1))
        for part in parts:
            for key, value in part.items():
                if key == "properties" and isinstance(out.get(key), dict):
                    out[key] = {**value, **out[key]}
                elif key == "required" and isinstance(out.get(key), list):
                    out[key] = list(dict.fromkeys([*out[key], *value]))
                else:
                    out.setdefault(key, value)
        return out

    def types(self, s: dict) -> list[str]:
        declared = s.get("type")
        if isinstance(declared, str):
            return [declared]
        if isinstance(declared, list):
            return [t for t in declared if isinstance(t, str)]
        if "properties" in s or "required" in s or "additionalProperties" in s:
            return ["object"]
        if "items" in s or "prefixItems" in s:
            return ["array"]
        if "enum" in s or "const" in s:
            return []
        for key in ("anyOf", "oneOf"):
            if isinstance(s.get(key), list):
                found: list[str] = []
                for branch in s[key]:
                    for t in self.types(self.effective(branch)) or ["?"]:
                        if t not in found:
                            found.append(t)
                return [t for t in found if t != "?"] if "?" not in found else []
        return []

    # -- a (mostly) valid body -------------------------------------------------------------------

    def conforming(self, schema: Any, depth: int) -> Any:
        """A small JSON value `schema` (usually) accepts: its const, first enum value, default, else built.

        Built from the first declared type, nested at most MAX_DEPTH levels below `depth`. Not
        every keyword is honoured (e.g. `not`, `if`): callers check the result with
        `CompiledSchema.is_valid` before they rely on it.
        """
        s = self.effective(schema)
        if "const" in s:
            return copy.deepcopy(s["const"])
        if isinstance(s.get("enum"), list) and s["enum"]:
            return copy.deepcopy(next((v for v in s["enum"] if v is not None), s["enum"][0]))
        if "default" in s and s["default"] is not None:
            return copy.deepcopy(s["default"])
        types = [t for t in self.types(s) if t != "null"]
        if not types:
            for key in ("anyOf", "oneOf"):
                branches = s.get(key) if isinstance(s.get(key), list) else []
                for branch in branches:
                    if self.types(self.effective(branch)) != ["null"]:
                        return self.conforming(branch, depth)
            return None if "null" in self.types(s) else "opscheck"
        kind = types[0]
        if kind == "object":
            return self._conforming_object(s, depth)
        if kind == "array":
            if depth >= MAX_DEPTH:
                return []
            count = max(int_or(s.get("minItems"), 0), 1)
            if int_or(s.get("maxItems"), count) < count:
                count = int_or(s.get("maxItems"), 0)
            item = self.conforming(s.get("items", {}), depth + 1)
            return [copy.deepcopy(item) for _ in range(min(count, 50))]
        if kind == "string":
            return self._conforming_string(s)
        if kind in ("integer", "number"):
            return self._conforming_number(s, kind)
        if kind == "boolean":
            return True
        return None

    def _conforming_object(self, s: dict, depth: int) -> dict:
        properties = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        names = [n for n in s.get("required") or [] if isinstance(n, str)]
        for name in properties:
            if len(names) >= int_or(s.get("minProperties"), 0):
                break
            if name not in names:
                names.append(name)
        if depth >= MAX_DEPTH:
            return {name: "opscheck" for name in names}
        return {name: self.conforming(properties.get(name, {}), depth + 1) for name in names}

    def _conforming_string(self, s: dict) -> str:
        low, high = int_or(s.get("minLength"), 0), int_or(s.get("maxLength"), 10_000)
        pattern = s.get("pattern")
        if isinstance(pattern, str):
            found = matching_string(pattern, low, high, self.seed)
            if found is not None:
                return found
        text = _FORMATS.get(str(s.get("format")), "opscheck")
        if len(text) > high:
            text = text[:high]
        return text + "x" * max(0, low - len(text))

    def _conforming_number(self, s: dict, kind: str) -> int | float:
        value: float = 0
        if isinstance(s.get("minimum"), (int, float)):
            value = s["minimum"]
        elif isinstance(s.get("exclusiveMinimum"), (int, float)):
            value = s["exclusiveMinimum"] + 1
        elif isinstance(s.get("maximum"), (int, float)) and s["maximum"] < 0:
            value = s["maximum"]
        elif isinstance(s.get("exclusiveMaximum"), (int, float)) and s["exclusiveMaximum"] <= 0:
            value = s["exclusiveMaximum"] - 1
        step = s.get("multipleOf")
        if isinstance(step, (int, float)) and step > 0:
            value = math.ceil(value / step) * step
        if kind == "integer":
            return math.ceil(value)
        return value


def int_or(value: Any, default: int) -> int:
    """`value` when it is an integer (a bool is none), else `default`: schema keywords may hold anything."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@functools.lru_cache(maxsize=256)
def matching_string(pattern: str, low: int, high: int, seed: int) -> str | None:
    """The simplest printable-ASCII string `pattern` matches within the length bounds, via hypothesis.

    `find` shrinks to the minimal example, so the answer does not depend on the run.
    """
    try:
        re.compile(pattern)
    except re.error:
        return None
    import hypothesis
    from hypothesis import strategies as st

    settings = hypothesis.settings(
        database=None,
        max_examples=200,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    fits: Callable[[str], bool] = lambda text: low <= len(text) <= high and re.search(pattern, text) is not None
    try:
        return hypothesis.find(st.from_regex(pattern, alphabet=string.printable), fits, settings=settings, random=random.Random(seed))
    except (hypothesis.errors.NoSuchExample, hypothesis.errors.Unsatisfiable, hypothesis.errors.InvalidArgument):
        return None
    except Exception:  # noqa: BLE001 - a strategy hypothesis cannot build must not break the caller
        return None
