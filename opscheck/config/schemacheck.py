"""A yes/no check of a document against a JSON Schema, compiled once into plain Python closures.

Why: a valid profile is the common case, and jsonschema spends about 0.07 ms per profile entry
walking validator objects and resolving `$ref`s, plus ~40 ms importing itself. The profile loader
asks this check first and calls jsonschema only when the answer is "no", to get the messages, so
every message is still jsonschema's.

The check is conservative by construction: it understands the keywords of draft 2020-12 that
profile.schema.json uses, with jsonschema's semantics (integer includes 2.0, booleans are not
numbers and never equal 0 or 1, `pattern` is re.search). A schema with any other keyword does
not compile (`compile_schema` raises Unsupported) and the caller uses jsonschema alone. An
instance of a type JSON does not have makes the check answer "no", and jsonschema decides.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that assert nothing (annotations) or that are read by their neighbours.
_IGNORED = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples",
                      "deprecated", "readOnly", "writeOnly", "errorMessage"})
_HANDLED = frozenset({"type", "$ref", "properties", "patternProperties", "additionalProperties", "required",
                      "items", "enum", "const", "pattern", "minLength", "maxLength", "minItems", "maxItems",
                      "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "oneOf", "anyOf", "allOf",
                      "not", "propertyNames", "minProperties", "maxProperties"})


class Unsupported(Exception):
    """The schema uses a keyword (or a `$ref`) this check does not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_JSON_SCALARS = (str, int, float, bool, type(None))


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's `equal`: strings by value, containers by content, and True/False never equal 1/0."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, (list, dict)) or isinstance(two, (list, dict)):
        return False
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


def _well_formed(value: Any, depth: int = 0) -> bool:
    """Only JSON's types (dict with text keys, list, str, int, float, bool, None) at every level."""
    # Loops, not all() over generators: this walks every value of the profile.
    if isinstance(value, _JSON_SCALARS):
        return True
    if depth > 200:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or (not isinstance(item, _JSON_SCALARS) and not _well_formed(item, depth + 1)):
                return False
        return True
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, _JSON_SCALARS) and not _well_formed(item, depth + 1):
                return False
        return True
    return False


