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
    Violation,
    invalid_bodies,
    load_spec,
    operations,
    response_schema,
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


def test_fastapi_invalid_bodies(fastapi_spec):
    create = by_route(fastapi_spec)["POST /notes"]
    bodies = check_bodies(create.request_schema, root=fastapi_spec, max_examples=30)
    assert [{"text": "opscheck"}] in bodies and [{"id": 0}] in bodies
    assert [{"id": 0, "text": "opscheck", "tag": 37}] in bodies  # Optional[str] still refuses a number
    assert not any(b == [{"id": 0, "text": "opscheck", "tag": None}] for b in bodies)  # null is allowed there
