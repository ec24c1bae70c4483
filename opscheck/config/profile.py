"""Load opscheck.yaml: YAML with line numbers -> ${VAR} interpolation -> JSON Schema -> typed Profile.

Every problem is reported as `file:line: field: cause`, so a CI config check (`opscheck lint`)
points at the exact place to fix.
"""

from __future__ import annotations

import datetime
import difflib
import importlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import yaml

from opscheck.files import PROFILE_LIMIT, FileReadError, check_regular, read_bounded
from opscheck.config.schemacheck import Unsupported, compile_schema
from opscheck.config.settings import HttpSettings
from opscheck.runbook import Runbook, RunbookError, Section

if TYPE_CHECKING:
    import jsonschema

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_SEVERITY = "error"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    cause: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.cause}" if self.field else f"{where}: {self.cause}"


class ProfileError(Exception):
    """One or more problems in a profile; str() is one `file:line: field: cause` per line.

    `warnings` are the profile's warnings found before it stopped (not part of str()).
    """

    def __init__(self, problems: list[Problem], warnings: list[Problem] | tuple[Problem, ...] = ()) -> None:
        self.problems = problems
        self.warnings = list(warnings)
        super().__init__("\n".join(str(p) for p in problems))


# --- typed profile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    name: str
    base_url: str
    allow_mutating: bool = False
    drill: bool = False  # a restore drill may restore over it (issue 13)


@dataclass(frozen=True)
class Auth:
    header: str
    keys_env: str
    keys: tuple[str, ...]
    scheme: str | None = None

    def header_value(self, key: str) -> str:
        return f"{self.scheme} {key}" if self.scheme else key


@dataclass(frozen=True)
class Case:
    """One parametrized check: what the plugin needs to run, name and route it."""

    family: str
    name: str
    field: str  # where it lives in the profile, e.g. "smoke[0]"
    line: int | None
    severity: str
    section: Section | None
    mutating: bool = False

    @property
    def check_id(self) -> str:
        return f"{self.family}::{self.name}"


@dataclass
class Profile:
    path: Path
    service: str
    http: HttpSettings
    runbook: Runbook | None = None
    runbook_url: str | None = None
    auth: Auth | None = None
    environments: dict[str, Environment] = field(default_factory=dict)
    by_section: dict[str, list[Case]] = field(default_factory=dict)  # profile section -> its cases
    raw: dict[str, Any] = field(default_factory=dict)  # the validated, interpolated document
    secrets: frozenset[str] = frozenset()  # every value read through a *_env field
    warnings: list[Problem] = field(default_factory=list)  # e.g. `on` reads differently under YAML 1.1
    extras: dict[str, Any] = field(default_factory=dict)  # section -> its typed form, from SECTION_LOADERS

    def cases(self, section: str) -> list[Case]:
        return list(self.by_section.get(section, ()))

    def all_cases(self) -> list[Case]:
        return [case for cases in self.by_section.values() for case in cases]

    @property
    def smoke(self) -> list[Case]:
        return self.cases("smoke")

    @property
    def readiness(self) -> list[Case]:
        return self.cases("readiness")

    @property
    def ready_path(self) -> str | None:
        return next((c.path for c in self.readiness if getattr(c, "probe", None) == "ready"), None)  # type: ignore[attr-defined]

    def link(self, section: Section) -> str:
        assert self.runbook is not None
        return self.runbook.link(section, self.runbook_url)


# --- YAML with line numbers ------------------------------------------------------------------


def _field_name(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, str) and part and (not part.strip() or not part.isprintable()):
            # A key of blanks would print as nothing, and one with a control character (\x1e and
            # \u2028 end a line for str.splitlines) would break the `file:line: field: cause` line:
            # show such a key quoted and escaped.
            part = repr(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Bounds on what a profile may ask of the reader. A profile is a page of settings: these are far
# above any real one, and far below what would cost a noticeable second or megabyte.
MAX_DEPTH = 64  # nested collections; a deeper document is refused before it is composed
MAX_NODES = 100_000  # values after every alias is expanded ("billion laughs" stops here)
MAX_NUMBER_DIGITS = 100  # digits in an integer or a float's mantissa/exponent text

# libyaml's parser is five times faster on big profiles; marks are identical, and it asks the
# Python resolver below for implicit types, so the typing rules are the same either way.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR, _NULL, _BOOL, _INT, _FLOAT, _MERGE = (f"tag:yaml.org,2002:{t}" for t in ("str", "null", "bool", "int", "float", "merge"))
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution): what Go-based tools
# (Gatus, k6) read. `on`, `NO`, `y` are text; no sexagesimal 1:20, no 1_000, no 0755 octal.
_CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_CORE_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


