"""JSON Schema and OpenAPI 3.x contract checks: pure logic, the caller fetches the documents.

* `validate` checks one JSON value against a schema and names each violation by its JSON path.
  Plain schemas use their `$schema` dialect (Draft 2020-12 when they declare none); schemas of an
  OpenAPI document (`root=`) use Draft 2020-12, after OpenAPI 3.0's dialect is translated into it
  (`nullable`, boolean `exclusiveMaximum`/`exclusiveMinimum`, `$ref` siblings, OpenAPI-only
  annotations). `$ref`s resolve inside the schema and the document only: nothing is ever fetched.
* `load_spec`, `operations`, `response_schema`, `version_of` read an OpenAPI 3.x document.
* `build_request` gives the request that exercises an operation as documented (its method, its
  parameters filled from given values or the document's examples, its body); `Unfillable` when a
  required value is unknown. `server_base` places routes under `servers[0].url` on the target.
* `invalid_bodies` derives, deterministically, a bounded list of request bodies that break a schema
  (for "does the service reject what its own contract forbids?" checks).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import random
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema.exceptions import SchemaError, UnknownType, ValidationError, best_match

__all__ = [
    "NO_BODY",
    "SAFE_METHODS",
    "Operation",
    "OperationRequest",
    "ServerBase",
    "Unfillable",
    "Violation",
    "build_request",
    "invalid_bodies",
    "load_spec",
    "operations",
    "response_schema",
    "server_base",
    "validate",
    "version_of",
]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Where the schema under validation is placed inside (a copy of) the OpenAPI document, so that its
# "#/components/..." references resolve against the document, as OpenAPI defines them.
_DOC_URI = "urn:opscheck:openapi-document"
_SUBJECT = "x-opscheck-subject"
_MAX_ERRORS = 1000  # errors looked at per validation; a 100k-item array must not take minutes
_MAX_TEXT = 60  # characters of an instance or keyword value quoted in a message
_OPENAPI30_DROPPED = frozenset({"nullable", "example", "xml", "discriminator", "readOnly", "writeOnly", "externalDocs"})


# --------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True)
class Violation:
    path: str  # JSON path into the instance, e.g. "$.items[0].quantity"
    rule: str  # the failing keyword and its value, e.g. "type: integer"
    message: str  # one line: "$.items[0].quantity: '37' is not of type 'integer' (type: integer)"

    def __str__(self) -> str:
        return self.message


def validate(instance: object, schema: dict, *, root: dict | None = None, limit: int = 5) -> list[Violation]:
    """Up to `limit` violations of `schema` by `instance`; [] when it conforms.

    The first is jsonschema's `best_match` (for anyOf/oneOf it descends to the most relevant
    branch); the others follow sorted by instance path. `root` is the OpenAPI document `schema`
    belongs to: its "#/..." references resolve there. Raises ValueError for an invalid schema or a
    `$ref` that points outside the schema/document (remote references are never fetched).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    from opscheck.jsonvalue import plain  # bodies carry exact Decimals; jsonschema mixes them badly with float schemas

    return _Contract(schema, root).violations(plain(instance), limit)


class _Contract:
    """One schema compiled into a validator that never touches the network."""

    def __init__(self, schema: dict, root: dict | None) -> None:
        if not isinstance(schema, (dict, bool)):
            raise ValueError(f"a schema must be an object, got {_kind(schema)}")
        if root is not None and not isinstance(root, dict):
            raise ValueError(f"root must be the OpenAPI document (an object), got {_kind(root)}")
        openapi30 = root is not None and str(root.get("openapi", "")).startswith("3.0")
        self.schema: Any = _translate_30(schema) if openapi30 else schema
        registry: referencing.Registry = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
        if root is None:
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            self.document: Any = self.schema
            top: Any = self.schema
        else:
            cls = jsonschema.Draft202012Validator
            document = _translate_doc_30(root) if openapi30 else dict(root)
            document[_SUBJECT] = self.schema
            self.document = document
            resource = referencing.Resource(contents=document, specification=referencing.jsonschema.DRAFT202012)
            registry = registry.with_resource(_DOC_URI, resource)
            top = {"$ref": f"{_DOC_URI}#/{_SUBJECT}"}
        _refuse_remote_refs(self.schema, self.document)
        try:
            cls.check_schema(self.schema)
        except SchemaError as err:
            where = _schema_where(err)
            raise ValueError(f"invalid schema{where}: {_one_line(err.message)}") from None
        self.validator = cls(top, registry=registry)

    def errors(self, instance: object) -> list[ValidationError]:
        try:
            return list(itertools.islice(self.validator.iter_errors(instance), _MAX_ERRORS))
        except referencing.exceptions.Unresolvable as err:
            raise ValueError(f"cannot resolve $ref {_ref_of(err)!r}: not found in the schema or document") from None
        except UnknownType as err:
            raise ValueError(f"invalid schema: unknown type {err.type!r}") from None

    def is_valid(self, instance: object) -> bool:
        try:
            return next(iter(self.validator.iter_errors(instance)), None) is None
        except referencing.exceptions.Unresolvable as err:
            raise ValueError(f"cannot resolve $ref {_ref_of(err)!r}: not found in the schema or document") from None
        except UnknownType as err:
            raise ValueError(f"invalid schema: unknown type {err.type!r}") from None

    def violations(self, instance: object, limit: int) -> list[Violation]:
        errors = self.errors(instance)
        if not errors:
            return []
        best = best_match(errors)
        top = best
        while top.parent is not None:
            top = top.parent
        rest = sorted((e for e in errors if e is not top), key=lambda e: _path_key(e.absolute_path))
        found: list[Violation] = []
        for error in [best, *rest]:
            violation = _violation(error)
            if violation not in found:
                found.append(violation)
            if len(found) == limit:
                break
        return found


