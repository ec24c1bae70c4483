"""OpenAPI: the service against its own OpenAPI document (the `openapi:` section, family `schema`).

Checks, against the spec the service publishes (or a file): status and response-schema conformance
of operations, documented routes that exist, the reported version, and that invalid bodies get 4xx,
never 5xx. The runbook sentences it serves: "the API answers as its OpenAPI document says",
"/api/health reports the documented version" and "invalid input gets 422, never 500". Its checks
report as family `schema` (check ids `schema::openapi:<probe>`, marker `-m schema`), as they always have.

Every operation is exercised with the request it documents (`contract.build_request`): its own
method, its path and required query parameters filled (profile `params:`, then the spec's
examples), its required body, all under the API's base path (`contract.server_base`). An
operation whose request cannot be built is "not run", never passed: a listed operation is skipped
naming the parameter it lacked; in the all-GETs conformance and bad-input probes the others still
run and the check ends `degraded`, listing what was not run (skipped when nothing could run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator

import yaml

import pytest

from opscheck.contract import (
    NO_BODY,
    SAFE_METHODS,
    Operation,
    OperationRequest,
    ServerBase,
    Unfillable,
    build_request,
    invalid_bodies,
    load_spec,
    operations,
    response_schema,
    server_base,
    validate,
    version_of,
)
from opscheck.files import DATA_LIMIT, read_bounded
from opscheck.transport.http import Response
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class OpenApiCase(Case):
    """One `openapi:` probe: `conformance` (all GETs, or the one listed `operation`), `docs-routes`,
    `version` or `bad-input` (mutating), with where the spec is and the request values to send."""

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
    params: dict[str, Any] = field(default_factory=dict)  # `openapi: {params:}`: values by parameter name, any operation
    op_params: dict[str, Any] = field(default_factory=dict)  # this listed operation's own `params:`
    body: Any = NO_BODY  # this listed operation's `body:` (NO_BODY: none given)


def build(raw: dict[str, Any], b: Builder) -> Iterator[OpenApiCase]:
    """The probes of `openapi: {spec: /openapi.json, operations: [...], version: {path, json}, bad_input: {}}`.

    One conformance case per listed operation (`schema::openapi:conformance:GET /x`), or one for all
    GETs; `docs-routes` unless `docs_routes: false`; `version` and `bad-input` when asked for. An
    operation not written as "METHOD /path", or listed twice, is a problem at its line.
    """
    spec = raw.get("spec", "/openapi.json")
    # An `operations:` entry is "METHOD /path", or {op: "METHOD /path", params: {...}, body: ...}.
    listed: list[tuple[str, dict[str, Any], Any]] = []
    for entry in raw.get("operations", ()):
        if isinstance(entry, dict):
            listed.append((str(entry.get("op", "")), dict(entry.get("params") or {}), entry.get("body", NO_BODY)))
        else:
            listed.append((str(entry), {}, NO_BODY))
    common = dict(spec=spec, spec_file=None if spec.startswith("/") else str(b.file(spec)),
                  only=tuple(label for label, _, _ in listed), exclude=tuple(raw.get("exclude", ())),
                  params=dict(raw.get("params") or {}))
    for label in common["only"] + common["exclude"]:
        if len(label.split(" ")) != 2:
            b.problem(("openapi", "operations"), f"{label!r}: write operations as 'METHOD /path'")
            return
    for index, label in enumerate(common["only"]):
        if label in common["only"][:index]:  # one test per operation: its name is the check's id
            b.problem(("openapi", "operations", index), f"{label!r} is listed twice")
            return

    def case(probe: str, **extra: Any) -> OpenApiCase:
        name = f"openapi:{probe}" + (f":{extra['operation']}" if extra.get("operation") else "")
        return OpenApiCase(**b.common("schema", name, ("openapi",), raw), probe=probe, **common, **extra)

    # Listed operations get one test each; "all GETs" is one test, so collection needs no network.
    # A listed write (POST, PUT, PATCH, DELETE, ...) is sent as itself, so it is a mutating check.
    if listed:
        for label, op_params, body in listed:
            yield case("conformance", operation=label, op_params=op_params, body=body,
                       mutating=label.split(" ")[0].upper() not in SAFE_METHODS)
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


def run(case: OpenApiCase, http: CheckHttp) -> None:
    """Load the spec (once per run, from the service or the file) and run the case's probe.

    Raises CheckFailed with `schema` (an answer breaks the document, an undocumented status or a
    missing documented route, a wrong version, an invalid body accepted, an unreadable spec) or
    `status` (the spec URL did not answer 200, 5xx on an invalid body); CheckDegraded with `no_data`
    when some operations could not be requested (no value for a required parameter). A probe with
    nothing to check, or a listed operation that cannot be requested, is skipped, naming why.
    """
    spec = _spec(case, http)
    {"conformance": _conformance, "docs-routes": _docs_routes, "version": _version, "bad-input": _bad_input}[case.probe](
        case, http, spec)


def _spec(case: OpenApiCase, http: CheckHttp) -> dict[str, Any]:
    key = f"openapi:{case.spec_file or http.target.url(case.spec)}"
    if key in http.cache:
        return http.cache[key]
    if case.spec_file:
        try:
            text = read_bounded(case.spec_file, DATA_LIMIT, "OpenAPI document").decode("utf-8")
            data = json.loads(text) if case.spec_file.endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise CheckFailed(Reason.SCHEMA, f"{case.spec_file}: cannot read the OpenAPI document: {exc}") from None
    else:
        response = http.get(case.spec)
        if response.status != 200:
            raise CheckFailed(Reason.STATUS, f"GET {case.spec}: status {response.status}, expected 200 (the OpenAPI document)",
                              response.evidence)
        from opscheck.jsonvalue import plain  # the document as json.loads reads it: examples are sent, not compared

        data = plain(response.json(f"GET {case.spec}"))
    try:
        spec = load_spec(data, source=case.spec_file or case.spec)
    except ValueError as exc:
        raise CheckFailed(Reason.SCHEMA, str(exc)) from None
    http.cache[key] = spec
    return spec


def _listed(case: OpenApiCase, spec: dict[str, Any]) -> Operation:
    ops = operations(spec)
    chosen = [op for op in ops if op.label == case.operation]
    if not chosen:
        raise CheckFailed(Reason.SCHEMA, f"{case.operation}: not an operation of the OpenAPI document "
                          f"(operations: {_labels(ops)})")
    return chosen[0]


def _labels(ops: list[Operation], limit: int = 12) -> str:
    shown = ", ".join(op.label for op in ops[:limit])
    return (shown + f", ... ({len(ops)} in all)" if len(ops) > limit else shown) or "none"


def _server(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any], op: Operation | None) -> ServerBase:
    spec_url = None if case.spec_file else http.target.url(case.spec)
    try:
        return server_base(spec, op, base_url=http.target.base_url, spec_url=spec_url)
    except ValueError as exc:
        raise CheckFailed(Reason.SCHEMA, f"{case.spec_file or case.spec}: {exc}") from None


def _where(base: ServerBase) -> str:
    """Where the routes were requested, for messages: "" when the document names no server."""
    if base.server_url is None:
        return ""
    at = f"the base URL + {base.prefix}" if base.prefix else "the base URL"
    return f" [routes requested at {at}, from servers[0].url {base.server_url!r}" + (f"; {base.note}" if base.note else "") + "]"


def _send(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any], op: Operation, request: OperationRequest,
          body: Any = NO_BODY) -> tuple[Response, str, ServerBase]:
    """Send `request` under the API's base path; (response, label naming what was sent, server base)."""
    base = _server(case, http, spec, op)
    path = base.prefix + request.path
    kwargs: dict[str, Any] = {"headers": dict(request.headers)}
    body = request.body if body is NO_BODY else body
    if body is not NO_BODY:
        if request.media_type is None or request.is_json or not isinstance(body, str):
            kwargs["json"] = _plain(body)
        else:
            kwargs["headers"]["Content-Type"] = request.media_type
            kwargs["content"] = body.encode("utf-8")
    response = http.request(op.method, path, **kwargs)
    label = op.label if path == op.path else f"{op.label} (sent {op.method} {path})"
    return response, label, base