class Yaml12Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader with YAML 1.2 core-schema implicit types (plus `<<` merge keys)."""

    yaml_implicit_resolvers: dict = {}

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, Any], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # A scalar's tag depends only on its text and whether it was plain or quoted (no path
        # resolvers are registered), and a profile repeats the same keys and values in every
        # entry: each distinct scalar is resolved once per document.
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


for _tag, _regexp, _first in (
    (_NULL, _CORE_NULL, ["~", "n", "N", ""]),
    (_BOOL, _CORE_BOOL, list("tTfF")),
    (_INT, _CORE_INT, list("-+0123456789")),
    (_FLOAT, _CORE_FLOAT, list("-+0123456789.")),
    (_MERGE, re.compile(r"^<<$"), ["<"]),  # YAML 1.1 merge keys: still common in compose-style files
):
    Yaml12Loader.add_implicit_resolver(_tag, _regexp, _first)

_YAML11 = yaml.resolver.Resolver()  # the rules PyYAML and most Python tools apply


def core_scalar(text: str) -> Any:
    """A plain scalar's value under the YAML 1.2 core schema; the text itself when it is not a
    finite number of bounded size (so a value never becomes inf or a 10,000-digit integer)."""
    if _CORE_NULL.match(text):
        return None
    if _CORE_BOOL.match(text):
        return text.lower() == "true"
    try:
        return _number(text)
    except ValueError:
        return text


def _number(text: str) -> int | float:
    """int or float for a core-schema number; ValueError (with a cause) for anything else."""
    if _CORE_INT.match(text):
        if len(text) > MAX_NUMBER_DIGITS:
            raise ValueError(f"a number with more than {MAX_NUMBER_DIGITS} digits")
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)
    if _CORE_FLOAT.match(text):
        if len(text) > MAX_NUMBER_DIGITS:
            raise ValueError(f"a number with more than {MAX_NUMBER_DIGITS} digits")
        if text.lstrip("+-").lower() in (".inf", ".nan"):
            raise ValueError("not a finite number")
        value = float(text)
        if not math.isfinite(value):  # 1e999
            raise ValueError("not a finite number")
        return value
    raise ValueError("not a number")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "the boolean " + ("true" if value else "false")
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return type(value).__name__


@lru_cache(maxsize=4096)  # a pure function of the text; real profiles repeat `200`, `true`, `GET` a lot
def _yaml11_reading(text: str) -> Any:
    """What PyYAML (YAML 1.1) makes of a plain scalar, or the text if it cannot say."""
    tag = _YAML11.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    try:
        return yaml.constructor.SafeConstructor().construct_object(yaml.ScalarNode(tag, text))
    except Exception:  # noqa: BLE001 - e.g. a date that is not a real date: 1.1 tools fail on it too
        return text


@dataclass
class _Doc:
    """The state of one walk over the composed YAML graph."""

    file: str
    lines: dict[Path_, int] = field(default_factory=dict)
    plain: set[Path_] = field(default_factory=set)  # paths of unquoted scalars
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    memo: dict[int, Any] = field(default_factory=dict)  # id(node) -> value: each node is read once

    def problem(self, node: yaml.Node, path: Path_, cause: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, _field_name(path), cause))


class _Cycle(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """Values each node stands for once aliases are expanded, memoized per node (the graph may
    share nodes exponentially often, but each is visited once). Raises _Cycle for a node that
    contains itself. Sizes are capped just above MAX_NODES so the sums stay small."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Cycle(node)
        active.add(key)
        total = 1
        for child in _children(node):
            total = min(total + size(child), MAX_NODES + 1)
        active.discard(key)
        sizes[key] = total
        return total

    size(root)
    return sizes


