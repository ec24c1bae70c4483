"""OpenAPI checks send the request each operation documents (issue 8 §1e).

Real loopback services (a threaded http.server) that log every request they receive:
* a path-parameter route whose real item breaks the schema, while the literal `{item_id}` path
  gets a documented 422;
* a POST route that answers a GET with an undocumented 405;
* APIs that live under their `servers[0].url` (`/api/v1`), not at the root.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
import yaml

Answer = tuple[int, Any]  # status, JSON body
Route = Callable[[str, str, bytes], Answer | None]  # (method, raw path, body) -> answer, or None: 404

ITEM = {"type": "object", "required": ["id", "quantity"], "properties": {"id": {"type": "integer"}, "quantity": {"type": "integer"}}}
PROBLEM = {"type": "object", "required": ["detail"], "properties": {"detail": {}}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def item_param(**extra: Any) -> dict:
    return {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}, **extra}


def inventory_spec(item_id: dict | None = None, servers: list | None = None) -> dict:
    """/items (a list), /items/{item_id} (one item; 422 documented), POST /api/ingest (a required body)."""
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "inventory", "version": "1.0.0"},
        "paths": {
            "/items": {"get": {"responses": {"200": {"description": "all", **_json({"type": "array", "items": ITEM})}}}},
            "/items/{item_id}": {
                "get": {
                    "parameters": [item_id or item_param()],
                    "responses": {
                        "200": {"description": "one item", **_json(ITEM)},
                        "404": {"description": "no such item", **_json(PROBLEM)},
                        "422": {"description": "not an item id", **_json(PROBLEM)},
                    },
                }
            },
            "/api/ingest": {
                "post": {
                    "requestBody": {
                        "required": True,
                        **_json({
                            "type": "object",
                            "required": ["items"],
                            "additionalProperties": False,
                            "properties": {"items": {"type": "array", "minItems": 1, "items": {
                                "type": "object", "required": ["id", "name"],
                                "properties": {"id": {"type": "integer", "minimum": 1}, "name": {"type": "string", "minLength": 1}}}}},
                        }),
                    },
                    "responses": {
                        "202": {"description": "accepted", **_json({"type": "object", "required": ["accepted"],
                                                                    "properties": {"accepted": {"type": "integer", "minimum": 1}}})},
                        "422": {"description": "invalid", **_json(PROBLEM)},
                    },
                }
            },
        },
    }
    if servers is not None:
        spec["servers"] = servers
    return spec


def inventory(method: str, path: str, body: bytes) -> Answer | None:
    """The service: a real item carries its quantity as a string (the contract says integer)."""
    route = urlsplit(path).path
    if route == "/items" and method == "GET":
        return 200, [{"id": 1, "quantity": 3}]
    if route.startswith("/items/") and method == "GET":
        raw = route.removeprefix("/items/")
        if not raw.isdigit():  # e.g. the literal "%7Bitem_id%7D"
            return 422, {"detail": f"item_id {raw!r} is not an integer"}
        return 200, {"id": int(raw), "quantity": "37"}
    if route == "/api/ingest":
        if method != "POST":
            return 405, {"detail": "Method Not Allowed"}
        try:
            payload = json.loads(body)
            items = payload["items"]
            valid = set(payload) == {"items"} and isinstance(items, list) and items and all(
                isinstance(i, dict) and type(i.get("id")) is int and i["id"] >= 1 and isinstance(i.get("name"), str) and i["name"]
                for i in items)
        except (ValueError, KeyError, TypeError):
            valid = False
        return (202, {"accepted": len(items)}) if valid else (422, {"detail": "invalid body"})
    return None


class SpecServer:
    """A threaded HTTP server: the spec at `spec_path`, the API's routes under `mount`, every request logged."""

    def __init__(self, spec: dict, route: Route, *, spec_path: str = "/openapi.json", mount: str = "") -> None:
        self.spec, self.route, self.spec_path, self.mount = spec, route, spec_path, mount
        self.log: list[tuple[str, str, bytes]] = []  # (method, raw path, body) of every request received
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20)) if length else b""
                server.log.append((self.command, self.path, body))
                if self.path == server.spec_path and self.command == "GET":
                    status, payload = 200, server.spec
                elif self.path.startswith(server.mount + "/") and (answer := server.route(
                        self.command, self.path[len(server.mount):], body)) is not None:
                    status, payload = answer
                else:
                    status, payload = 404, {"detail": "Not Found"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> SpecServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def requests(self, method: str | None = None) -> list[str]:
        """'METHOD /raw/path' of every API request (the spec fetch left out), in order."""
        return [f"{m} {p}" for m, p, _ in self.log if p != self.spec_path and (method is None or m == method)]


def profile(openapi: dict, base_url: str = "http://127.0.0.1:9", allow_mutating: bool = False) -> str:
    return yaml.safe_dump({
        "service": "inventory",
        "http": {"timeout_s": 2, "deadline_s": 5},
        "environments": {"local": {"base_url": base_url, "allow_mutating": allow_mutating}},
        "openapi": {"docs_routes": False, **openapi},
    }, sort_keys=False)


@pytest.fixture
def serve():
    with_servers: list[SpecServer] = []

    def start(spec: dict, route: Route = inventory, **kwargs: Any) -> SpecServer:
        server = SpecServer(spec, route, **kwargs).__enter__()
        with_servers.append(server)
        return server

    yield start
    for server in with_servers:
        server.__exit__()


def run_openapi(run_checks, server: SpecServer, openapi: dict, *, base_url: str | None = None, allow_mutating: bool = False):
    url = base_url or server.base_url
    return run_checks("--env", "local", "--base-url", url, profile=profile(openapi, url, allow_mutating))


# -- 1. parameters -----------------------------------------------------------------------------------


def test_a_path_parameter_from_the_spec_example_exercises_a_real_item_and_its_schema_break_fails(run_checks, serve):
    # Before: GET /items/{item_id} was sent literally, got the documented 422, and passed.
    server = serve(inventory_spec(item_param(example=7)))
    run = run_openapi(run_checks, server, {"operations": ["GET /items/{item_id}"]})
    check = run.check("schema::openapi:conformance:GET /items/{item_id}")
    assert check["outcome"] == "failed" and check["reason"] == "schema", check
    assert "GET /items/{item_id} (sent GET /items/7): $.quantity: '37' is not of type 'integer'" in check["message"]
    assert server.requests() == ["GET /items/7"]
    assert run.ret == 1


@pytest.mark.parametrize(
    ("param", "sent"),
    [
        (item_param(examples={"first": {"value": 11}, "second": {"value": 12}}), "/items/11"),
        (item_param(schema={"type": "integer", "example": 21}), "/items/21"),
        (item_param(schema={"type": "integer", "examples": [22, 23]}), "/items/22"),
        (item_param(schema={"type": "integer", "default": 31}), "/items/31"),
        (item_param(schema={"type": "integer", "enum": [41, 42]}), "/items/41"),
        (item_param(schema={"$ref": "#/components/schemas/ItemId"}), "/items/51"),
    ],
    ids=["examples", "schema-example", "schema-examples", "default", "enum", "ref"],
)
def test_every_kind_of_spec_example_fills_the_path(run_checks, serve, param, sent):
    spec = inventory_spec(param)
    spec["components"] = {"schemas": {"ItemId": {"type": "integer", "example": 51}}}
    server = serve(spec)
    run = run_openapi(run_checks, server, {"operations": ["GET /items/{item_id}"]})
    assert server.requests() == [f"GET {sent}"]
    assert run.check("schema::openapi:conformance:GET /items/{item_id}")["outcome"] == "failed"


def test_params_in_the_profile_fill_the_path_and_win_over_the_spec_example(run_checks, serve):
    server = serve(inventory_spec(item_param(example=7)))
    run = run_openapi(run_checks, server, {"operations": [{"op": "GET /items/{item_id}", "params": {"item_id": 3}}]})
    check = run.check("schema::openapi:conformance:GET /items/{item_id}")
    assert check["outcome"] == "failed" and "(sent GET /items/3): $.quantity" in check["message"]
    assert server.requests() == ["GET /items/3"]


def test_shared_params_fill_every_operation_with_that_parameter(run_checks, serve):
    server = serve(inventory_spec())
    run = run_openapi(run_checks, server, {"params": {"item_id": 5}})
    check = run.check("schema::openapi:conformance")
    assert check["outcome"] == "failed" and "GET /items/{item_id} (sent GET /items/5): $.quantity" in check["message"]
    assert server.requests() == ["GET /items", "GET /items/5"]  # the POST is not part of "all GETs"


def test_a_required_parameter_without_a_value_is_reported_as_not_run(run_checks, serve):
    server = serve(inventory_spec())
    run = run_openapi(run_checks, server, {"operations": ["GET /items/{item_id}"]})
    check = run.check("schema::openapi:conformance:GET /items/{item_id}")
    assert check["outcome"] == "skipped", check
    assert ("GET /items/{item_id}: no value for path parameter item_id "
            "(give one in params: or an example in the spec)") in check["message"]
    assert server.requests() == []  # nothing half-checked: the literal {item_id} is never sent
    assert run.ret == 0


def test_all_gets_run_what_they_can_and_end_degraded_listing_what_was_not_run(run_checks, serve):
    item_spec = inventory_spec()
    item_spec["paths"]["/items"]["get"]["responses"]["200"] = {"description": "all", **_json({"type": "array"})}
    server = serve(item_spec)
    run = run_openapi(run_checks, server, {})
    check = run.check("schema::openapi:conformance")
    assert check["outcome"] == "degraded" and check["reason"] == "no_data", check
    assert check["message"] == (
        "1 GET operation(s) conform, 1 not run (give values in openapi params: or list them in exclude:): "
        "GET /items/{item_id}: no value for path parameter item_id (give one in params: or an example in the spec)")
    assert server.requests() == ["GET /items"]


def test_all_gets_with_nothing_to_request_are_skipped_not_passed(run_checks, serve):
    server = serve(inventory_spec())
    run = run_openapi(run_checks, server, {"exclude": ["GET /items"]})
    check = run.check("schema::openapi:conformance")
    assert check["outcome"] == "skipped" and "no GET operation could be requested" in check["message"]


def test_values_are_percent_encoded_and_required_query_parameters_filled(run_checks, serve):
    spec = inventory_spec({"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}})
    spec["paths"]["/items/{item_id}"]["get"]["parameters"] += [
        {"name": "fields", "in": "query", "required": True, "schema": {"type": "array", "items": {"type": "string"}},
         "example": ["id", "a&b=c"]},
        {"name": "verbose", "in": "query", "schema": {"type": "boolean", "default": True}},  # optional: not sent
    ]
    server = serve(spec, lambda m, p, b: (200, {"id": 1, "quantity": 1}))
    run = run_openapi(run_checks, server, {"operations": [{"op": "GET /items/{item_id}", "params": {"item_id": "a/b c?#"}}]})
    assert server.requests() == ["GET /items/a%2Fb%20c%3F%23?fields=id&fields=a%26b%3Dc"]
    assert run.check("schema::openapi:conformance:GET /items/{item_id}")["outcome"] == "passed"


def test_a_params_name_the_operation_does_not_have_fails_naming_its_parameters(run_checks, serve):
    server = serve(inventory_spec(item_param(example=7)))
    run = run_openapi(run_checks, server, {"operations": [{"op": "GET /items/{item_id}", "params": {"itemid": 3}}]})
    check = run.check("schema::openapi:conformance:GET /items/{item_id}")
    assert check["outcome"] == "failed"
    assert "params: 'itemid' is not a parameter of this operation (its parameters: item_id (path))" in check["message"]
    assert server.requests() == []


# -- 2. the operation's own method and body ----------------------------------------------------------


def test_a_post_operation_is_sent_as_a_post_with_a_valid_body(run_checks, serve):
    # Before: POST /api/ingest was checked with a GET (405, undocumented).
    server = serve(inventory_spec())
    run = run_openapi(run_checks, server, {"operations": ["POST /api/ingest"]}, allow_mutating=True)
    assert run.check("schema::openapi:conformance:POST /api/ingest")["outcome"] == "passed", run.output[-2000:]
    [(method, path, body)] = [entry for entry in server.log if entry[1] != "/openapi.json"]
    assert (method, path) == ("POST", "/api/ingest")
    assert json.loads(body) == {"items": [{"id": 1, "name": "opscheck"}]}  # generated from the schema, and valid


def test_a_post_uses_the_spec_example_body_and_the_profile_body_first(run_checks, serve):
    spec = inventory_spec()
    media = spec["paths"]["/api/ingest"]["post"]["requestBody"]["content"]["application/json"]
    media["examples"] = {"one": {"value": {"items": [{"id": 9, "name": "from-the-spec"}]}}}
    server = serve(spec)
    run_openapi(run_checks, server, {"operations": ["POST /api/ingest"]}, allow_mutating=True)
    assert json.loads(server.log[-1][2]) == {"items": [{"id": 9, "name": "from-the-spec"}]}
    body = {"items": [{"id": 2, "name": "from-the-profile"}, {"id": 3, "name": "x"}]}
    run_openapi(run_checks, server, {"operations": [{"op": "POST /api/ingest", "body": body}]}, allow_mutating=True)
    assert json.loads(server.log[-1][2]) == body


def test_a_post_answer_is_held_to_its_documented_schema(run_checks, serve):
    server = serve(inventory_spec(), lambda m, p, b: (202, {"accepted": 0}) if m == "POST" else None)
    run = run_openapi(run_checks, server, {"operations": ["POST /api/ingest"]}, allow_mutating=True)
    check = run.check("schema::openapi:conformance:POST /api/ingest")
    assert check["outcome"] == "failed" and "POST /api/ingest: $.accepted: 0 is less than the minimum of 1" in check["message"]


def test_a_write_operation_is_mutating_and_never_sent_where_mutation_is_not_allowed(run_checks, serve):
    server = serve(inventory_spec())
    run = run_openapi(run_checks, server, {"operations": ["POST /api/ingest", "GET /items"]})
    check = run.check("schema::openapi:conformance:POST /api/ingest")
    assert check["outcome"] == "skipped" and "does not allow mutating checks" in check["message"]
    assert server.requests() == ["GET /items"]


# -- 3. servers --------------------------------------------------------------------------------------


def test_routes_are_requested_under_the_spec_servers_base_path(run_checks, serve):
    # Before: every route was requested at the root and all of them were missing (404).
    server = serve(inventory_spec(item_param(example=1), servers=[{"url": "/api/v1"}]), mount="/api/v1")
    run = run_openapi(run_checks, server, {"docs_routes": True, "operations": ["GET /items"]})
    assert run.outcomes() == {"schema::openapi:conformance:GET /items": "passed", "schema::openapi:docs-routes": "passed"}, \
        run.output[-2000:]
    assert server.requests() == ["GET /api/v1/items", "GET /api/v1/items"]


def test_a_schema_break_under_servers_names_the_base_path(run_checks, serve):
    server = serve(inventory_spec(item_param(example=1), servers=[{"url": "/api/v1"}]), mount="/api/v1")
    run = run_openapi(run_checks, server, {})
    check = run.check("schema::openapi:conformance")
    assert check["message"] == ("GET /items/{item_id} (sent GET /api/v1/items/1): $.quantity: '37' is not of type 'integer' "
                                "(type: integer) [routes requested at the base URL + /api/v1, from servers[0].url '/api/v1']")


def test_a_relative_server_url_resolves_against_where_the_spec_was_fetched(run_checks, serve):
    server = serve(inventory_spec(item_param(example=1), servers=[{"url": "v{major}", "variables": {"major": {"default": "2"}}}]),
                   spec_path="/docs/openapi.json", mount="/docs/v2")
    run = run_openapi(run_checks, server, {"spec": "/docs/openapi.json", "operations": ["GET /items"]})
    assert run.check("schema::openapi:conformance:GET /items")["outcome"] == "passed", run.output[-2000:]
    assert server.requests() == ["GET /docs/v2/items"]


def test_a_base_url_that_already_ends_in_the_server_path_is_not_doubled_and_is_named(run_checks, serve, tmp_path):
    # The API sits behind a gateway at /gw; the document still says /api/v1.
    server = serve(inventory_spec(item_param(example=1), servers=[{"url": "/api/v1"}]),
                   spec_path="/gw/api/v1/openapi.json", mount="/gw/api/v1")
    run = run_openapi(run_checks, server, {"docs_routes": True}, base_url=server.base_url + "/gw/api/v1")
    assert run.check("schema::openapi:docs-routes")["outcome"] == "passed", run.output[-2000:]
    check = run.check("schema::openapi:conformance")
    assert check["outcome"] == "failed"
    assert ("the base URL's path /gw/api/v1 already ends in the server path /api/v1 (servers[0].url '/api/v1'): "
            "routes are requested at the base URL + route, not doubled") in check["message"]
    assert set(server.requests()) == {"GET /gw/api/v1/items", "GET /gw/api/v1/items/1"}


def test_a_server_on_another_origin_keeps_only_its_path_and_is_named(run_checks, serve):
    server = serve(inventory_spec(item_param(example=1), servers=[{"url": "https://api.example.com/api/v1"}]), mount="/api/v1")
    run = run_openapi(run_checks, server, {"docs_routes": True})
    assert run.check("schema::openapi:docs-routes")["outcome"] == "passed", run.output[-2000:]
    message = run.check("schema::openapi:conformance")["message"]
    assert (f"the document's server 'https://api.example.com/api/v1' is another origin than the target {server.base_url}: "
            "requests go to the target, under the server's path") in message
    assert all(r.startswith("GET /api/v1/") for r in server.requests())


def test_missing_routes_under_servers_name_the_path_that_was_requested(run_checks, serve):
    server = serve(inventory_spec(servers=[{"url": "/api/v1"}]), mount="/api/v2")
    run = run_openapi(run_checks, server, {"docs_routes": True, "exclude": ["GET /items/{item_id}"]})
    check = run.check("schema::openapi:docs-routes")
    assert check["message"] == ("documented GET route(s) missing on the service: /api/v1/items (404) "
                                "[routes requested at the base URL + /api/v1, from servers[0].url '/api/v1']")


def test_bad_input_is_sent_under_the_server_path_with_path_parameters_filled(run_checks, serve):
    spec = inventory_spec(servers=[{"url": "/api/v1"}])
    spec["paths"]["/api/ingest/{tenant}"] = {"post": {
        **spec["paths"]["/api/ingest"]["post"],
        "parameters": [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}]}}

    def ingest(method: str, path: str, body: bytes) -> Answer | None:
        return inventory(method, "/api/ingest" if path.startswith("/api/ingest") else path, body)

    server = serve(spec, ingest, mount="/api/v1")
    run = run_openapi(run_checks, server, {"bad_input": {"max_examples": 2}, "params": {"tenant": "acme corp"}},
                      allow_mutating=True)
    assert run.check("schema::openapi:bad-input")["outcome"] == "passed", run.output[-2000:]
    posts = server.requests("POST")
    assert posts[:2] == ["POST /api/v1/api/ingest"] * 2 and posts[2:] == ["POST /api/v1/api/ingest/acme%20corp"] * 2


def test_an_operation_listed_twice_is_a_profile_error(run_checks, serve):
    server = serve(inventory_spec())
    run = run_openapi(run_checks, server, {"operations": ["GET /items", {"op": "GET /items", "params": {}}]})
    assert run.ret != 0 and "'GET /items' is listed twice" in run.output
    assert server.log == []