def _refuse_retrieval(uri: str) -> referencing.Resource:
    raise ValueError(f"{uri} is not in the schema or document, and opscheck never fetches remote schemas")


def _ref_of(err: referencing.exceptions.Unresolvable) -> str:
    ref = str(getattr(err, "ref", ""))
    ref = ref.replace(f"{_DOC_URI}#/{_SUBJECT}", "#").replace(f"{_DOC_URI}#", "#")
    return ref if "#" in ref or ":" in ref else f"#{ref}"


def _refuse_remote_refs(schema: Any, document: Any) -> None:
    """ValueError for any reachable `$ref` outside the schema/document (before anything is validated)."""
    known: set[str] | None = None  # the embedded `$id`s, collected on the first non-local reference
    seen: set[int] = set()
    pending: list[tuple[Any, str]] = [(schema, "")]
    while pending:
        start, start_base = pending.pop()
        for node, base in _walk_with_base(start, start_base):
            if id(node) in seen:
                continue
            seen.add(id(node))
            ref = node.get("$ref")
            if not isinstance(ref, str):
                continue
            uri, fragment = urldefrag(ref)
            if uri:
                if known is None:
                    known = {
                        urldefrag(urljoin(id_base, node_["$id"])).url
                        for node_, id_base in _walk_with_base(document, "")
                        if isinstance(node_.get("$id"), str)
                    }
                target = urldefrag(urljoin(base, uri)).url
                if target not in known:
                    raise ValueError(
                        f"$ref {ref!r} points outside the schema and document; "
                        "opscheck never fetches remote schemas: inline or bundle it"
                    )
            elif fragment.startswith("/") and not base:
                target_node = _pointer(document, fragment)
                if target_node is None:
                    raise ValueError(f"$ref {ref!r} not found in the schema or document")
                if isinstance(target_node, (dict, list)):
                    pending.append((target_node, base))


def _walk_with_base(node: Any, base: str) -> Iterator[tuple[dict, str]]:
    stack = [(node, base)]
    while stack:
        item, item_base = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$id"), str):
                item_base = urljoin(item_base, item["$id"])
            yield item, item_base
            stack.extend((value, item_base) for value in item.values() if isinstance(value, (dict, list)))
        elif isinstance(item, list):
            stack.extend((value, item_base) for value in item if isinstance(value, (dict, list)))


def _pointer(document: Any, fragment: str) -> Any:
    """The node at a JSON pointer ("/components/schemas/Item"), or None."""
    node = document
    for part in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _schema_where(err: SchemaError) -> str:
    path = [str(p) for p in err.absolute_path]
    return f" at {'/'.join(path)}" if path else ""


def _violation(error: ValidationError) -> Violation:
    path = format_path(error.absolute_path)
    keyword = str(error.validator)
    value: Any = error.validator_value
    if keyword == "required" and isinstance(value, list):  # one error per missing property: name that one
        value = [name for name in value if error.message == f"{name!r} is a required property"] or value
    rule = f"{keyword}: {_show(value, top=True)}"
    message = error.message
    full = repr(error.instance)
    if len(full) > _MAX_TEXT and full in message:
        message = message.replace(full, _clip(full))
    message = _clip(_one_line(message), 300)
    return Violation(path=path, rule=rule, message=f"{path}: {message} ({rule})")


def format_path(parts: Any) -> str:
    """`$`, `$.items[0].quantity`, `$['content-type']` for a sequence of keys and indexes."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{str(part)!r}]"
    return out


def _path_key(parts: Any) -> tuple:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in parts)


def _show(value: Any, top: bool = False) -> str:
    """A keyword value for a rule: bare type names, Python-style lists, JSON literals."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return _clip(value) if top else _clip(repr(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return _clip("[" + ", ".join(_show(v) for v in value) + "]", 120)
    try:
        return _clip(json.dumps(value, sort_keys=True, default=str), 120)
    except (TypeError, ValueError):
        return _clip(repr(value), 120)