def _too_big_at(root: yaml.Node, sizes: dict[int, int]) -> yaml.Node:
    """The deepest node whose expansion alone passes MAX_NODES: where the aliases pile up."""
    node = root
    while True:
        bigger = [c for c in _children(node) if sizes.get(id(c), 0) > MAX_NODES]
        if not bigger:
            return node
        node = bigger[0]


def _read_yaml(text: str, file: str) -> tuple[Any, _Doc]:
    """Parse *text* under the YAML 1.2 core schema, bounded in depth and alias expansion.

    Returns the document (plain dict/list/str/int/float/bool/None; every mapping key is text) and
    the walk state: a line for each path, plain-scalar paths, problems and YAML 1.1 warnings.
    Raises ProfileError for anything that stops the document from being read.
    """
    doc = _Doc(file)
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        raise ProfileError([Problem(file, 1, "", "the profile is empty: it needs at least `service:`")])
    try:
        aliases, nodes = _check_depth(text, file)
        loader = Yaml12Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (column {mark.column + 1})" if mark else ""
        cause = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ProfileError([Problem(file, mark.line + 1 if mark else None, "", f"invalid YAML{where}: {cause}")]) from None
    except yaml.YAMLError as exc:
        raise ProfileError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    if root is None:
        raise ProfileError([Problem(file, 1, "", "the profile is empty: it needs at least `service:`")])
    if not aliases and nodes <= MAX_NODES:
        # Without an alias (*name) the nodes form a tree of `nodes` values: nothing can repeat or
        # contain itself, so the walk below could only confirm what the event count says.
        return _value(root, (), doc), doc
    try:
        sizes = _expanded_sizes(root)
    except _Cycle as cycle:
        raise ProfileError([Problem(file, cycle.node.start_mark.line + 1, "",
                                    "recursive alias: this collection contains itself through an alias (*name)")]) from None
    if sizes[id(root)] > MAX_NODES:
        at = _too_big_at(root, sizes)
        raise ProfileError([Problem(file, at.start_mark.line + 1, "",
                                    f"more than {MAX_NODES} values here once aliases are expanded; "
                                    "a profile never needs that many (is this a 'billion laughs' document?)")])
    value = _value(root, (), doc)
    return value, doc


# Event type -> (change of nesting depth, nodes it starts, is an alias), for _check_depth.
_EVENT_STEPS: dict[type, tuple[int, int, bool]] = {
    yaml.MappingStartEvent: (1, 1, False), yaml.SequenceStartEvent: (1, 1, False),
    yaml.MappingEndEvent: (-1, 0, False), yaml.SequenceEndEvent: (-1, 0, False),
    yaml.ScalarEvent: (0, 1, False), yaml.AliasEvent: (0, 0, True),
}
_NO_STEP = (0, 0, False)


def _check_depth(text: str, file: str) -> tuple[bool, int]:
    """Refuse nesting deeper than MAX_DEPTH from the event stream, before anything recursive runs.

    Returns (whether the document uses an alias, how many nodes it writes out); aliases not counted."""
    depth = nodes = 0
    aliases = False
    steps = _EVENT_STEPS
    loader = Yaml12Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            change, started, alias = steps.get(type(event), _NO_STEP)
            nodes += started
            aliases = aliases or alias
            if change > 0:
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise ProfileError([Problem(file, mark.line + 1, "",
                                                f"nested more than {MAX_DEPTH} levels deep (column {mark.column + 1})")])
            elif change < 0:
                depth -= 1
    finally:
        loader.dispose()
    return aliases, nodes


