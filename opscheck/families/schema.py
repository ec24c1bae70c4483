"""Schema: responses against JSON Schema files, and the service against its own OpenAPI document.

`schema:` entries validate one route's JSON against a schema file. `openapi:` checks, against the
spec the service publishes (or a file): status and response-schema conformance of GET operations,
documented routes that exist, the reported version, and that invalid bodies get 4xx, never 5xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from opscheck.contract import Operation, invalid_bodies, load_spec, operations, response_schema, validate, version_of
from opscheck.http import Response
from opscheck.outcome import CheckFailed, Reason
from opscheck.profile import Builder, Case, status_set
from opscheck.target import CheckHttp

@dataclass(frozen=True)
class SchemaCase(Case):
    path: str = "/"
    schema: dict[str, Any] = field(default_factory=dict)
    schema_file: str = ""
    status: tuple[int, ...] = (200,)


@dataclass(frozen=True)
class OpenApiCase(Case):
    probe: str = "conformance"
    spec: str = "/openapi.json"  # a path on the service, or a file (then `spec_file` is set)
    spec_file: str | None = None
    operation: str | None = None  # "GET /api/items" for one operation; None for all selected
    only: tuple[str, ...] = ()  # the profile's `operations:` list
    exclude: tuple[str, ...] = ()
    version_path: str | None = None
    version_json: str | None = None
    version_header: str | None = None
    version_expect: str | None = None  # default: the spec's info.version
    max_examples: int = 10


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[SchemaCase]:
    cases: list[SchemaCase] = []
    for index, entry in enumerate(entries):
        path = ("schema", index)
        file = b.file(entry["schema"])
        try:
            schema = json.loads(file.read_text(encoding="utf-8")) if file.suffix == ".json" else yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            b.problem(path + ("schema",), f"{file}: {exc.strerror}")
            continue
        except (ValueError, yaml.YAMLError) as exc:
            b.problem(path + ("schema",), f"{file}: not a JSON Schema document: {exc}")
            continue
        cases.append(SchemaCase(**b.common("schema", entry["name"], path, entry), path=entry["path"], schema=schema,
                                schema_file=str(file), status=status_set(entry.get("status"))))
    b.unique(cases, [("schema", i, "name") for i in range(len(cases))])
    yield from cases


def build_openapi(raw: dict[str, Any], b: Builder) -> Iterator[OpenApiCase]:
    spec = raw.get("spec", "/openapi.json")
    common = dict(spec=spec, spec_file=None if spec.startswith("/") else str(b.file(spec)),
                  only=tuple(raw.get("operations", ())), exclude=tuple(raw.get("exclude", ())))
    for label in common["only"] + common["exclude"]:
        if len(label.split(" ")) != 2:
            b.problem(("openapi", "operations"), f"{label!r}: write operations as 'METHOD /path'")
            return

    def case(probe: str, **extra: Any) -> OpenApiCase:
        name = f"openapi:{probe}" + (f":{extra['operation']}" if extra.get("operation") else "")
        return OpenApiCase(**b.common("schema", name, ("openapi",), raw), probe=probe, **common, **extra)

    # Listed operations get one test each; "all GETs" is one test, so collection needs no network.
    if common["only"]:
        for label in common["only"]:
            yield case("conformance", operation=label)
    else:
        yield case("conformance")
    if raw.get("docs_routes", True):
        yield case("docs-routes")
    version = raw.get("version")
    if version:
        yield case("version", version_path=version["path"], version_json=version.get("json"),
                   version_header=version.get("header"), version_expect=version.get("expect"))
    if raw.get("bad_input"):
        bad = raw["bad_input"] if isinstance(raw["bad_input"], dict) else {}
        yield case("bad-input", mutating=True, max_examples=int(bad.get("max_examples", 10)))


def run_schema(case: SchemaCase, http: CheckHttp) -> None:
    response = http.get(case.path)
    label = f"GET {case.path}"
    if response.status not in case.status:
        raise CheckFailed(Reason.STATUS, f"{label}: status {response.status}, expected "
                          f"{' or '.join(map(str, case.status))}", response.evidence)
    _conform(response, case.schema, None, f"{label} against {case.schema_file}")


def run_openapi(case: OpenApiCase, http: CheckHttp) -> None:
    spec = _spec(case, http)
    {"conformance": _conformance, "docs-routes": _docs_routes, "version": _version, "bad-input": _bad_input}[case.probe](
        case, http, spec)


def _spec(case: OpenApiCase, http: CheckHttp) -> dict[str, Any]:
    key = f"openapi:{case.spec_file or http.target.url(case.spec)}"
    if key in http.cache:
        return http.cache[key]
    if case.spec_file:
        try:
            text = open(case.spec_file, encoding="utf-8").read()
            data = json.loads(text) if case.spec_file.endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise CheckFailed(Reason.SCHEMA, f"{case.spec_file}: cannot read the OpenAPI document: {exc}") from None
    else:
        response = http.get(case.spec)
        if response.status != 200:
            raise CheckFailed(Reason.STATUS, f"GET {case.spec}: status {response.status}, expected 200 (the OpenAPI document)",
                              response.evidence)
        data = response.json(f"GET {case.spec}")
    try:
        spec = load_spec(data, source=case.spec_file or case.spec)
    except ValueError as exc:
        raise CheckFailed(Reason.SCHEMA, str(exc)) from None
    http.cache[key] = spec
    return spec


def _selected(case: OpenApiCase, spec: dict[str, Any]) -> list[Operation]:
    ops = operations(spec)
    if case.operation:
        chosen = [op for op in ops if op.label == case.operation]
        if not chosen:
            raise CheckFailed(Reason.SCHEMA, f"{case.operation}: not an operation of the OpenAPI document "
                              f"(GET operations: {', '.join(o.label for o in ops if o.method == 'GET')})")
        return chosen
    return [op for op in ops if op.method == "GET" and not op.has_parameters and op.label not in case.exclude]


def _conformance(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    problems: list[str] = []
    first: Response | None = None
    for op in _selected(case, spec):
        response = http.get(op.path)
        schema, matched = response_schema(op, response.status, response.content_type.split(";")[0] or "application/json")
        failure = None
        if matched == "undocumented":
            failure = f"{op.label}: status {response.status} is not documented (documented: {', '.join(op.responses) or 'none'})"
        elif schema is not None:
            try:
                violations = validate(response.json(op.label), schema, root=spec, limit=3)
            except CheckFailed as exc:
                violations, failure = [], exc.message
            if violations:
                failure = f"{op.label}: {violations[0].message}" + (f" (+{len(violations) - 1} more)" if len(violations) > 1 else "")
        if failure:
            problems.append(failure)
            first = first or response
    if problems:
        more = f" (and {len(problems) - 1} more operation(s): {'; '.join(problems[1:3])})" if len(problems) > 1 else ""
        raise CheckFailed(Reason.SCHEMA, problems[0] + more, first.evidence if first else None)


def _docs_routes(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    missing = []
    first: Response | None = None
    for op in operations(spec):
        if op.method != "GET" or op.has_parameters or op.label in case.exclude:
            continue
        response = http.get(op.path)
        if response.status in (404, 405):
            missing.append(f"{op.path} ({response.status})")
            first = first or response
    if missing:
        raise CheckFailed(Reason.SCHEMA, f"documented GET route(s) missing on the service: {', '.join(missing)}",
                          first.evidence if first else None)


def _version(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    assert case.version_path is not None
    response = http.get(case.version_path)
    label = f"GET {case.version_path}"
    if case.version_header:
        reported = response.headers.get(case.version_header)
        where = f"header {case.version_header}"
    else:
        from opscheck.bands import json_path_get

        try:
            reported = json_path_get(response.json(label), case.version_json or "version")
        except LookupError as exc:
            raise CheckFailed(Reason.SCHEMA, f"{label}: {exc}", response.evidence) from None
        where = f"field {case.version_json or 'version'}"
    expected = case.version_expect or version_of(spec)
    source = "expected" if case.version_expect else "the OpenAPI info.version"
    if reported is None or str(reported) != str(expected):
        raise CheckFailed(Reason.SCHEMA, f"{label}: {where} reports {reported!r}, {source} is {expected!r}", response.evidence)


def _bad_input(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    targets = [op for op in operations(spec) if op.method in ("POST", "PUT", "PATCH") and op.request_schema
               and not op.has_parameters and op.label not in case.exclude]
    for op in targets:
        for body in invalid_bodies(op.request_schema or {}, root=spec, max_examples=case.max_examples):
            response = http.request(op.method, op.path, json=body)
            shown = json.dumps(body)[:80]
            if response.status >= 500:
                raise CheckFailed(Reason.STATUS, f"{op.label} with an invalid body {shown}: status {response.status}, "
                                  "expected 4xx (a server error on bad input)", response.evidence)
            if response.status < 400:
                raise CheckFailed(Reason.SCHEMA, f"{op.label} with an invalid body {shown}: accepted with status "
                                  f"{response.status}, expected 4xx", response.evidence)


def _conform(response: Response, schema: dict[str, Any], root: dict[str, Any] | None, label: str) -> None:
    try:
        violations = validate(response.json(label), schema, root=root, limit=3)
    except ValueError as exc:
        raise CheckFailed(Reason.SCHEMA, f"{label}: {exc}", response.evidence) from None
    if violations:
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        raise CheckFailed(Reason.SCHEMA, f"{label}: {violations[0].message}{more}", response.evidence)