def _plain(value: Any) -> Any:
    """`value` with exact decimals (from the profile) as JSON numbers the encoder can write."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_answer(op: Operation, spec: dict[str, Any], response: Response, label: str) -> str | None:
    """Why `response` breaks `op`'s documented responses, or None when it conforms."""
    schema, matched = response_schema(op, response.status, response.content_type.split(";")[0] or "application/json")
    if matched == "undocumented":
        return f"{label}: status {response.status} is not documented (documented: {', '.join(op.responses) or 'none'})"
    if schema is None or op.method == "HEAD":  # a HEAD answer has no body to hold to the schema
        return None
    try:
        violations = validate(response.json(label), schema, root=spec, limit=3)
    except CheckFailed as exc:
        return exc.message
    except ValueError as exc:
        return f"{label}: {exc}"
    if violations:
        return f"{label}: {violations[0].message}" + (f" (+{len(violations) - 1} more)" if len(violations) > 1 else "")
    return None


def _request_for(case: OpenApiCase, spec: dict[str, Any], op: Operation, **kwargs: Any) -> OperationRequest:
    """build_request with the case's params; Unfillable passes through, a profile/spec error fails the check."""
    try:
        return build_request(spec, op, shared=case.params, **kwargs)
    except Unfillable:
        raise
    except ValueError as exc:
        raise CheckFailed(Reason.SCHEMA, str(exc)) from None


def _not_run_text(not_run: list[str], limit: int = 5) -> str:
    shown = "; ".join(not_run[:limit])
    return shown + (f"; (+{len(not_run) - limit} more)" if len(not_run) > limit else "")