def _value(node: yaml.Node, path: Path_, doc: _Doc) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    key = id(node)
    if key in doc.memo:  # an alias: the same object, read once (lines below it map to this path)
        return doc.memo[key]
    if isinstance(node, yaml.ScalarNode):
        value = _scalar(node, path, doc)
        doc.memo[key] = value
        return value
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        doc.memo[key] = items
        if node.tag != _SEQ:
            doc.problem(node, path, f"YAML tag {node.tag} is not supported; remove it")
        items.extend(_value(item, path + (i,), doc) for i, item in enumerate(node.value))
        return items
    mapping: dict[str, Any] = {}
    doc.memo[key] = mapping
    if node.tag != _MAP:
        doc.problem(node, path, f"YAML tag {node.tag} is not supported; remove it")
    seen: dict[str, int] = {}
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            doc.problem(key_node, path, "a key must be plain text, not a list or a mapping (`[a]: b` or `? ...`)")
            continue
        if key_node.tag == _MERGE:
            merged.append(value_node)
            continue
        # Keys are field names, variable names, header names or JSON keys: always text, so
        # `true:`, `200:` or `on:` is the key "true", "200" or "on".
        name = key_node.value
        line = key_node.start_mark.line + 1
        if name in seen:
            doc.problem(key_node, path + (name,), f"duplicate key (first defined on line {seen[name]})")
            continue
        seen[name] = line
        doc.lines[path + (name,)] = line
        mapping[name] = _value(value_node, path + (name,), doc)
    for source in merged:  # `<<: *base` or `<<: [*a, *b]`: keys written here win, then the first source
        sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
        for one in sources:
            got = _value(one, path, doc) if isinstance(one, yaml.MappingNode) else None
            if not isinstance(got, dict):
                doc.problem(one, path, "`<<` merges mappings only (e.g. `<<: *defaults`)")
                continue
            for name, item in got.items():
                mapping.setdefault(name, item)
    return mapping


def _scalar(node: yaml.ScalarNode, path: Path_, doc: _Doc) -> Any:
    text, tag = node.value, node.tag
    plain = node.style in (None, "")
    if plain:
        doc.plain.add(path)
    if tag == _STR:
        value: Any = text
    elif tag == _NULL:
        value = None
    elif tag == _BOOL:
        if not _CORE_BOOL.match(text):
            doc.problem(node, path, "not a boolean: write true or false")
            return text
        value = text.lower() == "true"
    elif tag in (_INT, _FLOAT):
        try:
            value = _number(text)
        except ValueError as exc:
            shown = text if len(text) <= 40 else text[:37] + "..."
            doc.problem(node, path, f"`{shown}` is {exc}; quote it if you mean the text")
            return text
        if tag == _INT and isinstance(value, float):
            doc.problem(node, path, "not an integer")
    elif tag == _MERGE:
        value = text
    else:
        doc.problem(node, path, f"YAML tag {tag} is not supported; remove it")
        return text
    if plain and tag in (_STR, _NULL, _BOOL, _INT, _FLOAT) and len(text) <= 64:
        old = _yaml11_reading(text)
        if type(old) is not type(value) or old != value:
            doc.warnings.append(Problem(
                doc.file, node.start_mark.line + 1, _field_name(path),
                f"`{text}` is {_describe(value)} here (YAML 1.2, as opscheck reads it) but {_describe(old)} "
                f"for YAML 1.1 tools; quote it (\"{text}\") if you mean the text"))
    return value


def _line_for(lines: Mapping[Path_, int], path: Path_) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


# --- ${VAR} interpolation --------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Interpolated values from variables named like these are secrets and get redacted.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION", re.I)


def _interpolate(value: Any, path: Path_, env: Mapping[str, str], ctx: _Ctx) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path + (k,), env, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (i,), env, ctx) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            result = env[name]
            if _SECRET_NAME.search(name):
                ctx.secrets.add(result)
            return result
        if default is not None:
            return default
        ctx.problem(path, f"environment variable {name} is not set (write ${{{name}:-default}} for a fallback)")
        return ""

    whole = _VAR.fullmatch(value)
    result = _VAR.sub(substitute, value)
    if whole and whole.group(0) != "$$":
        # "${BENCH_MS:-250}" stands for a whole value: it takes the type its field declares.
        types = schema_types(path)
        if types is None:
            # Any type allowed (expect.json, a JSON body): quoted means text, plain is read as YAML 1.2.
            return core_scalar(result) if path in ctx.plain else result
        if "string" in types:
            return result
        typed = core_scalar(result)
        return typed if typed is not result else result
    return result


# --- validation ------------------------------------------------------------------------------


@cache
def profile_schema() -> dict[str, Any]:
    return json.loads(resources.files("opscheck").joinpath("profile.schema.json").read_text("utf-8"))


@cache
def _validator() -> jsonschema.protocols.Validator:
    # Imported here: a valid profile never needs jsonschema (~40 ms to import), see _schema_problems.
    import jsonschema

    schema = profile_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _expand(schema: Any, out: list[dict[str, Any]], depth: int = 0) -> None:
    """schema plus every subschema it defers to ($ref, oneOf, anyOf, allOf), flattened."""
    if depth > 20:
        return
    if schema is True or schema == {}:
        out.append({})
        return
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref.startswith("#/"):
            target: Any = profile_schema()
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            _expand(target, out, depth + 1)
    for word in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(word, ()):
            _expand(sub, out, depth + 1)
    out.append(schema)


