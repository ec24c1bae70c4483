"""Contract logic: JSON Schema / OpenAPI validation, operations, documented responses, invalid bodies."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from opscheck.contract import (
    Operation,
    ServerBase,
    Unfillable,
    Violation,
    build_request,
    invalid_bodies,
    load_spec,
    operations,
    response_schema,
    server_base,
    validate,
    version_of,
)

ORDER = {
    "type": "object",
    "required": ["id", "items"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "status": {"enum": ["ok"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "quantity"],
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
            },
        },
    },
}

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "inventory", "version": "2.4.1"},
    "security": [{"apiKey": []}],
    "paths": {
        "/api/items": {
            "get": {
                "operationId": "list_items",
                "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}
                        },
                    },
                    "4XX": {"$ref": "#/components/responses/Problem"},
                    "default": {"description": "anything else", "content": {"text/plain": {"schema": {"type": "string"}}}},
                },
            },
            "post": {
                "requestBody": {"$ref": "#/components/requestBodies/NewItems"},
                "responses": {"201": {"description": "created"}},
            },
        },
        "/api/items/{item_id}": {
            "parameters": [{"$ref": "#/components/parameters/ItemId"}],
            "get": {"operationId": "get_item", "responses": {"200": {"description": "one item"}}},
            "delete": {"security": [], "responses": {"204": {"description": "gone"}}},
            "x-internal": {"not": "an operation"},
        },
        "/healthz": {
            "head": {"security": [{}], "responses": {"200": {"description": "up"}}},
            "options": {"parameters": [{"name": "q", "in": "query", "required": True}], "responses": {}},
        },
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "required": ["id", "text"],
                "properties": {"id": {"type": "integer"}, "text": {"type": "string"}, "tags": {"$ref": "#/components/schemas/Tags"}},
            },
            "Tags": {"type": "array", "items": {"type": "string"}},
            "Problem": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
        },
        "responses": {
            "Problem": {
                "description": "client error",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        },
        "parameters": {"ItemId": {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}},
        "requestBodies": {
            "NewItems": {
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}
                }
            }
        },
    },
}


def by_route(spec: dict) -> dict[str, Operation]:
    return {f"{op.method} {op.path}": op for op in operations(spec)}


# -- validate -------------------------------------------------------------------------------------


def test_valid_instance_has_no_violations():
    assert validate({"id": 1, "items": [{"sku": "a", "quantity": 2}], "status": "ok"}, ORDER) == []


def test_type_violation_names_path_rule_and_actual_value():
    [violation] = validate({"id": 1, "items": [{"sku": "a", "quantity": "37"}]}, ORDER)
    assert violation == Violation(
        path="$.items[0].quantity",
        rule="type: integer",
        message="$.items[0].quantity: '37' is not of type 'integer' (type: integer)",
    )
    assert str(violation) == violation.message


def test_required_enum_additional_properties_and_nested_paths():
    body = {"items": [{"sku": "a", "quantity": 1}, {"sku": 5}], "status": "degraded", "extra": True}
    found = validate(body, ORDER, limit=10)
    messages = [v.message for v in found]
    assert "$: 'id' is a required property (required: ['id'])" in messages
    assert "$.status: 'degraded' is not one of ['ok'] (enum: ['ok'])" in messages
    assert any(v.path == "$" and v.rule == "additionalProperties: false" and "'extra' was unexpected" in v.message for v in found)
    assert "$.items[1]: 'quantity' is a required property (required: ['quantity'])" in messages
    assert "$.items[1].sku: 5 is not of type 'string' (type: string)" in messages
    assert all("\n" not in m for m in messages)
    # best_match's pick first, then the rest in path order
    assert [v.path for v in found] == ["$", "$", "$.items[1]", "$.items[1].sku", "$.status"]


def test_limit_caps_violations_and_sorting_is_numeric_by_index():
    items = [{"sku": "s", "quantity": 0} for _ in range(12)]
    found = validate({"id": 1, "items": items}, ORDER, limit=12)
    assert len(found) == 12
    rest = [v.path for v in found[1:]]
    assert rest == sorted(rest, key=lambda p: int(p.split("[")[1].split("]")[0]))  # [10] after [9]
    assert "$.items[10].quantity" in rest
    assert found[-1].rule == "minimum: 1"
    assert len(validate({"id": 1, "items": items}, ORDER)) == 5
    with pytest.raises(ValueError, match="limit"):
        validate({}, ORDER, limit=0)


def test_keys_that_are_not_identifiers_use_bracket_notation():
    schema = {"properties": {"content-type": {"type": "string"}, "ok_1": {"type": "array", "items": {"type": "null"}}}}
    assert [v.path for v in validate({"content-type": 1, "ok_1": [None, 0]}, schema)] == ["$['content-type']", "$.ok_1[1]"]


def test_long_values_are_clipped_in_one_line_messages():
    [violation] = validate({"id": "x" * 5000, "items": []}, ORDER)
    assert violation.path == "$.id" and len(violation.message) < 200 and "..." in violation.message


def test_refs_into_components_resolve_against_the_document():
    schema = SPEC["paths"]["/api/items"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert validate([{"id": 1, "text": "a", "tags": ["x"]}], schema, root=SPEC) == []
    found = validate([{"id": 1, "text": "a"}, {"id": "2", "tags": ["x", 3]}], schema, root=SPEC, limit=10)
    assert {v.message for v in found} == {
        "$[1]: 'text' is a required property (required: ['text'])",
        "$[1].id: '2' is not of type 'integer' (type: integer)",
        "$[1].tags[1]: 3 is not of type 'string' (type: string)",
    }
    assert validate({"detail": "nope"}, {"$ref": "#/components/schemas/Problem"}, root=SPEC) == []


def test_missing_local_ref_is_a_value_error():
    with pytest.raises(ValueError, match="#/components/schemas/Nope"):
        validate({}, {"$ref": "#/components/schemas/Nope"}, root=SPEC)


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "http://schemas.example.com/item.json"},
        {"type": "object", "properties": {"a": {"$ref": "https://schemas.example.com/item.json#/a"}}},
        {"$ref": "item.json"},
    ],
)
def test_remote_refs_are_refused_not_fetched(schema, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("tried to fetch")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(ValueError, match="never fetches"):
        validate({"a": 1}, schema)
    with pytest.raises(ValueError, match="never fetches"):
        validate({"a": 1}, schema, root=SPEC)


def test_refs_to_an_embedded_id_are_local():
    schema = {
        "$id": "https://schemas.example.com/order.json",
        "$defs": {"n": {"type": "integer"}},
        "properties": {"n": {"$ref": "https://schemas.example.com/order.json#/$defs/n"}},
    }
    assert validate({"n": 1}, schema) == []
    assert validate({"n": "1"}, schema)[0].rule == "type: integer"


def test_plain_schema_uses_its_declared_dialect():
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 5, "exclusiveMaximum": True}
    assert validate(5, draft4)[0].message == "$: 5 is greater than or equal to the maximum of 5 (maximum: 5)"
    assert validate(4, draft4) == []


def test_invalid_schema_is_a_value_error():
    with pytest.raises(ValueError, match="invalid schema"):
        validate(1, {"type": "int"})


OPENAPI_30 = {
    "openapi": "3.0.3",
    "info": {"title": "legacy", "version": "1.0"},
    "paths": {},
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "required": ["name"],
                "discriminator": {"propertyName": "kind"},
                "example": {"name": "rex"},
                "properties": {
                    "name": {"type": "string", "xml": {"attribute": True}, "example": "rex"},
                    "nickname": {"type": "string", "nullable": True},
                    "kind": {"type": "string", "enum": ["dog", "cat"], "nullable": True},
                    "owner": {"allOf": [{"$ref": "#/components/schemas/Owner"}], "nullable": True},
                    "age": {"type": "integer", "maximum": 30, "exclusiveMaximum": True, "readOnly": True},
                    "nullable": {"type": "boolean"},
                },
            },
            "Owner": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        }
    },
}


def test_openapi_30_nullable_and_dialect_are_translated():
    pet = {"$ref": "#/components/schemas/Pet"}
    ok = {"name": "rex", "nickname": None, "kind": None, "owner": None, "age": 3, "nullable": False}
    assert validate(ok, pet, root=OPENAPI_30) == []
    assert validate({"name": "rex", "owner": {"id": 1}}, pet, root=OPENAPI_30) == []
    found = validate({"name": None, "age": 30, "nullable": None, "kind": "bird"}, pet, root=OPENAPI_30, limit=10)
    assert {v.path for v in found} == {"$.name", "$.age", "$.nullable", "$.kind"}
    assert any(v.rule == "exclusiveMaximum: 30" for v in found)
    assert any(v.rule == "type: ['string', 'null']" for v in validate({"name": "a", "nickname": 1}, pet, root=OPENAPI_30))
    # the same keywords mean nothing special in a 3.1 document (and the document itself is untouched)
    as_31 = {**copy.deepcopy(OPENAPI_30), "openapi": "3.1.0"}
    assert validate({"name": "rex", "nickname": None}, pet, root=as_31)[0].path == "$.nickname"
    assert OPENAPI_30["components"]["schemas"]["Pet"]["properties"]["nickname"]["nullable"] is True


# -- load_spec / version_of -------------------------------------------------------------------------


def test_load_spec_accepts_openapi_3():
    assert load_spec(SPEC, source="spec.json") is SPEC
    assert load_spec({"openapi": 3.1, "paths": {}}, source="spec.yaml") == {"openapi": 3.1, "paths": {}}


@pytest.mark.parametrize(
    "data, expected",
    [
        ([1, 2], "spec.json: not an OpenAPI 3 document: the top level is a list, expected an object"),
        ({"info": {}, "paths": {}}, "spec.json: not an OpenAPI 3 document: no 'openapi' field (keys: info, paths)"),
        ({"openapi": "4.0.0", "paths": {}}, "spec.json: not an OpenAPI 3 document: openapi is '4.0.0', expected '3.x.y'"),
        ({"openapi": "3.0.3", "info": {}}, "spec.json: not an OpenAPI 3 document: 'paths' is missing"),
        ({"openapi": "3.0.3", "paths": []}, "spec.json: not an OpenAPI 3 document: 'paths' is a list, expected an object"),
        ({"openapi": "3.0.3", "paths": {"/a": None}}, "spec.json: paths['/a'] is null, expected a path item object"),
    ],
)
def test_load_spec_errors_name_the_source_and_the_value(data, expected):
    with pytest.raises(ValueError) as info:
        load_spec(data, source="spec.json")
    assert str(info.value) == expected


def test_swagger_2_is_not_supported():
    with pytest.raises(ValueError, match=r"^api\.yaml: Swagger 2\.0 \(OpenAPI 2\) is not supported"):
        load_spec({"swagger": "2.0", "paths": {}}, source="api.yaml")


def test_version_of():
    assert version_of(SPEC) == "2.4.1"
    assert version_of({"openapi": "3.0.0", "info": {"version": 3}}) == "3"
    assert version_of({"openapi": "3.0.0", "paths": {}}) is None


# -- operations / response_schema --------------------------------------------------------------------


def test_operations_lists_every_method_with_merged_parameters_and_security():
    ops = by_route(SPEC)
    assert list(ops) == [
        "GET /api/items",
        "POST /api/items",
        "GET /api/items/{item_id}",
        "DELETE /api/items/{item_id}",
        "HEAD /healthz",
        "OPTIONS /healthz",
    ]
    listing, create, get_one, delete, head, options = ops.values()
    assert listing.operation_id == "list_items" and create.operation_id is None
    assert not listing.has_parameters  # an optional query parameter does not count
    assert get_one.has_parameters and delete.has_parameters  # path-level path parameter
    assert options.has_parameters  # a required query parameter
    assert listing.secured and get_one.secured  # inherited from the document
    assert not delete.secured  # security: [] overrides the document
    assert not head.secured  # security: [{}] allows anonymous access
    assert set(listing.responses) == {"200", "4XX", "default"}
    assert listing.responses["4XX"]["description"] == "client error"  # $ref followed
    assert listing.request_schema is None
    assert create.request_schema == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}


def test_operations_without_document_security_and_with_remote_refs():
    spec = {"openapi": "3.0.0", "paths": {"/a": {"get": {"responses": {200: {"description": "x"}}}}}}
    [op] = operations(spec)
    assert not op.secured and not op.has_parameters and op.responses == {"200": {"description": "x"}}
    spec["paths"]["/a"]["get"]["responses"][200] = {"$ref": "https://example.com/responses.yaml#/ok"}
    with pytest.raises(ValueError, match="points outside the document"):
        operations(spec)


def test_response_schema_prefers_exact_then_range_then_default():
    listing = by_route(SPEC)["GET /api/items"]
    schema, key = response_schema(listing, 200)
    assert key == "200" and schema["type"] == "array"
    schema, key = response_schema(listing, 404, "application/problem+json; charset=utf-8")
    assert (schema, key) == ({"$ref": "#/components/schemas/Problem"}, "4XX")
    # a problem+json-only response still answers an application/json ask? no: only +json asks fall back
    assert response_schema(listing, 404) == (None, "4XX")
    assert response_schema(listing, 503, "text/plain") == ({"type": "string"}, "default")
    assert response_schema(listing, 503) == (None, "default")
    delete = by_route(SPEC)["DELETE /api/items/{item_id}"]
    assert response_schema(delete, 204) == (None, "204")
    assert response_schema(delete, 500) == (None, "undocumented")


def test_response_schema_media_type_wildcards():
    op = Operation("GET", "/x", None, False, {"2xx": {"content": {"*/*": {"schema": {"type": "object"}}}}}, None, False)
    assert response_schema(op, 201) == ({"type": "object"}, "2xx")


# -- invalid_bodies ---------------------------------------------------------------------------------


NOTES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "text"],
        "properties": {"id": {"type": "integer"}, "text": {"type": "string"}},
    },
}
STRICT = {
    "type": "object",
    "required": ["name", "size"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 8},
        "size": {"type": "integer", "minimum": 1, "maximum": 10},
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
    },
}
STATUS = {"type": "string", "enum": ["ok", "degraded"]}


def check_bodies(schema: dict, root: dict | None = None, max_examples: int = 20, seed: int = 0) -> list[object]:
    bodies = invalid_bodies(schema, root=root, max_examples=max_examples, seed=seed)
    assert bodies, "no invalid body found"
    assert len(bodies) <= max_examples
    for body in bodies:
        assert validate(body, schema, root=root), f"{body!r} is valid"
    assert len({json.dumps(b, sort_keys=True) for b in bodies}) == len(bodies)
    assert invalid_bodies(schema, root=root, max_examples=max_examples, seed=seed) == bodies
    return bodies


def test_invalid_bodies_for_an_array_of_objects():
    bodies = check_bodies(NOTES)
    assert None in bodies and {} in bodies  # wrong top-level types, null
    assert [{"text": "opscheck"}] in bodies  # required id missing inside an item
    assert [{"id": 0}] in bodies
    assert [{"id": "opscheck", "text": "opscheck"}] in bodies  # wrong field type inside an item
    assert [None] in bodies


def test_invalid_bodies_for_a_strict_object():
    bodies = check_bodies(STRICT, max_examples=40)
    rules = {v.rule for body in bodies for v in validate(body, STRICT, limit=1)}
    assert {"required: ['name']", "required: ['size']", "additionalProperties: false"} <= rules
    assert {"minLength: 2", "maxLength: 8", "minimum: 1", "maximum: 10", "type: integer"} <= rules
    assert "pattern: ^[A-Z]{3}-[0-9]{2}$" in rules
    # hypothesis found a string the pattern matches, so a body breaking only `code` exists too
    assert any(isinstance(b, dict) and set(b) == {"name", "size", "code"} for b in bodies)


def test_invalid_bodies_for_a_string_enum():
    bodies = check_bodies(STATUS)
    assert "opscheck-not-allowed" in bodies and None in bodies and 37 in bodies


def test_invalid_bodies_respects_max_examples_and_seed():
    few = check_bodies(STRICT, max_examples=5, seed=1)
    assert len(few) == 5
    assert len({json.dumps(v.rule) for b in few for v in validate(b, STRICT, limit=1)}) >= 3  # varied kinds
    other = [invalid_bodies(STRICT, max_examples=5, seed=s) for s in range(2, 8)]
    assert any(o != few for o in other)
    assert invalid_bodies(STRICT, max_examples=0) == []
    assert invalid_bodies({}) == []  # every JSON value is valid


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), max_examples=st.integers(1, 30))
def test_invalid_bodies_always_invalid_and_bounded(seed, max_examples):
    schema = {"$ref": "#/components/schemas/Pet"}
    bodies = invalid_bodies(schema, root=OPENAPI_30, max_examples=max_examples, seed=seed)
    assert 0 < len(bodies) <= max_examples
    assert all(validate(b, schema, root=OPENAPI_30) for b in bodies)


def test_invalid_bodies_respect_openapi_30_nullable():
    schema = {"$ref": "#/components/schemas/Pet"}
    bodies = check_bodies(schema, root=OPENAPI_30, max_examples=60)
    assert {"name": "rex", "nickname": None} not in bodies  # nickname is nullable: not a violation
    assert {"name": None} in bodies


# -- build_request: the request an operation documents ----------------------------------------------


def one_op(parameters: list | None = None, path: str = "/items/{item_id}", method: str = "get", body: dict | None = None,
           **doc: object) -> tuple[dict, Operation]:
    op: dict = {"responses": {"200": {"description": "ok"}}}
    if parameters is not None:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    spec = load_spec({"openapi": "3.1.0", "paths": {path: {method: op}}, **doc}, source="t")
    return spec, operations(spec)[0]


def path_param(**extra: object) -> dict:
    return {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}, **extra}


def test_operations_keep_parameters_request_body_and_servers():
    ops = by_route(SPEC)
    assert [p["name"] for p in ops["GET /api/items/{item_id}"].parameters] == ["item_id"]  # the $ref followed
    assert ops["POST /api/items"].request_body == SPEC["components"]["requestBodies"]["NewItems"]
    spec = {"openapi": "3.1.0", "servers": [{"url": "/doc"}], "paths": {
        "/a": {"servers": [{"url": "/path"}], "get": {"responses": {}}, "put": {"servers": [{"url": "/op"}], "responses": {}}}}}
    get, put = operations(spec)
    assert get.servers == ({"url": "/path"},) and put.servers == ({"url": "/op"},)


def test_a_path_parameter_without_any_value_is_unfillable_naming_it():
    spec, op = one_op([path_param()])
    with pytest.raises(Unfillable) as info:
        build_request(spec, op)
    assert str(info.value) == ("GET /items/{item_id}: no value for path parameter item_id "
                               "(give one in params: or an example in the spec)")
    spec, op = one_op([{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}], path="/search")
    with pytest.raises(Unfillable, match="GET /search: no value for query parameter q "):
        build_request(spec, op)
    spec, op = one_op(None, path="/files/{name}")  # a template the document never declares
    with pytest.raises(Unfillable, match="no value for path parameter name"):
        build_request(spec, op)
    assert build_request(spec, op, params={"name": "a.txt"}).path == "/files/a.txt"


@pytest.mark.parametrize(
    ("param", "path", "source"),
    [
        (path_param(example=1, examples={"a": {"value": 2}}, schema={"type": "integer", "example": 3}), "/items/1", "parameter example"),
        (path_param(examples={"a": {"$ref": "#/components/examples/Two"}, "b": {"value": 3}}), "/items/2", "parameter examples"),
        (path_param(content={"application/json": {"example": 4}}), "/items/4", "parameter content example"),
        (path_param(schema={"type": "integer", "example": 5, "default": 6}), "/items/5", "schema example"),
        (path_param(schema={"type": "integer", "examples": [7, 8], "default": 6}), "/items/7", "schema examples"),
        (path_param(schema={"type": "integer", "default": 6, "enum": [9]}), "/items/6", "schema default"),
        (path_param(schema={"enum": [None, "b", "c"]}), "/items/b", "schema enum"),
        (path_param(schema={"const": "only"}), "/items/only", "schema const"),
        (path_param(schema={"anyOf": [{"type": "integer", "example": 10}, {"type": "null"}]}), "/items/10", "schema example"),
        (path_param(schema={"$ref": "#/components/schemas/Id"}), "/items/11", "schema default"),
    ],
)
def test_path_values_come_from_the_spec_examples_in_order(param, path, source):
    spec, op = one_op([param], components={"examples": {"Two": {"value": 2}}, "schemas": {"Id": {"type": "integer", "default": 11}}})
    request = build_request(spec, op)
    assert (request.method, request.path, request.sources) == ("GET", path, {"path item_id": source})


def test_profile_params_win_over_shared_params_over_the_spec():
    spec, op = one_op([path_param(example=1)])
    assert build_request(spec, op, shared={"item_id": 2, "other": 9}).path == "/items/2"  # shared: unknown names ignored
    assert build_request(spec, op, params={"item_id": 3}, shared={"item_id": 2}).sources == {"path item_id": "params:"}
    with pytest.raises(ValueError, match=r"params: 'itm' is not a parameter of this operation \(its parameters: item_id \(path\)\)"):
        build_request(spec, op, params={"itm": 3})


def test_optional_query_and_header_parameters_are_sent_only_with_a_profile_value():
    spec, op = one_op([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20}},
        {"name": "X-Tenant", "in": "header", "required": True, "example": "acme"},
        {"name": "X-Trace", "in": "header", "example": "t-1"},
        {"name": "Authorization", "in": "header", "required": True, "example": "Bearer x"},  # ignored, as OpenAPI says
        {"name": "session", "in": "cookie", "required": True},  # cookies are never made up
    ], path="/items")
    request = build_request(spec, op)
    assert (request.path, request.headers) == ("/items", {"X-Tenant": "acme"})
    request = build_request(spec, op, params={"limit": 5, "X-Trace": "t-2"})
    assert (request.path, request.headers) == ("/items?limit=5", {"X-Tenant": "acme", "X-Trace": "t-2"})


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ({"in": "path"}, "a/b c?#%", "/x/a%2Fb%20c%3F%23%25"),
        ({"in": "path"}, ["a", "b,c"], "/x/a,b%2Cc"),
        ({"in": "path"}, {"r": 1, "g": 2}, "/x/r,1,g,2"),
        ({"in": "path", "explode": True}, {"r": 1, "g": 2}, "/x/r=1,g=2"),
        ({"in": "path", "style": "label"}, ["a", "b"], "/x/.a,b"),
        ({"in": "path", "style": "label", "explode": True}, ["a", "b"], "/x/.a.b"),
        ({"in": "path", "style": "matrix"}, ["a", "b"], "/x/;v=a,b"),
        ({"in": "path", "style": "matrix", "explode": True}, ["a", "b"], "/x/;v=a;v=b"),
        ({"in": "path"}, True, "/x/true"),
        ({"in": "path"}, 2.5, "/x/2.5"),
        ({"in": "query", "required": True}, "ä & b=c", "/x?v=%C3%A4%20%26%20b%3Dc"),
        ({"in": "query", "required": True}, ["a", "b"], "/x?v=a&v=b"),
        ({"in": "query", "required": True, "explode": False}, ["a", "b"], "/x?v=a,b"),
        ({"in": "query", "required": True, "style": "spaceDelimited", "explode": False}, ["a", "b"], "/x?v=a%20b"),
        ({"in": "query", "required": True, "style": "pipeDelimited", "explode": False}, ["a", "b"], "/x?v=a%7Cb"),
        ({"in": "query", "required": True}, {"a": 1, "b": 2}, "/x?a=1&b=2"),
        ({"in": "query", "required": True, "style": "deepObject", "explode": True}, {"a": 1}, "/x?v%5Ba%5D=1"),
        ({"in": "query", "required": True, "allowReserved": True}, "a/b?c", "/x?v=a/b?c"),
    ],
)
def test_values_are_serialized_by_style_and_percent_encoded(param, value, expected):
    spec, op = one_op([{"name": "v", **param}], path="/x/{v}" if param["in"] == "path" else "/x")
    assert build_request(spec, op, params={"v": value}).path == expected


INGEST = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["id", "at"], "properties": {"id": {"type": "integer", "minimum": 1},
                                                                "at": {"type": "string", "format": "date-time"}}}}}}


@pytest.mark.parametrize(
    ("media", "body", "source"),
    [
        ({"schema": INGEST, "example": {"items": [{"id": 5}]}, "examples": {"a": {"value": 1}}}, {"items": [{"id": 5}]}, "media example"),
        ({"schema": INGEST, "examples": {"a": {"$ref": "#/components/examples/B"}}}, {"items": []}, "media examples"),
        ({"schema": {**INGEST, "example": {"items": "e"}}}, {"items": "e"}, "schema example"),
        ({"schema": INGEST}, {"items": [{"id": 1, "at": "2024-01-01T00:00:00Z"}]}, "generated from the schema"),
    ],
)
def test_a_required_body_comes_from_the_spec_example_else_a_valid_generated_one(media, body, source):
    spec, op = one_op(None, path="/ingest", method="post", body={"required": True, "content": {"application/json": media}},
                      components={"examples": {"B": {"value": {"items": []}}}})
    request = build_request(spec, op)
    assert (request.method, request.body, request.media_type, request.sources) == ("POST", body, "application/json", {"body": source})
    assert request.has_body and request.is_json


def test_bodies_from_the_profile_optional_bodies_and_bodies_left_out():
    content = {"application/json": {"schema": INGEST}}
    spec, op = one_op(None, path="/ingest", method="put", body={"content": content})
    assert not build_request(spec, op).has_body  # optional and not given: not sent
    assert build_request(spec, op, body=None).body is None  # an explicit JSON null is a body
    spec, op = one_op(None, path="/ingest", method="put", body={"required": True, "content": content})
    assert build_request(spec, op, body={"items": [1]}).sources == {"body": "body:"}
    assert not build_request(spec, op, with_body=False).has_body


def test_a_required_body_with_no_valid_value_is_unfillable():
    impossible = {"type": "integer", "minimum": 5, "maximum": 1}
    spec, op = one_op(None, path="/ingest", method="post",
                      body={"required": True, "content": {"application/json": {"schema": impossible}}})
    with pytest.raises(Unfillable, match=r"POST /ingest: no valid request body is known \(give one in body: or an example"):
        build_request(spec, op)
    spec, op = one_op(None, path="/upload", method="post", body={"required": True, "content": {"image/png": {}}})
    with pytest.raises(Unfillable, match="no example for its required image/png request body"):
        build_request(spec, op)
    spec, op = one_op(None, path="/note", method="post", body={"required": True, "content": {"text/plain": {"example": "hi"}}})
    request = build_request(spec, op)
    assert (request.body, request.media_type, request.is_json) == ("hi", "text/plain", False)


# -- server_base: where the routes live ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target", "spec_url", "prefix", "note"),
    [
        ("/api/v1", "http://h:8000", "http://h:8000/openapi.json", "/api/v1", None),
        ("/api/v1/", "http://h:8000/", None, "/api/v1", None),
        ("/api/v1", "http://h:8000/api/v1", "http://h:8000/api/v1/openapi.json", "", None),
        ("v2", "http://h:8000/svc", "http://h:8000/svc/docs/openapi.json", "/docs/v2", None),
        ("./", "http://h:8000/svc", "http://h:8000/svc/openapi.json", "", None),
        ("http://H:8000/api", "http://h:8000", None, "/api", None),
        ("/api/v1", "http://h:8000/gw/api/v1", None, "",
         "the base URL's path /gw/api/v1 already ends in the server path /api/v1 (servers[0].url '/api/v1'): "
         "routes are requested at the base URL + route, not doubled"),
        ("/api/v1", "http://h:8000/svc", None, "/api/v1",
         "the server path /api/v1 (servers[0].url '/api/v1') is not under the base URL's path /svc: "
         "routes are requested at the base URL + /api/v1 + route"),
        ("/", "http://h:8000/svc", None, "",
         "the document's server '/' is the root of its origin, the base URL has the path /svc: routes are requested at the base URL + route"),
        ("https://api.example.com/v2", "http://user:secret@127.0.0.1:8000", None, "/v2",
         "the document's server 'https://api.example.com/v2' is another origin than the target http://127.0.0.1:8000: "
         "requests go to the target, under the server's path"),
    ],
)
def test_server_base_resolves_servers_against_the_spec_url_and_the_base_url(url, target, spec_url, prefix, note):
    spec = {"openapi": "3.1.0", "servers": [{"url": url}, {"url": "/ignored"}], "paths": {}}
    base = server_base(spec, base_url=target, spec_url=spec_url)
    assert (base.prefix, base.server_url, base.note) == (prefix, url, note)
    assert "secret" not in str(base)


def test_server_base_without_servers_variables_and_operation_servers():
    assert server_base({"paths": {}}, base_url="http://h/svc") == ServerBase("", None, None)
    spec = {"servers": [{"url": "/{area}/v{major}", "variables": {"area": {"default": "api", "enum": ["api", "x"]},
                                                                   "major": {"default": 3}}}], "paths": {}}
    assert server_base(spec, base_url="http://h").prefix == "/api/v3"
    with pytest.raises(ValueError, match=r"servers\[0\].url '/\{area\}': variable \{area\} has no default"):
        server_base({"servers": [{"url": "/{area}"}], "paths": {}}, base_url="http://h")
    _, op = one_op([path_param()], servers=[{"url": "/doc"}])
    op_spec = {"servers": [{"url": "/doc"}]}
    assert server_base(op_spec, op, base_url="http://h").prefix == "/doc"
    spec = {"openapi": "3.1.0", "servers": [{"url": "/doc"}], "paths": {"/a": {"get": {"servers": [{"url": "/op"}], "responses": {}}}}}
    assert server_base(spec, operations(spec)[0], base_url="http://h").prefix == "/op"


# -- a FastAPI document ------------------------------------------------------------------------------


class Note(BaseModel):
    id: int
    text: str
    tag: str | None = None


@pytest.fixture(scope="module")
def fastapi_spec() -> dict:
    app = FastAPI(title="notes", version="0.9.0")

    @app.post("/notes", status_code=201)
    def create(notes: list[Note]) -> list[Note]:
        return notes

    @app.get("/notes/{note_id}")
    def read(note_id: int, verbose: bool = False) -> Note:
        return Note(id=note_id, text="x")

    return load_spec(app.openapi(), source="fastapi")


def test_fastapi_operations_and_responses(fastapi_spec):
    assert fastapi_spec["openapi"].startswith("3.1") and version_of(fastapi_spec) == "0.9.0"
    ops = by_route(fastapi_spec)
    assert list(ops) == ["POST /notes", "GET /notes/{note_id}"]
    create, read = ops.values()
    assert create.operation_id and not create.has_parameters and not create.secured
    assert read.has_parameters
    assert create.request_schema["items"] == {"$ref": "#/components/schemas/Note"}
    schema, key = response_schema(create, 201)
    assert key == "201" and validate([{"id": 1, "text": "a", "tag": None}], schema, root=fastapi_spec) == []
    schema, key = response_schema(read, 200)
    assert key == "200"
    assert [v.message for v in validate({"id": 1, "text": "a", "tag": 3}, schema, root=fastapi_spec)] == [
        "$.tag: 3 is not valid under any of the given schemas (anyOf: [{\"type\": \"string\"}, {\"type\": \"null\"}])"
    ]
    problem, key = response_schema(read, 422)
    assert key == "422" and problem == {"$ref": "#/components/schemas/HTTPValidationError"}
    assert validate({"detail": [{"loc": ["body", 0], "msg": "m", "type": "t"}]}, problem, root=fastapi_spec) == []
    assert response_schema(read, 500) == (None, "undocumented")


def test_fastapi_path_parameters_need_an_example_or_a_value(fastapi_spec):
    read = by_route(fastapi_spec)["GET /notes/{note_id}"]
    with pytest.raises(Unfillable, match="no value for path parameter note_id"):
        build_request(fastapi_spec, read)
    assert build_request(fastapi_spec, read, params={"note_id": 4}).path == "/notes/4"  # the optional verbose is not sent
    create = by_route(fastapi_spec)["POST /notes"]
    request = build_request(fastapi_spec, create)
    assert request.body == [{"id": 0, "text": "opscheck"}] and validate(request.body, create.request_schema, root=fastapi_spec) == []


def test_fastapi_invalid_bodies(fastapi_spec):
    create = by_route(fastapi_spec)["POST /notes"]
    bodies = check_bodies(create.request_schema, root=fastapi_spec, max_examples=30)
    assert [{"text": "opscheck"}] in bodies and [{"id": 0}] in bodies
    assert [{"id": 0, "text": "opscheck", "tag": 37}] in bodies  # Optional[str] still refuses a number
    assert not any(b == [{"id": 0, "text": "opscheck", "tag": None}] for b in bodies)  # null is allowed there
