"""Request bodies that break a schema: for "does the service reject what its own contract forbids?".

`invalid_bodies` starts from a conforming body (contract.generate) and changes it in one place
per mutation; each candidate is kept only when contract.validate confirms it breaks the schema.
Builds on contract.validate and contract.generate; never on contract.openapi.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from collections.abc import Iterator
from typing import Any

from opscheck.contract.generate import MAX_DEPTH, ValueBuilder, int_or
from opscheck.contract.validate import CompiledSchema

__all__ = ["invalid_bodies"]

_MAX_PROPERTIES = 25  # properties of one object mutated
_MAX_CANDIDATES = 600  # mutations generated before filtering
_WRONG = {  # one value per JSON type, for "wrong type" mutations
    "object": {},
    "array": [],
    "string": "opscheck",
    "integer": 37,
    "number": 3.5,
    "boolean": True,
    "null": None,
}


def invalid_bodies(schema: dict, *, root: dict | None = None, max_examples: int = 20, seed: int = 0) -> list[object]:
    """Up to `max_examples` JSON bodies that each break `schema`, the same list for the same seed.

    Mutations of a conforming body (contract.generate): wrong top-level type, null where not
    nullable, each required field missing, wrong field types (nested objects and array items too), an extra field where
    additionalProperties/unevaluatedProperties is false, values outside enum/const, too short or
    too long strings and arrays, numbers past their bounds, pattern mismatches. Every body returned
    fails `validate(body, schema, root=root)`. When there are more than `max_examples`, they are
    taken one kind of mutation after another (in schema order: top-level type first) so the kinds
    stay varied, and the seed picks which body of each kind.
    """
    if max_examples < 1:
        return []
    contract = CompiledSchema(schema, root)
    engine = _Mutator(contract.document, seed)
    seen: set[str] = set()
    by_kind: dict[str, list[object]] = {}
    for kind, body in itertools.islice(engine.mutations(contract.schema, engine.conforming(contract.schema, 0), 0), _MAX_CANDIDATES):
        try:
            key = json.dumps(body, sort_keys=True)
        except (TypeError, ValueError):
            continue
        if key in seen:
            continue
        seen.add(key)
        if not contract.is_valid(body):
            by_kind.setdefault(kind, []).append(body)
    rng = random.Random(seed)
    queues = []
    for bodies in by_kind.values():
        rng.shuffle(bodies)
        queues.append(bodies)
    chosen: list[object] = []
    while len(chosen) < max_examples and any(queues):
        for queue in queues:
            if queue and len(chosen) < max_examples:
                chosen.append(queue.pop(0))
    return copy.deepcopy(chosen)  # mutations share unchanged parts of the conforming body


class _Mutator(ValueBuilder):
    """The bodies one change away from a conforming one, each labelled with the rule it breaks."""

    def mutations(self, schema: Any, base: Any, depth: int) -> Iterator[tuple[str, Any]]:
        """(kind, body) pairs: `base` changed in one place so that (usually) only one rule breaks."""
        s = self.effective(schema)
        types = self.types(s)
        wrong = [t for t in _WRONG if t not in types and not (t == "integer" and "number" in types)]
        if depth == 0:
            for t in wrong:
                yield ("null" if t == "null" else "type"), copy.deepcopy(_WRONG[t])
        else:  # nested: null, and one value of another family
            if "null" in wrong:
                yield "null", None
            other = "integer" if "string" in types else "string"
            if other in wrong:
                yield "type", _WRONG[other]
        if "const" in s:
            yield "const", _not_in([s["const"]], base)
        if isinstance(s.get("enum"), list) and s["enum"]:
            yield "enum", _not_in(s["enum"], base)
        if isinstance(base, dict):
            yield from self._object_mutations(s, base, depth)
        elif isinstance(base, list):
            yield from self._array_mutations(s, base, depth)
        elif isinstance(base, str):
            yield from self._string_mutations(s, base)
        elif isinstance(base, (int, float)) and not isinstance(base, bool):
            yield from self._number_mutations(s, base, types)

    def _object_mutations(self, s: dict, base: dict, depth: int) -> Iterator[tuple[str, Any]]:
        properties = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        for name in [n for n in s.get("required") or [] if isinstance(n, str)]:
            if name in base:
                yield "required", {k: v for k, v in base.items() if k != name}
        if s.get("additionalProperties") is False or s.get("unevaluatedProperties") is False:
            yield "additionalProperties", {**base, _unused_key(base, properties): "opscheck"}
        if isinstance(s.get("maxProperties"), int):
            extra = {f"opscheck_{i}": "x" for i in range(s["maxProperties"] + 1 - len(base)) if i < 200}
            yield "maxProperties", {**base, **extra}
        if int_or(s.get("minProperties"), 0) > 0:
            yield "minProperties", {}
        if depth >= MAX_DEPTH:
            return
        for name, sub in itertools.islice(properties.items(), _MAX_PROPERTIES):
            child = base[name] if name in base else self.conforming(sub, depth + 1)
            for kind, value in self.mutations(sub, child, depth + 1):
                yield kind, {**base, name: value}

    def _array_mutations(self, s: dict, base: list, depth: int) -> Iterator[tuple[str, Any]]:
        if int_or(s.get("minItems"), 0) > 0:
            yield "minItems", []
        high = s.get("maxItems")
        if isinstance(high, int) and 0 <= high < 1000:
            item = base[0] if base else self.conforming(s.get("items", {}), depth + 1)
            yield "maxItems", [copy.deepcopy(item) for _ in range(high + 1)]
        if s.get("uniqueItems") is True and base:
            yield "uniqueItems", [copy.deepcopy(base[0]), copy.deepcopy(base[0])]
        if depth >= MAX_DEPTH or "items" not in s:
            return
        first = base[0] if base else self.conforming(s["items"], depth + 1)
        for kind, value in self.mutations(s["items"], first, depth + 1):
            yield kind, [value, *copy.deepcopy(base[1:])]

    def _string_mutations(self, s: dict, base: str) -> Iterator[tuple[str, Any]]:
        low = int_or(s.get("minLength"), 0)
        if low > 0:
            yield "minLength", base[: low - 1] if len(base) >= low - 1 else "x" * (low - 1)
        high = s.get("maxLength")
        if isinstance(high, int) and 0 <= high < 100_000:
            yield "maxLength", (base + "x" * (high + 1))[: high + 1].ljust(high + 1, "x")
        pattern = s.get("pattern")
        if isinstance(pattern, str):
            for candidate in ("", "!", " opscheck ~ \u2603", "0"):
                try:
                    if not re.search(pattern, candidate):
                        yield "pattern", candidate
                        break
                except re.error:
                    break

    def _number_mutations(self, s: dict, base: float, types: list[str]) -> Iterator[tuple[str, Any]]:
        def whole(x: float) -> int | float:
            return int(x) if float(x).is_integer() and "number" not in types else x

        if isinstance(s.get("minimum"), (int, float)):
            yield "minimum", whole(s["minimum"] - 1)
        if isinstance(s.get("exclusiveMinimum"), (int, float)):
            yield "exclusiveMinimum", whole(s["exclusiveMinimum"])
        if isinstance(s.get("maximum"), (int, float)):
            yield "maximum", whole(s["maximum"] + 1)
        if isinstance(s.get("exclusiveMaximum"), (int, float)):
            yield "exclusiveMaximum", whole(s["exclusiveMaximum"])
        step = s.get("multipleOf")
        if isinstance(step, (int, float)) and step > 0:
            yield "multipleOf", whole(base + step / 2) if step != 1 else base + 0.5
        if types == ["integer"] or types == ["integer", "null"]:
            yield "type", base + 0.5



def _not_in(allowed: list, base: Any) -> Any:
    if isinstance(base, str) or all(isinstance(v, str) for v in allowed if v is not None):
        candidate = "opscheck-not-allowed"
        while candidate in allowed:
            candidate += "-x"
        return candidate
    numbers = [v for v in allowed if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers:
        return max(numbers) + 1
    return "opscheck-not-allowed"


def _unused_key(base: dict, properties: dict) -> str:
    key = "opscheck_unexpected"
    while key in base or key in properties:
        key += "_"
    return key