def _conformance(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    if case.operation:
        op = _listed(case, spec)
        try:
            request = _request_for(case, spec, op, params=case.op_params, body=case.body)
        except Unfillable as exc:
            pytest.skip(str(exc))
        response, label, base = _send(case, http, spec, op, request)
        failure = _check_answer(op, spec, response, label)
        if failure:
            raise CheckFailed(Reason.SCHEMA, failure + _where(base), response.evidence)
        return
    # All GETs, in one test: an operation with a parameter nobody gave a value for is not run, and
    # listed as such; the others are still checked.
    selected = [op for op in operations(spec) if op.method == "GET" and op.label not in case.exclude]
    if not selected:
        pytest.skip("the OpenAPI document has no GET operation to check" + (" (after exclude:)" if case.exclude else ""))
    problems: list[str] = []
    not_run: list[str] = []
    first: Response | None = None
    where = ""
    for op in selected:
        try:
            request = _request_for(case, spec, op)
        except Unfillable as exc:
            not_run.append(str(exc))
            continue
        response, label, base = _send(case, http, spec, op, request)
        failure = _check_answer(op, spec, response, label)
        if failure:
            problems.append(failure)
            first = first or response
            where = where or _where(base)
    skipped = f"; not run: {_not_run_text(not_run)}" if not_run else ""
    if problems:
        more = f" (and {len(problems) - 1} more operation(s): {'; '.join(problems[1:3])})" if len(problems) > 1 else ""
        raise CheckFailed(Reason.SCHEMA, problems[0] + more + where + skipped, first.evidence if first else None)
    if len(not_run) == len(selected):
        pytest.skip(f"no GET operation could be requested: {_not_run_text(not_run)}")
    if not_run:
        raise CheckDegraded(Reason.NO_DATA, f"{len(selected) - len(not_run)} GET operation(s) conform, {len(not_run)} not run "
                            f"(give values in openapi params: or list them in exclude:): {_not_run_text(not_run)}")


def _docs_routes(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    # Routes with a path parameter stay out: a 404 there may only mean "no such item".
    routes = [op for op in operations(spec)
              if op.method == "GET" and "{" not in op.path and op.label not in case.exclude]
    if not routes:
        pytest.skip("the OpenAPI document has no GET route without path parameters to look for")
    missing = []
    first: Response | None = None
    where = ""
    for op in routes:
        try:
            request = _request_for(case, spec, op)
        except Unfillable:
            # Without its required query value the route still answers 400/422, not 404: that is enough here.
            request = OperationRequest(op.method, op.path, {}, NO_BODY, None, {})
        response, label, base = _send(case, http, spec, op, request)
        if response.status in (404, 405):
            missing.append(f"{base.prefix}{op.path} ({response.status})")
            first = first or response
            where = where or _where(base)
    if missing:
        raise CheckFailed(Reason.SCHEMA, f"documented GET route(s) missing on the service: {', '.join(missing)}{where}",
                          first.evidence if first else None)


def _version(case: OpenApiCase, http: CheckHttp, spec: dict[str, Any]) -> None:
    assert case.version_path is not None
    response = http.get(case.version_path)
    label = f"GET {case.version_path}"
    if case.version_header:
        reported = response.headers.get(case.version_header)
        where = f"header {case.version_header}"
    else:
        from opscheck.measure.bands import json_path_get

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
               and op.label not in case.exclude]
    if not targets:
        pytest.skip("the OpenAPI document has no POST/PUT/PATCH operation with a JSON request body")
    not_run: list[str] = []
    for op in targets:
        try:
            request = _request_for(case, spec, op, with_body=False)
        except Unfillable as exc:
            not_run.append(str(exc))
            continue
        for body in invalid_bodies(op.request_schema or {}, root=spec, max_examples=case.max_examples):
            response, label, base = _send(case, http, spec, op, request, body=body)
            shown = json.dumps(body)[:80]
            if response.status >= 500:
                raise CheckFailed(Reason.STATUS, f"{label} with an invalid body {shown}: status {response.status}, "
                                  f"expected 4xx (a server error on bad input){_where(base)}", response.evidence)
            if response.status < 400:
                raise CheckFailed(Reason.SCHEMA, f"{label} with an invalid body {shown}: accepted with status "
                                  f"{response.status}, expected 4xx{_where(base)}", response.evidence)
    if len(not_run) == len(targets):
        pytest.skip(f"no operation with a request body could be requested: {_not_run_text(not_run)}")
    if not_run:
        raise CheckDegraded(Reason.NO_DATA, f"{len(targets) - len(not_run)} operation(s) refuse invalid bodies, "
                            f"{len(not_run)} not run (give values in openapi params: or list them in exclude:): "
                            f"{_not_run_text(not_run)}")


Case = OpenApiCase  # the family protocol's name for this module's case type
