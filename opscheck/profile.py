"""Load opscheck.yaml: YAML with line numbers -> ${VAR} interpolation -> JSON Schema -> typed Profile.

Every problem is reported as `file:line: field: cause`, so a CI config check (`opscheck lint`)
points at the exact place to fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from opscheck.http import HttpSettings
from opscheck.runbook import Runbook, RunbookError, Section

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
    """One or more problems in a profile; str() is one `file:line: field: cause` per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- typed profile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    name: str
    base_url: str
    allow_mutating: bool = False


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
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's loader is the same safe loader, five times faster on big profiles; marks are identical.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    """safe_load semantics, plus a map from each value's path to its 1-based line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path_, int] = {}
        problems: list[Problem] = []
        _walk_nodes(node, (), lines, problems, file)
        if problems:
            raise ProfileError(problems)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        cause = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ProfileError([Problem(file, line, "", f"invalid YAML: {cause}")]) from None
    except yaml.YAMLError as exc:
        raise ProfileError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def _walk_nodes(node: yaml.Node, path: Path_, lines: dict, problems: list, file: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(file, key_node.start_mark.line + 1, _field_name(path + (key,)),
                            f"duplicate key (first defined on line {seen[key]})")
                )
            seen[key] = key_node.start_mark.line + 1
            _walk_nodes(value_node, path + (key,), lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_nodes(item, path + (index,), lines, problems, file)


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
        # "${BENCH_MS:-250}" stands for a whole value: let YAML decide its type (250 -> int).
        try:
            typed = yaml.safe_load(result)
        except yaml.YAMLError:
            return result
        return typed if isinstance(typed, (int, float, bool)) else result
    return result


# --- validation ------------------------------------------------------------------------------


@cache
def profile_schema() -> dict[str, Any]:
    return json.loads(resources.files("opscheck").joinpath("profile.schema.json").read_text("utf-8"))


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = profile_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _schema_problems(data: Any, ctx: _Ctx) -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    for error in errors[:20]:
        path = tuple(error.absolute_path)
        cause = error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed)):
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                ctx.problem(path + (key,), f"unknown field{extra}")
            continue
        if error.validator in ("oneOf", "anyOf") and error.context:
            cause = min(error.context, key=lambda e: len(e.message)).message
        ctx.problem(path, cause)


@dataclass
class _Ctx:
    file: str
    lines: Mapping[Path_, int]
    problems: list[Problem] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def problem(self, path: Path_, cause: str) -> None:
        self.problems.append(Problem(self.file, _line_for(self.lines, path), _field_name(path), cause))

    def line(self, path: Path_) -> int | None:
        return _line_for(self.lines, path)

    def check(self) -> None:
        if self.problems:
            unique = list(dict.fromkeys(self.problems))
            raise ProfileError(sorted(unique, key=lambda p: (p.line or 0, p.field)))


# --- building the typed profile --------------------------------------------------------------


def load_profile(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Profile:
    env = os.environ if environ is None else environ
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ProfileError([Problem(file, None, "", "profile not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([Problem(file, None, "", f"cannot read profile: {exc}")]) from None

    raw, lines = _load_yaml(text, file)
    ctx = _Ctx(file, lines)
    if not isinstance(raw, dict):
        ctx.problem((), "the profile must be a YAML mapping with at least `service:`")
        ctx.check()
    data = _interpolate(raw, (), env, ctx)
    ctx.check()
    _schema_problems(data, ctx)
    ctx.check()
    profile = _build(path, data, env, ctx)
    ctx.check()
    return profile


def _read_env_secret(var: str, env: Mapping[str, str], ctx: _Ctx) -> list[str]:
    values = [v.strip() for v in env.get(var, "").split(";") if v.strip()]
    ctx.secrets.update(values)
    return values


def _collect_env_fields(data: Any, env: Mapping[str, str], ctx: _Ctx) -> None:
    """Any `*_env` field names a variable whose value is a secret, wherever it appears."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                _read_env_secret(value, env, ctx)
            else:
                _collect_env_fields(value, env, ctx)
    elif isinstance(data, list):
        for item in data:
            _collect_env_fields(item, env, ctx)


def _build(path: Path, data: dict[str, Any], env: Mapping[str, str], ctx: _Ctx) -> Profile:
    base = path.parent
    http_raw = data.get("http", {})
    ca_file = http_raw.get("ca_file")
    http = HttpSettings(
        timeout_s=float(http_raw.get("timeout_s", 5.0)),
        deadline_s=float(http_raw.get("deadline_s", 15.0)),
        max_body_bytes=int(http_raw.get("max_body_bytes", 1 << 20)),
        verify_tls=bool(http_raw.get("verify_tls", True)),
        ca_file=str(base / ca_file) if ca_file else None,
        headers=dict(http_raw.get("headers", {})),
    )
    if http.deadline_s < http.timeout_s:
        ctx.problem(("http", "deadline_s"), f"deadline_s ({http.deadline_s}) must be at least timeout_s ({http.timeout_s})")

    _collect_env_fields(data, env, ctx)
    auth = None
    if "auth" in data:
        a = data["auth"]
        auth = Auth(header=a["header"], keys_env=a["keys_env"], scheme=a.get("scheme"),
                    keys=tuple(_read_env_secret(a["keys_env"], env, ctx)))

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
            name: Environment(name, e["base_url"].rstrip("/"), bool(e.get("allow_mutating", False)))
            for name, e in data.get("environments", {}).items()
        },
    )
    profile.raw = data
    builder = Builder(profile, data, ctx)
    from opscheck.registry import FAMILIES

    for family in FAMILIES.values():
        if family.section in data:
            profile.by_section[family.section] = list(family.load_builder()(data[family.section], builder))
    profile.secrets = frozenset(s for s in ctx.secrets if s)
    return profile


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