def schema_types(path: Path_) -> set[str] | None:
    """JSON types the profile schema allows at *path* ("string", "number", ...); None for any type
    (no constraint, or a path the schema does not describe)."""
    level: list[dict[str, Any]] = []
    _expand(profile_schema(), level)
    for part in path:
        nxt: list[Any] = []
        for sub in level:
            if isinstance(part, int):
                if "items" in sub:
                    nxt.append(sub["items"])
                continue
            props = sub.get("properties", {})
            if part in props:
                nxt.append(props[part])
            elif any(re.search(p, part) for p in sub.get("patternProperties", {})):
                nxt.extend(v for p, v in sub["patternProperties"].items() if re.search(p, part))
            elif "additionalProperties" in sub and sub["additionalProperties"] is not False:
                nxt.append(sub["additionalProperties"])
        level = []
        for sub in nxt:
            _expand(sub, level)
        if not level:
            return None
    types: set[str] = set()
    for sub in level:
        declared = sub.get("type")
        if declared is not None:
            types.update([declared] if isinstance(declared, str) else declared)
        choices = list(sub.get("enum", ())) + ([sub["const"]] if "const" in sub else [])
        types.update(_json_type(choice) for choice in choices)
    if any(not ({"type", "enum", "const", "$ref", "oneOf", "anyOf", "allOf"} & set(sub)) for sub in level):
        return None
    return types or None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


_KIND = {"null": "null", "boolean": "true or false", "integer": "an integer", "number": "a number",
         "string": "text", "array": "a list", "object": "a mapping"}


def _kind_of(value: Any) -> str:
    return {"integer": "a number", "number": "a number"}.get(_json_type(value), _KIND[_json_type(value)])