def _clip(text: str, size: int = _MAX_TEXT) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# OpenAPI 3.0 -> Draft 2020-12


def _translate_doc_30(node: Any, key: str | None = None, parent_key: str | None = None) -> Any:
    """A copy of an OpenAPI 3.0 document whose Schema Objects are translated to Draft 2020-12."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if (k == "schema" and isinstance(v, dict)) or (key == "schemas" and parent_key == "components"):
                out[k] = _translate_30(v)
            else:
                out[k] = _translate_doc_30(v, k, key)
        return out
    if isinstance(node, list):
        return [_translate_doc_30(v, key, parent_key) for v in node]
    return node


def _translate_30(schema: Any) -> Any:
    """One OpenAPI 3.0 Schema Object in Draft 2020-12 terms.

    `nullable: true` adds "null" to `type` (and null to an `enum`); without a `type` it wraps the
    schema in anyOf [null, schema]. Boolean exclusiveMinimum/Maximum become numeric; a `$ref`'s
    siblings are ignored, as 3.0 specifies; example/xml/discriminator/readOnly/writeOnly are dropped.
    """
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI30_DROPPED:
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _translate_30(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _translate_30(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_translate_30(sub) for sub in value]
        else:
            out[key] = value
    for bound, flag in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if isinstance(out.get(flag), bool) and out.pop(flag) and bound in out:
            out[flag] = out.pop(bound)
    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = [*types, "null"]
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif out:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


# --------------------------------------------------------------------------------------------
# OpenAPI documents


@dataclass(frozen=True)
class Operation:
    method: str  # "GET"
    path: str  # "/api/items/{item_id}"
    operation_id: str | None
    has_parameters: bool  # any path parameter, or any required query parameter
    responses: dict[str, dict]  # "200" / "4XX" / "default" -> response object (its $ref followed)
    request_schema: dict | None  # the JSON requestBody schema, $refs not inlined: validate with root=spec
    secured: bool  # a non-empty `security` (the operation's, else the document's) with no anonymous {} option
    parameters: tuple[dict, ...] = ()  # path-level and operation-level Parameter Objects, $refs followed
    request_body: dict | None = None  # the Request Body Object, $ref followed
    servers: tuple[dict, ...] = ()  # the operation's `servers`, else its path item's; () means the document's

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def load_spec(data: object, *, source: str) -> dict:
    """`data` (parsed JSON/YAML) if it is an OpenAPI 3.x document, else ValueError naming `source`."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: not an OpenAPI 3 document: the top level is {_kind(data)}, expected an object")
    if "swagger" in data and "openapi" not in data:
        raise ValueError(
            f"{source}: Swagger {data['swagger']} (OpenAPI 2) is not supported: convert it to OpenAPI 3 "
            "or have the service publish its OpenAPI 3 document"
        )
    if "openapi" not in data:
        raise ValueError(f"{source}: not an OpenAPI 3 document: no 'openapi' field (keys: {_key_list(data)})")
    version = data["openapi"]
    if isinstance(version, float):  # unquoted `openapi: 3.1` in YAML
        version = repr(version)
    if not isinstance(version, str) or not re.match(r"^3\.\d+(\.\d+)?", version):
        raise ValueError(f"{source}: not an OpenAPI 3 document: openapi is {version!r}, expected '3.x.y'")
    paths = data.get("paths")
    if not isinstance(paths, dict):
        shown = "missing" if paths is None else f"{_kind(paths)}, expected an object"
        raise ValueError(f"{source}: not an OpenAPI 3 document: 'paths' is {shown}")
    for path, item in paths.items():
        if not isinstance(item, dict):
            raise ValueError(f"{source}: paths[{path!r}] is {_kind(item)}, expected a path item object")
    return data


def version_of(spec: dict) -> str | None:
    """The document's `info.version` (the API's version, not the OpenAPI version)."""
    info = spec.get("info") if isinstance(spec, dict) else None
    version = info.get("version") if isinstance(info, dict) else None
    return None if version is None else str(version)


