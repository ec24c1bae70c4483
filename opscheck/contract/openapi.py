"""OpenAPI 3.x documents: their operations, documented responses, and the request each one documents.

* `load_spec`, `operations`, `response_schema`, `version_of` read an OpenAPI 3.x document.
* `build_request` gives the request that exercises an operation as documented (its method, its
  parameters filled from given values or the document's examples, its body); `Unfillable` when a
  required value is unknown. `server_base` places routes under `servers[0].url` on the target.

Pure logic: the caller fetches the document. `$ref`s resolve inside the document only.
Builds on contract.validate and contract.generate; never on contract.mutate.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from opscheck.contract.generate import ValueBuilder
from opscheck.contract.validate import CompiledSchema, json_kind, resolve_pointer

__all__ = [
    "METHODS",
    "NO_BODY",
    "SAFE_METHODS",
    "Operation",
    "OperationRequest",
    "ServerBase",
    "Unfillable",
    "build_request",
    "load_spec",
    "operations",
    "response_schema",
    "server_base",
    "version_of",
]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# --------------------------------------------------------------------------------------------
# the document and its operations


@dataclass(frozen=True)
class Operation:
    """One operation of an OpenAPI document, as `operations` reads it."""

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
        raise ValueError(f"{source}: not an OpenAPI 3 document: the top level is {json_kind(data)}, expected an object")
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
        shown = "missing" if paths is None else f"{json_kind(paths)}, expected an object"
        raise ValueError(f"{source}: not an OpenAPI 3 document: 'paths' is {shown}")
    for path, item in paths.items():
        if not isinstance(item, dict):
            raise ValueError(f"{source}: paths[{path!r}] is {json_kind(item)}, expected a path item object")
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
        target = resolve_pointer(spec, ref[1:])
        if target is None:
            raise ValueError(f"{label}: $ref {ref!r} not found in the document")
        node = target
    raise ValueError(f"{label}: $ref cycle")


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
        contract = CompiledSchema(schema, spec)
        conforming = ValueBuilder(contract.document, 0).conforming(contract.schema, 0)
        if contract.is_valid(conforming):
            sources["body"] = "generated from the schema"
            return conforming, json_media
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