def _cause(error: jsonschema.ValidationError) -> str:
    """What the field must be, without echoing its value: a value may be a secret read from the
    environment, and the line number already shows the user what they wrote."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "errorMessage" in schema:
        return str(schema["errorMessage"])
    rule, want = error.validator, error.validator_value
    if rule == "type":
        wanted = [want] if isinstance(want, str) else list(want)
        if "number" in wanted and "integer" in wanted:
            wanted.remove("integer")
        return f"must be {' or '.join(_KIND.get(w, w) for w in wanted)}, not {_kind_of(error.instance)}"
    if rule == "pattern":
        return f"must match the pattern {want!r}"
    if rule == "enum":
        return f"must be one of: {', '.join(json.dumps(v) for v in want)}"
    if rule == "const":
        return f"must be {json.dumps(want)}"
    if rule == "minimum":
        return f"must be at least {want}"
    if rule == "exclusiveMinimum":
        return f"must be greater than {want}"
    if rule == "maximum":
        return f"must be at most {want}"
    if rule == "exclusiveMaximum":
        return f"must be less than {want}"
    if rule == "minLength":
        return "must not be empty" if want == 1 else f"must be at least {want} characters long"
    if rule == "maxLength":
        return f"must be at most {want} characters long"
    if rule == "minItems":
        return "must not be empty" if want == 1 else f"must have at least {want} items"
    if rule == "maxItems":
        return f"must have at most {want} items"
    if rule == "minProperties":
        return "must not be empty" if want == 1 else f"must have at least {want} fields"
    if rule == "uniqueItems":
        return "must not repeat an item"
    if rule == "required":
        return error.message  # "'service' is a required property": names come from the schema
    if rule in ("oneOf", "anyOf") and error.context:
        here = [e for e in error.context if e.absolute_path == error.absolute_path]
        mistyped = [e for e in here if e.validator == "type"]
        if here and len(mistyped) == len(here):  # no branch has the right type: name them all
            wanted = [w for e in mistyped for w in ([e.validator_value] if isinstance(e.validator_value, str) else e.validator_value)]
            names = list(dict.fromkeys(_KIND.get(w, w) for w in wanted))
            return f"must be {' or '.join(names)}, not {_kind_of(error.instance)}"
        # The branch of the right type failed on something more specific: report that.
        specific = [e for e in error.context if e.validator != "type"] or list(error.context)
        chosen = min(specific, key=lambda e: -len(e.absolute_path))
        cause = _cause(chosen)
        extra = tuple(chosen.absolute_path)[len(error.absolute_path):]
        return f"{_field_name(extra)}: {cause}" if extra else cause
    if rule in ("not", "false"):
        return "is not allowed here"
    return f"does not satisfy the schema's {rule!r} rule"


@cache
def _quick_check() -> Callable[[Any], bool] | None:
    """The profile schema compiled to a yes/no check; None when it uses a keyword the compiler
    does not implement (then jsonschema alone decides)."""
    try:
        return compile_schema(profile_schema())
    except Unsupported:
        return None


def _schema_problems(data: Any, ctx: _Ctx) -> None:
    # Most profiles are valid: the compiled check says so in a tenth of jsonschema's time. Only a
    # "no" runs jsonschema, whose errors make every message below, so messages never change.
    quick = _quick_check()
    if quick is not None and quick(data):
        return
    errors = sorted(_validator().iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    for error in errors[:20]:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed), key=str):
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                ctx.problem(path + (key,), f"unknown field{extra}")
            continue
        if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
            # jsonschema reports a bad key at its mapping, with the key as the instance.
            ctx.problem(path + (error.instance,), f"the name {_cause(error)}")
            continue
        ctx.problem(path, _cause(error))


@dataclass
class _Ctx:
    file: str
    lines: Mapping[Path_, int]
    problems: list[Problem] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    plain: set[Path_] = field(default_factory=set)
    warnings: list[Problem] = field(default_factory=list)

    def problem(self, path: Path_, cause: str) -> None:
        # A last guard: no cause ever shows a secret value, whoever wrote the message.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                cause = cause.replace(secret, "***")
        self.problems.append(Problem(self.file, _line_for(self.lines, path), _field_name(path), cause))

    def line(self, path: Path_) -> int | None:
        return _line_for(self.lines, path)

    def check(self) -> None:
        if self.problems:
            unique = list(dict.fromkeys(self.problems))
            raise ProfileError(sorted(unique, key=lambda p: (p.line or 0, p.field)), self.warnings)


# --- building the typed profile --------------------------------------------------------------


def load_profile(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Profile:
    """Read, interpolate, validate and build the profile at *path*.

    Raises ProfileError, whose problems are `file:line: field: cause`, for anything wrong: never
    another exception. The file must be a regular UTF-8 file of at most 1 MiB (files.PROFILE_LIMIT).
    `Profile.warnings` (and `ProfileError.warnings`) hold what does not stop a run: plain scalars
    that YAML 1.1 tools read differently.
    """
    env = os.environ if environ is None else environ
    path = Path(path)
    file = str(path)
    text = _read_text(path, file)
    try:
        raw, doc = _read_yaml(text, file)
        ctx = _Ctx(file, doc.lines, plain=doc.plain, warnings=doc.warnings)
        ctx.problems.extend(doc.problems)
        if not isinstance(raw, dict):
            ctx.problem((), "the profile must be a YAML mapping with at least `service:`")
        ctx.check()
        data = _interpolate(raw, (), env, ctx)
        ctx.check()
        _schema_problems(data, ctx)
        ctx.check()
        try:
            profile = _build(path, data, env, ctx)
        except Exception as exc:  # noqa: BLE001 - validated data should never get here; if it does, exit 4, not 3
            ctx.problem((), f"cannot read this profile ({type(exc).__name__}: {str(exc)[:200]})")
        ctx.check()
    except RecursionError:  # the depth bound should make this unreachable; a traceback never is
        raise ProfileError([Problem(file, None, "", f"nested too deeply to read (at most {MAX_DEPTH} levels)")]) from None
    profile.warnings = list(ctx.warnings)
    return profile


# Characters YAML forbids in a stream (https://yaml.org/spec/1.2.2/#51-character-set).
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _read_text(path: Path, file: str) -> str:
    try:
        data = read_bounded(path, PROFILE_LIMIT, "profile")
    except FileReadError as exc:
        cause = "profile not found" if exc.not_found else f"cannot read profile: {exc.cause}"
        raise ProfileError([Problem(file, None, "", cause)]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ProfileError([Problem(file, line, "", f"not valid UTF-8: byte 0x{data[exc.start]:02x} at column {column}; "
                                                    "save the profile as UTF-8")]) from None
    bad = _NOT_YAML.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ProfileError([Problem(file, line, "", f"control character U+{ord(bad.group()):04X} at column {column} "
                                                    "is not allowed in YAML; remove it")])
    return text


# What httpx can send (it encodes header values as ASCII): printable ASCII and tabs, no CR/LF.
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _check_named_file(base: Path, data: dict[str, Any], where: Path_, ctx: _Ctx) -> None:
    """A file read by C code we cannot bound (ssl loads CA bundles itself): refuse a named pipe or
    a device at load time. A missing file is left to the check, which says so when it runs."""
    section = data.get(where[0])
    name = section.get(where[1]) if isinstance(section, dict) else None
    if not isinstance(name, str):
        return
    try:
        check_regular(base / name, "file")
    except FileReadError as exc:
        if not exc.not_found:
            ctx.problem(where, f"{base / name}: {exc.cause}")


def _read_env_secret(var: str, env: Mapping[str, str], ctx: _Ctx) -> list[str]:
    values = [v.strip() for v in env.get(var, "").split(";") if v.strip()]
    ctx.secrets.update(values)
    return values


def _collect_env_fields(data: Any, env: Mapping[str, str], ctx: _Ctx) -> None:
    """Any `*_env` field names a variable whose value is a secret, wherever it appears."""
    # Only collections are walked into: most values are scalars, and a call per value adds up.
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                _read_env_secret(value, env, ctx)
            elif isinstance(value, (dict, list)):
                _collect_env_fields(value, env, ctx)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, (dict, list)):
                _collect_env_fields(item, env, ctx)


def _build(path: Path, data: dict[str, Any], env: Mapping[str, str], ctx: _Ctx) -> Profile:
    base = path.parent
    http_raw = data.get("http", {})
    ca_file = http_raw.get("ca_file")
    http = HttpSettings(
        timeout_s=float(http_raw.get("timeout_s", 5.0)),
        deadline_s=float(http_raw["deadline_s"]) if "deadline_s" in http_raw else None,  # None: 3 x timeout_s
        max_body_bytes=int(http_raw.get("max_body_bytes", 1 << 20)),
        verify_tls=bool(http_raw.get("verify_tls", True)),
        ca_file=str(base / ca_file) if ca_file else None,
        headers=dict(http_raw.get("headers", {})),
        allow_redirect_origins=tuple(http_raw.get("allow_redirect_origins", ())),
    )
    if http.deadline_s < http.timeout_s:
        ctx.problem(("http", "deadline_s"), f"deadline_s ({http.deadline_s}) must be at least timeout_s ({http.timeout_s})")
    for where in (("http", "ca_file"), ("tls", "ca_file")):
        _check_named_file(base, data, where, ctx)

    _collect_env_fields(data, env, ctx)
    auth = None
    if "auth" in data:
        a = data["auth"]
        auth = Auth(header=a["header"], keys_env=a["keys_env"], scheme=a.get("scheme"),
                    keys=tuple(_read_env_secret(a["keys_env"], env, ctx)))
        if any(not HEADER_VALUE.fullmatch(auth.header_value(key)) for key in auth.keys):
            # The key itself is never shown: it is a secret.
            ctx.problem(("auth", "keys_env"), f"a key in ${a['keys_env']} has characters an HTTP header cannot carry "
                                              "(printable ASCII only, no line breaks); the key is not shown")

    runbook = None
    if "runbook" in data:
        try:
            runbook = Runbook.load(base / data["runbook"])
        except RunbookError as exc:
            ctx.problem(("runbook",), str(exc))

    profile = Profile(
        path=path,
        service=data["service"],
        http=http,
        runbook=runbook,
        runbook_url=data.get("runbook_url"),
        auth=auth,
        environments={
            name: Environment(name, e["base_url"].rstrip("/"), bool(e.get("allow_mutating", False)), bool(e.get("drill", False)))
            for name, e in data.get("environments", {}).items()
        },
    )
    profile.raw = data
    builder = Builder(profile, data, ctx)
    # Late binding, like an entry point: the families sit above config (they build their cases
    # with this module's Builder), so config names the registry at run time instead of importing
    # it, and the layering contract (pyproject.toml, [tool.importlinter]) keeps config below them.
    families = importlib.import_module("opscheck.families.registry").FAMILIES

    for family in families.values():
        if family.section in data:
            try:
                profile.by_section[family.section] = list(family.load_builder()(data[family.section], builder))
            except Exception as exc:  # noqa: BLE001 - a builder's slip is a profile problem at its line, never exit 3
                detail = str(exc) or type(exc).__name__
                ctx.problem((family.section,), f"cannot read this entry ({detail[:200]})")
    for section, where in SECTION_LOADERS.items():
        if section in data:
            module, _, name = where.partition(":")
            try:
                profile.extras[section] = getattr(importlib.import_module(module), name)(data[section], builder)
            except Exception as exc:  # noqa: BLE001 - as for a family: a problem at the section's line, never exit 3
                detail = str(exc) or type(exc).__name__
                ctx.problem((section,), f"cannot read this section ({detail[:200]})")
    profile.secrets = frozenset(s for s in ctx.secrets if s)
    return profile


# Sections that are not check families: what the gate, the nightly job and the drill read. Each
# loader gets the validated section and the Builder (problems with lines, files) and returns the
# typed form kept in `Profile.extras[section]`. Named, like the families, so a run that does not use
# a section never imports its module.
SECTION_LOADERS: dict[str, str] = {
    "watch": "opscheck.config.watch:load_watch",
    "retries": "opscheck.config.gate:load_retries",
    "objectives": "opscheck.config.objectives:load_objectives",
    "notify": "opscheck.config.notify:load_notify",
    "maintenance": "opscheck.config.notify:load_maintenance",
    "restore": "opscheck.config.restore:load_restore",
}


class Builder:
    """What a family's `build()` gets: section resolution, problems with lines, files, defaults."""

    def __init__(self, profile: Profile, data: dict[str, Any], ctx: _Ctx) -> None:
        self.profile = profile
        self.data = data
        self.defaults: dict[str, Any] = data.get("defaults", {})
        self.ctx = ctx
        self.base = profile.path.parent

    def problem(self, path: Path_, cause: str) -> None:
        self.ctx.problem(path, cause)

    def line(self, path: Path_) -> int | None:
        return self.ctx.line(path)

    def file(self, relative: str) -> Path:
        return self.base / relative

    def common(self, family: str, name: str, path: Path_, entry: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        """The Case fields every family shares, for `SomeCase(**builder.common(...), ...)`."""
        section, severity = self.resolve(family, path, entry)
        fields = {"family": family, "name": name, "field": _field_name(path), "line": self.line(path),
                  "severity": severity, "section": section}
        fields.update(extra)
        return fields

    def unique(self, cases: list[Case], names_path: list[Path_]) -> None:
        seen: set[str] = set()
        for case, path in zip(cases, names_path):
            if case.name in seen:
                self.problem(path, f"duplicate check name {case.name!r}")
            seen.add(case.name)

    def resolve(self, family: str, entry_path: Path_, entry: Mapping[str, Any]) -> tuple[Section | None, str]:
        family_defaults = self.defaults.get(family, {})
        severity = entry.get("severity") or family_defaults.get("severity") or DEFAULT_SEVERITY
        if "runbook" in entry:
            ref, ref_path = entry["runbook"], entry_path + ("runbook",)
        elif "runbook" in family_defaults:
            ref, ref_path = family_defaults["runbook"], ("defaults", family, "runbook")
        else:
            return None, severity
        return self._section(ref, ref_path), severity

    def _section(self, ref: str, ref_path: Path_) -> Section | None:
        runbook = self.profile.runbook
        if runbook is None:
            if "runbook" not in self.data:
                self.ctx.problem(ref_path, f"names runbook section {ref!r} but the profile sets no `runbook:` file")
            return None
        section = runbook.find(ref)
        if section is None:
            close = runbook.suggest(ref)
            hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
            self.ctx.problem(ref_path, f"unknown runbook section {ref!r} in {runbook.path}{hint}")
        return section


def status_set(value: Any, default: tuple[int, ...] = (200,)) -> tuple[int, ...]:
    if value is None:
        return default
    return tuple(value) if isinstance(value, list) else (int(value),)