def operations(spec: dict) -> list[Operation]:
    """Every operation, in document order; path-level parameters merged into each operation's."""
    document_security = spec.get("security")
    found: list[Operation] = []
    for path, raw_item in (spec.get("paths") or {}).items():
        item = _follow(spec, raw_item, f"paths[{path!r}]")
        if not isinstance(item, dict):
            continue
        shared = _parameters(spec, item.get("parameters"), path)
        for method, op in item.items():
            if method not in METHODS or not isinstance(op, dict):
                continue
            parameters = {**shared, **_parameters(spec, op.get("parameters"), path)}
            has_parameters = "{" in path or any(
                p.get("in") == "path" or (p.get("in") == "query" and p.get("required") is True)
                for p in parameters.values()
            )
            responses = {
                str(code): _follow(spec, response, f"{method.upper()} {path} response {code}")
                for code, response in (op.get("responses") or {}).items()
            }
            security = op.get("security", document_security)
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=op.get("operationId"),
                    has_parameters=has_parameters,
                    responses={k: v for k, v in responses.items() if isinstance(v, dict)},
                    request_schema=_request_schema(spec, op, f"{method.upper()} {path}"),
                    secured=_secured(security),
                    parameters=tuple(parameters.values()),
                    request_body=_body_object(spec, op, f"{method.upper()} {path}"),
                    servers=_server_list(op.get("servers")) or _server_list(item.get("servers")),
                )
            )
    return found


def response_schema(op: Operation, status: int, content_type: str = "application/json") -> tuple[dict | None, str]:
    """The documented schema for `status`: the exact code, then its "4XX" range, then "default".

    Returns (schema or None, the responses key that matched), or (None, "undocumented"). A matched
    response without a schema for `content_type` (e.g. a 204) gives (None, key).
    """
    by_upper = {str(code).upper(): code for code in op.responses}
    key = None
    for candidate in (str(status), f"{status // 100}XX", "DEFAULT"):
        if candidate in by_upper:
            key = by_upper[candidate]
            break
    if key is None:
        return None, "undocumented"
    content = op.responses[key].get("content")
    if not isinstance(content, dict):
        return None, key
    media = _media(content, content_type)
    schema = media.get("schema") if isinstance(media, dict) else None
    return (schema if isinstance(schema, (dict, bool)) else None), key


def _media(content: dict, content_type: str) -> Any:
    wanted = content_type.split(";")[0].strip().lower()
    by_type = {str(k).split(";")[0].strip().lower(): v for k, v in content.items()}
    if wanted in by_type:
        return by_type[wanted]
    major = wanted.split("/")[0]
    if wanted.endswith("+json") and "application/json" in by_type:
        return by_type["application/json"]
    return by_type.get(f"{major}/*", by_type.get("*/*"))


def _body_object(spec: dict, op: dict, label: str) -> dict | None:
    body = _follow(spec, op.get("requestBody"), f"{label} requestBody")
    return body if isinstance(body, dict) else None


def _server_list(raw: Any) -> tuple[dict, ...]:
    return tuple(s for s in raw if isinstance(s, dict) and isinstance(s.get("url"), str)) if isinstance(raw, list) else ()


def _request_schema(spec: dict, op: dict, label: str) -> dict | None:
    body = _follow(spec, op.get("requestBody"), f"{label} requestBody")
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return None
    media = _media(content, "application/json")
    if media is None:
        media = next((v for k, v in content.items() if str(k).split(";")[0].strip().lower().endswith("+json")), None)
    schema = media.get("schema") if isinstance(media, dict) else None
    return schema if isinstance(schema, dict) else None


def _parameters(spec: dict, raw: Any, path: str) -> dict[tuple[str, str], dict]:
    found: dict[tuple[str, str], dict] = {}
    for param in raw if isinstance(raw, list) else []:
        param = _follow(spec, param, f"{path} parameter")
        if isinstance(param, dict):
            found[(str(param.get("name")), str(param.get("in")))] = param
    return found


def _secured(security: Any) -> bool:
    # `security: [{}]` (or an {} among the options) means anonymous access is allowed.
    return isinstance(security, list) and bool(security) and all(isinstance(r, dict) and r for r in security)


def _follow(spec: dict, node: Any, label: str) -> Any:
    """`node` with its `$ref` (chain) into the document followed; ValueError for other references."""
    for _ in range(32):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        ref = node["$ref"]
        if not ref.startswith("#"):
            raise ValueError(f"{label}: $ref {ref!r} points outside the document; opscheck never fetches it")
        target = _pointer(spec, ref[1:])
        if target is None:
            raise ValueError(f"{label}: $ref {ref!r} not found in the document")
        node = target
    raise ValueError(f"{label}: $ref cycle")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _key_list(data: dict) -> str:
    keys = [str(k) for k in itertools.islice(data, 6)]
    return ", ".join(keys) + (", ..." if len(data) > 6 else "") if keys else "none"


# --------------------------------------------------------------------------------------------
# the request an operation documents

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # every other method is a write: a mutating check
# OpenAPI: header parameters with these names are ignored (the transport and the auth config own them).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_TEMPLATE = re.compile(r"\{([^{}/]+)\}")


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Any = _NoBody()  # "the profile gives no body": distinct from a JSON null body