def _all(checks: list[Check]) -> Check:
    """One check passing when every one of `checks` passes (in order, stopping at the first no)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def every(v: Any) -> bool:
        for check in checks:
            if not check(v):
                return False
        return True

    return every


def compile_schema(root: dict[str, Any]) -> Check:
    """`check(instance) -> bool`: True exactly when jsonschema's Draft 2020-12 validator would
    report no error for *instance* (JSON-typed data). Raises Unsupported for a schema this module
    cannot decide exactly; the caller then uses jsonschema alone."""
    refs: dict[str, Check] = {}

    def resolve(ref: str) -> Check:
        if not ref.startswith("#/"):
            raise Unsupported(f"$ref {ref!r}")
        if ref not in refs:
            target: Any = root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise Unsupported(f"$ref {ref!r} does not resolve")
                target = target[part]
            slot: list[Check] = []
            refs[ref] = lambda v: slot[0](v)  # a recursive $ref reaches this before it is compiled
            slot.append(build(target))
        return refs[ref]

    def build(schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema that is a {type(schema).__name__}")
        unknown = set(schema) - _HANDLED - _IGNORED
        if unknown:
            raise Unsupported(f"keywords {sorted(unknown)}")
        checks: list[Check] = []
        add = checks.append

        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
            if any(n not in _TYPES for n in names):
                raise Unsupported(f"type {names}")
            tests = [_TYPES[n] for n in names]
            add(tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests)))
        if "$ref" in schema:
            add(resolve(schema["$ref"]))
        if "enum" in schema:
            choices = list(schema["enum"])
            add(lambda v: any(_equal(c, v) for c in choices))
        if "const" in schema:
            const = schema["const"]
            add(lambda v: _equal(const, v))

        # Strings
        if "pattern" in schema:
            pattern = re.compile(schema["pattern"])
            add(lambda v: not isinstance(v, str) or pattern.search(v) is not None)
        if "minLength" in schema:
            min_length = schema["minLength"]
            add(lambda v: not isinstance(v, str) or len(v) >= min_length)
        if "maxLength" in schema:
            max_length = schema["maxLength"]
            add(lambda v: not isinstance(v, str) or len(v) <= max_length)

        # Numbers
        for word, ok in (("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b),
                         ("exclusiveMinimum", lambda v, b: v > b), ("exclusiveMaximum", lambda v, b: v < b)):
            if word in schema:
                bound = schema[word]
                if not _is_number(bound):
                    raise Unsupported(f"{word} {bound!r}")
                add(lambda v, bound=bound, ok=ok: not _is_number(v) or ok(v, bound))

        # Arrays
        if "items" in schema:
            item = build(schema["items"])

            def items(v: Any, item: Check = item) -> bool:
                if isinstance(v, list):
                    for x in v:
                        if not item(x):
                            return False
                return True

            add(items)
        if "minItems" in schema:
            min_items = schema["minItems"]
            add(lambda v: not isinstance(v, list) or len(v) >= min_items)
        if "maxItems" in schema:
            max_items = schema["maxItems"]
            add(lambda v: not isinstance(v, list) or len(v) <= max_items)

        # Objects
        if "required" in schema:
            required = list(schema["required"])

            def has_required(v: Any, required: list[str] = required) -> bool:
                if isinstance(v, dict):
                    for name in required:
                        if name not in v:
                            return False
                return True

            add(has_required)
        if "minProperties" in schema:
            min_props = schema["minProperties"]
            add(lambda v: not isinstance(v, dict) or len(v) >= min_props)
        if "maxProperties" in schema:
            max_props = schema["maxProperties"]
            add(lambda v: not isinstance(v, dict) or len(v) <= max_props)
        if "properties" in schema or "patternProperties" in schema or "additionalProperties" in schema:
            add(_object_check(schema, build))
        if "propertyNames" in schema:
            name_check = build(schema["propertyNames"])
            add(lambda v: not isinstance(v, dict) or all(name_check(k) for k in v))

        # Combinators
        if "allOf" in schema:
            add(_all([build(s) for s in schema["allOf"]]))
        if "anyOf" in schema:
            branches = [build(s) for s in schema["anyOf"]]

            def any_of(v: Any, branches: list[Check] = branches) -> bool:
                for branch in branches:
                    if branch(v):
                        return True
                return False

            add(any_of)
        if "oneOf" in schema:
            alternatives = [build(s) for s in schema["oneOf"]]

            def one_of(v: Any, alternatives: list[Check] = alternatives) -> bool:
                found = False
                for alternative in alternatives:
                    if alternative(v):
                        if found:
                            return False  # a second match: no need to try the rest
                        found = True
                return found

            add(one_of)
        if "not" in schema:
            negated = build(schema["not"])
            add(lambda v: not negated(v))

        if not checks:
            return lambda v: True
        return _all(checks)

    top = build(root)
    return lambda instance: _well_formed(instance) and top(instance)


def _object_check(schema: dict[str, Any], build: Callable[[Any], Check]) -> Check:
    properties = {name: build(sub) for name, sub in schema.get("properties", {}).items()}
    patterns = [(re.compile(p), build(sub)) for p, sub in schema.get("patternProperties", {}).items()]
    # jsonschema finds "additional" keys with the patterns joined by "|", searched anywhere.
    joined = re.compile("|".join(schema["patternProperties"])) if schema.get("patternProperties") else None
    additional = build(schema["additionalProperties"]) if "additionalProperties" in schema else None

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key, value in v.items():
            sub = properties.get(key)
            if sub is not None and not sub(value):
                return False
            for pattern, pattern_check in patterns:
                if pattern.search(key) and not pattern_check(value):
                    return False
            if additional is not None and sub is None and not (joined and joined.search(key)) and not additional(value):
                return False
        return True

    return check