class Unfillable(ValueError):
    """A documented request cannot be built: a required parameter or body has no known value.

    str() is one line naming the operation and what it lacked, e.g. "GET /items/{item_id}: no value
    for path parameter item_id (give one in params: or an example in the spec)". Callers report the
    check (or that operation) as not run; it is never a pass.
    """


@dataclass(frozen=True)
class OperationRequest:
    """The request that exercises one operation, relative to the API's base (see `server_base`)."""

    method: str  # the operation's own method: "POST"
    path: str  # the route with path parameters filled, plus the query string, percent-encoded: "/items/1?limit=2"
    headers: dict[str, str]  # header parameters that have a value
    body: Any  # the body to send (JSON value, or text for a non-JSON media type); NO_BODY when none
    media_type: str | None  # "application/json" (or the document's JSON media type), "text/plain", ...; None without a body
    sources: dict[str, str]  # "path item_id" / "query limit" / "body" -> where its value came from, e.g. "params:", "schema example"

    @property
    def has_body(self) -> bool:
        return self.body is not NO_BODY

    @property
    def is_json(self) -> bool:
        return self.media_type is not None and _is_json_media(self.media_type)


def build_request(
    spec: dict,
    op: Operation,
    *,
    params: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
    body: Any = NO_BODY,
    with_body: bool = True,
) -> OperationRequest:
    """The request that exercises `op` as documented: its method, its parameters filled, its body.

    Each path parameter, and each required query or header parameter, takes the first value found
    in: `params` (this operation's values from the profile, by parameter name), `shared` (the
    profile's values for every operation, by name), the parameter's `example`, its first
    `examples` entry, its content's example, then its schema's `example`, first `examples`,
    `default`, first `enum`, `const` (following `$ref` and allOf/anyOf/oneOf branches). An
    optional query or header parameter is sent only with a value from `params`/`shared`. Values
    are serialized by the parameter's `style`/`explode` (simple for paths, form for queries) and
    percent-encoded. A required request body is `body` when given, else the media type's
    example, else its schema's example, else a minimal body generated from its schema and checked
    to be valid; an optional body is sent only when `body` is given. `with_body=False` leaves the
    body out (for callers that send bodies of their own, e.g. invalid ones).

    Raises Unfillable when a required parameter or body has no value, and ValueError for a
    `params` name the operation does not declare (a typo in the profile) or a schema that cannot
    be read.
    """
    params = dict(params or {})
    shared = dict(shared or {})
    declared = [p for p in op.parameters if isinstance(p.get("name"), str) and p.get("in") in ("path", "query", "header", "cookie")]
    names = {p["name"] for p in declared} | set(_TEMPLATE.findall(op.path))
    unknown = [name for name in params if name not in names]
    if unknown:
        listed = ", ".join(f"{p['name']} ({p['in']})" for p in declared) or "none"
        raise ValueError(f"{op.label}: params: {', '.join(map(repr, unknown))} is not a parameter of this operation "
                         f"(its parameters: {listed})")
    sources: dict[str, str] = {}
    by_template: dict[str, str] = {}
    query: list[str] = []
    headers: dict[str, str] = {}
    path_params = {p["name"]: p for p in declared if p["in"] == "path"}
    for name in _TEMPLATE.findall(op.path):
        path_params.setdefault(name, {"name": name, "in": "path", "required": True})
    for param in [*path_params.values(), *(p for p in declared if p["in"] != "path")]:
        name, where = param["name"], param["in"]
        if where == "cookie" or (where == "header" and name.lower() in _IGNORED_HEADERS):
            continue
        required = where == "path" or param.get("required") is True
        found, value, source = _lookup(name, params, shared)
        if not found and required:
            found, value, source = _param_example(spec, param)
        if not found:
            if required:
                raise Unfillable(f"{op.label}: no value for {where} parameter {name} "
                                 "(give one in params: or an example in the spec)")
            continue
        sources[f"{where} {name}"] = source
        if where == "path":
            by_template[name] = _path_value(param, value)
        elif where == "query":
            query.extend(_query_pairs(param, value))
        else:
            headers[name] = _simple(value, explode=param.get("explode") is True)
    path = _TEMPLATE.sub(lambda m: by_template[m.group(1)], op.path)
    if query:
        path += ("&" if "?" in path else "?") + "&".join(query)
    sent, media = _request_body(spec, op, body, sources) if with_body else (NO_BODY, None)
    return OperationRequest(method=op.method, path=path, headers=headers, body=sent, media_type=media, sources=sources)


def _lookup(name: str, params: dict, shared: dict) -> tuple[bool, Any, str]:
    if name in params:
        return True, params[name], "params:"
    if name in shared:
        return True, shared[name], "openapi params:"
    return False, None, ""


def _param_example(spec: dict, param: dict) -> tuple[bool, Any, str]:
    if "example" in param:
        return True, param["example"], "parameter example"
    found, value = _first_example(spec, param.get("examples"))
    if found:
        return True, value, "parameter examples"
    content = param.get("content")
    if isinstance(content, dict) and content:
        media = next(iter(content.values()))
        if isinstance(media, dict):
            if "example" in media:
                return True, media["example"], "parameter content example"
            found, value = _first_example(spec, media.get("examples"))
            if found:
                return True, value, "parameter content examples"
            return _schema_example(spec, media.get("schema"))
    return _schema_example(spec, param.get("schema"))


def _first_example(spec: dict, examples: Any) -> tuple[bool, Any]:
    """The first Example Object's `value` of an `examples` map ($ref followed; externalValue is never fetched)."""
    if not isinstance(examples, dict):
        return False, None
    for example in examples.values():
        example = _follow(spec, example, "example")
        if isinstance(example, dict) and "value" in example:
            return True, example["value"]
    return False, None


def _schema_example(spec: dict, schema: Any, depth: int = 0) -> tuple[bool, Any, str]:
    schema = _follow(spec, schema, "schema")
    if not isinstance(schema, dict) or depth > 4:
        return False, None, ""
    if "example" in schema:
        return True, schema["example"], "schema example"
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return True, schema["examples"][0], "schema examples"
    if "default" in schema:
        return True, schema["default"], "schema default"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return True, next((v for v in schema["enum"] if v is not None), schema["enum"][0]), "schema enum"
    if "const" in schema:
        return True, schema["const"], "schema const"
    for key in ("allOf", "anyOf", "oneOf"):
        branches = schema.get(key) if isinstance(schema.get(key), list) else []
        for branch in branches:
            found = _schema_example(spec, branch, depth + 1)
            if found[0]:
                return found
    return False, None, ""


def _text(value: Any) -> str:
    """One parameter value as text: JSON literals for booleans and null, exact digits for numbers."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)  # str of a Decimal keeps its digits; of a float, its shortest round-trip form


def _enc(value: Any, allow_reserved: bool = False) -> str:
    # allowReserved: RFC 3986 reserved characters pass unencoded, as OpenAPI defines it for queries.
    return quote(_text(value), safe=":/?#[]@!$&'()*+,;=" if allow_reserved else "")


def _simple(value: Any, *, explode: bool, encode: Callable[[Any], str] = _text) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(encode(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return ",".join(f"{encode(k)}={encode(v)}" for k, v in value.items())
        return ",".join(f"{encode(k)},{encode(v)}" for k, v in value.items())
    return encode(value)


def _path_value(param: dict, value: Any) -> str:
    style = param.get("style", "simple")
    explode = param.get("explode") is True
    name = quote(str(param["name"]), safe="")
    if style == "label":
        # Encoded values hold no raw comma, so the separator can be swapped after joining.
        text = _simple(value, explode=explode, encode=_enc)
        return "." + (text.replace(",", ".") if explode else text)
    if style == "matrix":
        if isinstance(value, (list, tuple)) and explode:
            return "".join(f";{name}={_enc(v)}" for v in value)
        if isinstance(value, dict) and explode:
            return "".join(f";{_enc(k)}={_enc(v)}" for k, v in value.items())
        return f";{name}={_simple(value, explode=False, encode=_enc)}"
    return _simple(value, explode=explode, encode=_enc)


def _query_pairs(param: dict, value: Any) -> list[str]:
    style = param.get("style", "form")
    explode = param.get("explode", style == "form") is True
    reserved = param.get("allowReserved") is True
    name = quote(str(param["name"]), safe="")

    def enc(v: Any) -> str:
        return _enc(v, reserved)

    if isinstance(value, dict):
        if style == "deepObject":
            return [f"{name}%5B{enc(k)}%5D={enc(v)}" for k, v in value.items()]
        if explode:
            return [f"{enc(k)}={enc(v)}" for k, v in value.items()]
        return [f"{name}={_simple(value, explode=False, encode=enc)}"]
    if isinstance(value, (list, tuple)):
        if explode:
            return [f"{name}={enc(v)}" for v in value]
        sep = {"spaceDelimited": "%20", "pipeDelimited": "%7C"}.get(style, ",")
        return [f"{name}={sep.join(enc(v) for v in value)}"]
    return [f"{name}={enc(value)}"]


def _is_json_media(media_type: str) -> bool:
    bare = media_type.split(";")[0].strip().lower()
    return bare == "application/json" or bare.endswith("+json")


def _request_body(spec: dict, op: Operation, given: Any, sources: dict[str, str]) -> tuple[Any, str | None]:
    body = op.request_body or {}
    content = body.get("content") if isinstance(body.get("content"), dict) else {}
    json_media = next((str(k) for k in content if _is_json_media(str(k))), None)
    if given is not NO_BODY:
        sources["body"] = "body:"
        if json_media is None and content and isinstance(given, str):
            return given, str(next(iter(content)))
        return given, json_media or "application/json"
    if body.get("required") is not True:
        return NO_BODY, None
    if json_media is None:
        if content:
            media_type = str(next(iter(content)))
            media = content[media_type] if isinstance(content[media_type], dict) else {}
            if isinstance(media.get("example"), str):
                sources["body"] = "media example"
                return media["example"], media_type
            raise Unfillable(f"{op.label}: no example for its required {media_type} request body (give one in body:)")
        raise Unfillable(f"{op.label}: its request body is required but documents no content (give one in body:)")
    media = content[json_media] if isinstance(content[json_media], dict) else {}
    if "example" in media:
        sources["body"] = "media example"
        return media["example"], json_media
    found, value = _first_example(spec, media.get("examples"))
    if found:
        sources["body"] = "media examples"
        return value, json_media
    schema = media.get("schema")
    if isinstance(_follow(spec, schema, f"{op.label} requestBody schema"), dict):
        found, value, source = _schema_example(spec, schema)
        if found:
            sources["body"] = source
            return value, json_media
        contract = _Contract(schema, spec)
        sample = _Mutator(contract.document, 0).sample(contract.schema, 0)
        if contract.is_valid(sample):
            sources["body"] = "generated from the schema"
            return sample, json_media
    raise Unfillable(f"{op.label}: no valid request body is known (give one in body: or an example in the spec)")


@dataclass(frozen=True)
class ServerBase:
    """Where an API's routes live on the target: base URL + `prefix` + route."""

    prefix: str  # "/api/v1", or "" when routes sit right under the base URL
    server_url: str | None  # servers[0].url as the document writes it, variables filled; None without servers
    note: str | None  # one sentence when the target and the document's server disagree, for messages


def server_base(spec: dict, op: Operation | None = None, *, base_url: str, spec_url: str | None = None) -> ServerBase:
    """Resolve `servers[0].url` (the operation's, its path item's, else the document's) to a path prefix.

    Relative server URLs resolve against `spec_url`, where the document was fetched (for a
    document read from a file, None: against the base URL). `{variables}` take their `default`.
    The server URL's path P then places routes under the base URL (path B):
    * P equals B or lies under it: prefix = the rest of P ("/api/v1" under a bare origin);
    * B already ends in P (the base URL names the API root itself): prefix "", with a note, so
      paths are never doubled;
    * otherwise (P beside B, e.g. B is a proxy's mount point): prefix P, with a note.
    A server on another origin than the base URL keeps only its path, with a note: requests
    always go to the target. Without `servers`, the prefix is "" (routes right under the base
    URL). Raises ValueError for a server variable without a default.
    """
    servers = (op.servers if op is not None else ()) or _server_list(spec.get("servers"))
    if not servers:
        return ServerBase("", None, None)
    server = servers[0]
    url = _fill_server_variables(server)
    target = urlsplit(base_url)
    reference = spec_url or base_url.rstrip("/") + "/"
    resolved = urlsplit(urljoin(reference, url))
    notes = []
    if resolved.scheme and (_origin(resolved) != _origin(target)):
        notes.append(f"the document's server {url!r} is another origin than the target {_show_origin(target)}: "
                     "requests go to the target, under the server's path")
    server_path = resolved.path.rstrip("/")
    base_path = target.path.rstrip("/")
    if server_path == base_path or server_path.startswith(base_path + "/"):
        prefix = server_path[len(base_path):]
    elif server_path and base_path.endswith(server_path):
        prefix = ""
        notes.append(f"the base URL's path {base_path} already ends in the server path {server_path} "
                     f"(servers[0].url {url!r}): routes are requested at the base URL + route, not doubled")
    elif not server_path:
        prefix = ""
        notes.append(f"the document's server {url!r} is the root of its origin, the base URL has the path {base_path}: "
                     "routes are requested at the base URL + route")
    else:
        prefix = server_path
        notes.append(f"the server path {server_path} (servers[0].url {url!r}) is not under the base URL's path "
                     f"{base_path}: routes are requested at the base URL + {server_path} + route")
    return ServerBase(prefix, url, "; ".join(notes) or None)


def _fill_server_variables(server: dict) -> str:
    url = str(server["url"])
    variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}

    def fill(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        if not isinstance(variable, dict) or "default" not in variable:
            raise ValueError(f"servers[0].url {url!r}: variable {{{match.group(1)}}} has no default")
        return str(variable["default"])

    return re.sub(r"\{([^{}]+)\}", fill, url)


def _origin(parts: Any) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _show_origin(parts: Any) -> str:
    # Never the userinfo: a base URL may carry a password.
    scheme, host, port = _origin(parts)
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


# --------------------------------------------------------------------------------------------
# invalid bodies


_MAX_DEPTH = 4  # nesting levels mutated (and sampled) below the top
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


def invalid_bodies(schema: dict, *, root: dict | None = None, max_examples: int = 20, seed: int = 0) -> list[object]:
    """Up to `max_examples` JSON bodies that each break `schema`, the same list for the same seed.

    Mutations of a sample body: wrong top-level type, null where not nullable, each required
    field missing, wrong field types (nested objects and array items too), an extra field where
    additionalProperties/unevaluatedProperties is false, values outside enum/const, too short or
    too long strings and arrays, numbers past their bounds, pattern mismatches. Every body returned
    fails `validate(body, schema, root=root)`. When there are more than `max_examples`, they are
    taken one kind of mutation after another (in schema order: top-level type first) so the kinds
    stay varied, and the seed picks which body of each kind.
    """
    if max_examples < 1:
        return []
    contract = _Contract(schema, root)
    engine = _Mutator(contract.document, seed)
    seen: set[str] = set()
    by_kind: dict[str, list[object]] = {}
    for kind, body in itertools.islice(engine.mutations(contract.schema, engine.sample(contract.schema, 0), 0), _MAX_CANDIDATES):
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
    return copy.deepcopy(chosen)  # mutations share unchanged parts of the sample body


class _Mutator:
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
            target = _pointer(self.document, ref[1:])
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

    def sample(self, schema: Any, depth: int) -> Any:
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
                        return self.sample(branch, depth)
            return None if "null" in self.types(s) else "opscheck"
        kind = types[0]
        if kind == "object":
            return self._sample_object(s, depth)
        if kind == "array":
            if depth >= _MAX_DEPTH:
                return []
            count = max(_int(s.get("minItems"), 0), 1)
            if _int(s.get("maxItems"), count) < count:
                count = _int(s.get("maxItems"), 0)
            item = self.sample(s.get("items", {}), depth + 1)
            return [copy.deepcopy(item) for _ in range(min(count, 50))]
        if kind == "string":
            return self._sample_string(s)
        if kind in ("integer", "number"):
            return self._sample_number(s, kind)
        if kind == "boolean":
            return True
        return None

    def _sample_object(self, s: dict, depth: int) -> dict:
        properties = s.get("properties") if isinstance(s.get("properties"), dict) else {}
        names = [n for n in s.get("required") or [] if isinstance(n, str)]
        for name in properties:
            if len(names) >= _int(s.get("minProperties"), 0):
                break
            if name not in names:
                names.append(name)
        if depth >= _MAX_DEPTH:
            return {name: "opscheck" for name in names}
        return {name: self.sample(properties.get(name, {}), depth + 1) for name in names}

    def _sample_string(self, s: dict) -> str:
        low, high = _int(s.get("minLength"), 0), _int(s.get("maxLength"), 10_000)
        pattern = s.get("pattern")
        if isinstance(pattern, str):
            found = _matching_string(pattern, low, high, self.seed)
            if found is not None:
                return found
        text = _FORMATS.get(str(s.get("format")), "opscheck")
        if len(text) > high:
            text = text[:high]
        return text + "x" * max(0, low - len(text))

    def _sample_number(self, s: dict, kind: str) -> int | float:
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

    # -- the mutations ---------------------------------------------------------------------------

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
        if _int(s.get("minProperties"), 0) > 0:
            yield "minProperties", {}
        if depth >= _MAX_DEPTH:
            return
        for name, sub in itertools.islice(properties.items(), _MAX_PROPERTIES):
            child = base[name] if name in base else self.sample(sub, depth + 1)
            for kind, value in self.mutations(sub, child, depth + 1):
                yield kind, {**base, name: value}

    def _array_mutations(self, s: dict, base: list, depth: int) -> Iterator[tuple[str, Any]]:
        if _int(s.get("minItems"), 0) > 0:
            yield "minItems", []
        high = s.get("maxItems")
        if isinstance(high, int) and 0 <= high < 1000:
            item = base[0] if base else self.sample(s.get("items", {}), depth + 1)
            yield "maxItems", [copy.deepcopy(item) for _ in range(high + 1)]
        if s.get("uniqueItems") is True and base:
            yield "uniqueItems", [copy.deepcopy(base[0]), copy.deepcopy(base[0])]
        if depth >= _MAX_DEPTH or "items" not in s:
            return
        first = base[0] if base else self.sample(s["items"], depth + 1)
        for kind, value in self.mutations(s["items"], first, depth + 1):
            yield kind, [value, *copy.deepcopy(base[1:])]

    def _string_mutations(self, s: dict, base: str) -> Iterator[tuple[str, Any]]:
        low = _int(s.get("minLength"), 0)
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


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


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


@functools.lru_cache(maxsize=256)
def _matching_string(pattern: str, low: int, high: int, seed: int) -> str | None:
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
