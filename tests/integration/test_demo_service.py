"""The bundled demo service, run for real (uvicorn on loopback) through DemoService."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opscheck.measure import sli
from opscheck.demo.app import FAULTS, create_app
from opscheck.demo.launcher import DemoService

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key-1"
SECOND_KEY = "test-key-2"
MAX_BODY = 256
MAX_ITEMS = 3
JITTER_MS = 300

HEALTHY = {
    "/health": (200, {"status": "ok"}),
    "/health/live": (200, {"status": "ok"}),
    "/health/ready": (200, {"status": "ready", "checks": {"database": "up", "cache": "up"}}),
    "/api/health": (200, {"status": "ok", "version": "1.4.2"}),
}


def _client(service: DemoService) -> httpx.Client:
    return httpx.Client(base_url=service.base_url, timeout=10.0, trust_env=False)


def _answers(client: httpx.Client) -> dict[str, tuple[int, object]]:
    return {path: (r.status_code, r.json()) for path in HEALTHY for r in [client.get(path)]}


@pytest.fixture(scope="module")
def service() -> Iterator[DemoService]:
    with DemoService(api_keys=[KEY, SECOND_KEY], max_body_bytes=MAX_BODY, max_batch_items=MAX_ITEMS) as svc:
        yield svc


@pytest.fixture
def client(service: DemoService) -> Iterator[httpx.Client]:
    with _client(service) as c:
        yield c


@pytest.fixture
def authed(service: DemoService) -> Iterator[httpx.Client]:
    with _client(service) as c:
        c.headers["X-API-Key"] = KEY
        yield c


# --- healthy service ---------------------------------------------------------


def test_healthy_routes(client: httpx.Client) -> None:
    assert _answers(client) == HEALTHY
    assert client.get("/api/health").headers["X-Service-Version"] == "1.4.2"
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "inventory-api" in index.text


def test_request_id_is_echoed_or_generated(client: httpx.Client) -> None:
    assert client.get("/health", headers={"X-Request-Id": "req-123"}).headers["X-Request-Id"] == "req-123"
    assert client.get("/api/items").headers["X-Request-Id"]  # also on errors
    first, second = (client.get("/health/live").headers["X-Request-Id"] for _ in range(2))
    assert len(first) == 32 and set(first) <= set("0123456789abcdef")  # uuid4().hex
    assert first != second


def test_security_headers(client: httpx.Client) -> None:
    for path in ("/api/health", "/api/items", "/api/no-such-route"):  # 200, 401, 404
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Cache-Control"] == "no-store", path
    assert client.post("/api/ingest", json=[]).headers["Cache-Control"] == "no-store"
    for path in ("/health", "/", "/metrics", "/openapi.json"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff", path


def test_api_requires_a_known_key(client: httpx.Client) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}):
        for method, path in (("GET", "/api/items"), ("GET", "/api/items/1"), ("POST", "/api/ingest")):
            response = client.request(method, path, headers=headers, json=[])
            assert (response.status_code, response.json()) == (401, {"error": "UNAUTHORIZED"}), (method, path)
    # Every ';'-separated key from API_KEYS is accepted.
    assert client.get("/api/items", headers={"X-API-Key": SECOND_KEY}).status_code == 200


def test_items(authed: httpx.Client) -> None:
    listing = authed.get("/api/items").json()
    assert listing["count"] == 20 == len(listing["items"])
    first = listing["items"][0]
    assert set(first) == {"id", "name", "quantity"} and (first["id"], first["name"]) == (1, "item-1")
    assert authed.get("/api/items", params={"limit": 3}).json()["count"] == 3
    for bad_limit in (0, 101, "many"):
        bad = authed.get("/api/items", params={"limit": bad_limit})
        assert (bad.status_code, bad.json()["error"]) == (422, "INVALID_REQUEST")
        assert "limit" in bad.json()["detail"]
    item = authed.get("/api/items/7").json()
    assert item["id"] == 7 and item["name"] == "item-7" and isinstance(item["quantity"], int)
    for missing in (authed.get("/api/items/1001"), authed.get("/api/no-such-route")):
        assert (missing.status_code, missing.json()) == (404, {"error": "NOT_FOUND"})


def test_ingest_accepts_a_valid_batch(authed: httpx.Client) -> None:
    response = authed.post("/api/ingest", json=[{"id": 1, "text": "a"}, {"id": 2, "text": "b"}])
    assert (response.status_code, response.json()) == (202, {"accepted": 2})
    # A chunked body under the limit is fine too.
    chunked = authed.post("/api/ingest", content=iter([b'[{"id": 1,', b' "text": "a"}]']))
    assert "content-length" not in chunked.request.headers
    assert (chunked.status_code, chunked.json()) == (202, {"accepted": 1})


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"id": 1, "text": "a"}', b'[{"id": "1", "text": "a"}]', b'[{"id": 1}]', b"[1]"],
)
def test_ingest_rejects_invalid_bodies(authed: httpx.Client, body: bytes) -> None:
    response = authed.post("/api/ingest", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "INVALID_BODY"
    assert response.json()["detail"]


def test_ingest_rejects_too_many_items(authed: httpx.Client) -> None:
    batch = [{"id": i, "text": ""} for i in range(MAX_ITEMS + 1)]
    assert len(json.dumps(batch)) <= MAX_BODY
    response = authed.post("/api/ingest", json=batch)
    assert (response.status_code, response.json()) == (413, {"error": "BATCH_TOO_LARGE", "max_items": MAX_ITEMS})


def test_ingest_rejects_declared_oversized_body(authed: httpx.Client) -> None:
    response = authed.post("/api/ingest", content=b"x" * (MAX_BODY + 1))
    assert response.request.headers["content-length"] == str(MAX_BODY + 1)
    assert (response.status_code, response.json()) == (413, {"error": "PAYLOAD_TOO_LARGE"})
    # The server stays usable afterwards.
    assert authed.get("/health").status_code == 200


def test_ingest_rejects_chunked_oversized_body(authed: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 32 + 2):
            yield b"x" * 32

    response = authed.post("/api/ingest", content=body())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert (response.status_code, response.json()) == (413, {"error": "PAYLOAD_TOO_LARGE"})
    assert authed.get("/health").status_code == 200


def test_metrics(client: httpx.Client) -> None:
    client.get("/api/items/5", headers={"X-API-Key": KEY})
    client.get("/definitely/not/a/route")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}

    requests = families["http_requests"]
    assert requests.type == "counter"
    counted = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in requests.samples
        if s.name == "http_requests_total"
    }
    assert counted[("GET", "/api/items/{item_id}", "200")] >= 1
    assert counted[("GET", "unmatched", "404")] >= 1
    assert not any(route.startswith("/api/items/5") for _, route, _ in counted)

    duration = families["http_request_duration_seconds"]
    assert duration.type == "histogram"
    buckets = {s.labels["le"] for s in duration.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf"}


def test_openapi_documents_the_contract(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"] == {"title": "inventory-api demo", "version": "1.4.2"}
    paths = spec["paths"]
    for path in ("/api/items", "/api/items/{item_id}", "/api/health", "/health"):
        assert "$ref" in json.dumps(paths[path]["get"]["responses"]["200"]), path
    ingest = paths["/api/ingest"]["post"]
    body_schema = ingest["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
    item = spec["components"]["schemas"]["Item"]
    assert item["properties"]["id"]["type"] == "integer"
    assert item["properties"]["text"]["type"] == "string"
    assert set(ingest["responses"]) >= {"202", "401", "413", "422"}
    assert item["required"] == ["id", "text"]

    schemas = spec["components"]["schemas"]
    assert paths["/api/items"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ItemList"
    }
    assert schemas["ItemList"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/InventoryItem"}
    assert schemas["InventoryItem"]["properties"]["quantity"]["type"] == "integer"
    assert schemas["ApiHealth"]["properties"]["version"]["type"] == "string"
    assert spec["components"]["securitySchemes"] == {
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    }
    for method, path in (("get", "/api/items"), ("get", "/api/items/{item_id}"), ("post", "/api/ingest")):
        operation = paths[path][method]
        assert operation["security"] == [{"APIKeyHeader": []}], path
        assert "401" in operation["responses"], path
    assert "security" not in paths["/api/health"]["get"]
    assert "/api/reports" not in paths


# --- faults ------------------------------------------------------------------


NEW_FAULTS = (
    "no_body_limit",
    "chunked_bypass",
    "no_batch_limit",
    "auth_bypass",
    "rotation_broken",
    "schema_drift",
    "undocumented_route",
    "version_mismatch",
    "crash_on_bad_input",
    "drop_request_id",
)


def _authed(service: DemoService, key: str = KEY) -> httpx.Client:
    client = _client(service)
    client.headers["X-API-Key"] = key
    return client


def _chunked(size: int) -> Iterator[bytes]:
    """A generator body, so httpx streams it chunked with no Content-Length."""
    while size > 0:
        yield b"x" * min(32, size)
        size -= 32


def _answer(response: httpx.Response) -> tuple[int, object]:
    return response.status_code, response.json()


TOO_MANY = [{"id": i, "text": ""} for i in range(MAX_ITEMS + 1)]
PAYLOAD_TOO_LARGE = (413, {"error": "PAYLOAD_TOO_LARGE"})
BATCH_TOO_LARGE = (413, {"error": "BATCH_TOO_LARGE", "max_items": MAX_ITEMS})


@pytest.fixture(scope="module")
def faulty() -> Iterator[dict[str, DemoService]]:
    """One service per fault, started in parallel to keep the suite fast."""
    services = {
        "not_ready": DemoService(faults=["not_ready"]),
        "unhealthy": DemoService(faults=["unhealthy"]),
        "slow": DemoService(faults=["slow"], slow_ms=300),
        **{
            fault: DemoService(
                faults=[fault], api_keys=[KEY, SECOND_KEY], max_body_bytes=MAX_BODY, max_batch_items=MAX_ITEMS
            )
            for fault in NEW_FAULTS
        },
        "jitter": DemoService(faults=["jitter"], jitter_ms=JITTER_MS),
        "errors": DemoService(faults=["errors"], api_keys=[KEY]),
        # Both tail faults, scraped by the /metrics vs /metrics.json test only (so its counts are its own).
        "errors+jitter": DemoService(faults=["errors", "jitter"], api_keys=[KEY], jitter_ms=JITTER_MS),
    }
    with ExitStack() as stack:
        stack.callback(_stop_all, list(services.values()))  # also stops the others if one fails to start
        # Starting is CPU-bound (imports): a few at a time keeps each one inside its startup timeout
        # on a busy machine, at no cost in total time. The pool waits for every start, even on failure.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(DemoService.__enter__, services.values()))
        yield services


def _stop_all(services: list[DemoService]) -> None:
    # Stopping is mostly waiting for each child to exit, so wait for them side by side.
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        list(pool.map(DemoService.stop, services))


def test_fault_not_ready_only_breaks_readiness(faulty: dict[str, DemoService]) -> None:
    with _client(faulty["not_ready"]) as c:
        ready = c.get("/health/ready")
        assert (ready.status_code, ready.json()) == (
            503,
            {"status": "not_ready", "checks": {"database": "down", "cache": "up"}},
        )
        assert _answers(c) == {**HEALTHY, "/health/ready": (ready.status_code, ready.json())}


def test_fault_unhealthy_only_breaks_health(faulty: dict[str, DemoService]) -> None:
    with _client(faulty["unhealthy"]) as c:
        broken = (500, {"status": "error", "error": "internal failure"})
        assert _answers(c) == {**HEALTHY, "/health": broken}


def test_fault_slow_delays_answers_but_keeps_them_correct(faulty: dict[str, DemoService]) -> None:
    paths = [*HEALTHY, "/api/items"]
    with _client(faulty["slow"]) as c:

        def timed(path: str) -> tuple[float, tuple[int, object]]:
            started = time.perf_counter()
            response = c.get(path)
            return time.perf_counter() - started, (response.status_code, response.json())

        # In parallel, so the test waits for one delay rather than one per route.
        with ThreadPoolExecutor(max_workers=len(paths)) as pool:
            results = dict(zip(paths, pool.map(timed, paths)))

    for path, (elapsed, _) in results.items():
        assert elapsed >= 0.3, path
    assert results.pop("/api/items")[1][0] == 401  # auth still checked, after the delay
    assert {path: answer for path, (_, answer) in results.items()} == HEALTHY


def test_fault_no_body_limit_accepts_oversized_bodies(faulty: dict[str, DemoService]) -> None:
    with _authed(faulty["no_body_limit"]) as c:
        declared = c.post("/api/ingest", content=b"x" * (MAX_BODY + 1))
        assert declared.request.headers["content-length"] == str(MAX_BODY + 1)
        assert _answer(declared) == (202, {"accepted": 0})
        chunked = c.post("/api/ingest", content=_chunked(4 * MAX_BODY))
        assert "content-length" not in chunked.request.headers
        assert _answer(chunked) == (202, {"accepted": 0})
        # A valid batch padded past the limit is counted (the blank excess is discarded).
        padded = json.dumps([{"id": 1, "text": "a"}]).encode() + b" " * MAX_BODY
        assert _answer(c.post("/api/ingest", content=padded)) == (202, {"accepted": 1})
        # Unchanged under the byte limit: batch limit, validation, auth.
        assert _answer(c.post("/api/ingest", json=TOO_MANY)) == BATCH_TOO_LARGE
        assert c.post("/api/ingest", json=[{"id": "1", "text": "a"}]).status_code == 422
        assert _answer(c.post("/api/ingest", json=[{"id": 1, "text": "a"}])) == (202, {"accepted": 1})
        assert c.post("/api/ingest", content=b"x" * (MAX_BODY + 1), headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/health").status_code == 200


def test_fault_chunked_bypass_only_skips_the_limit_for_chunked_bodies(faulty: dict[str, DemoService]) -> None:
    with _authed(faulty["chunked_bypass"]) as c:
        chunked = c.post("/api/ingest", content=_chunked(4 * MAX_BODY))
        assert chunked.request.headers["transfer-encoding"] == "chunked"
        assert _answer(chunked) == (202, {"accepted": 0})
        assert _answer(c.post("/api/ingest", content=b"x" * (MAX_BODY + 1))) == PAYLOAD_TOO_LARGE
        small = c.post("/api/ingest", content=iter([b'[{"id": 1,', b' "text": "a"}]']))
        assert _answer(small) == (202, {"accepted": 1})
        assert _answer(c.post("/api/ingest", json=TOO_MANY)) == BATCH_TOO_LARGE


def test_fault_no_batch_limit_accepts_too_many_items(faulty: dict[str, DemoService]) -> None:
    with _authed(faulty["no_batch_limit"]) as c:
        assert _answer(c.post("/api/ingest", json=TOO_MANY)) == (202, {"accepted": MAX_ITEMS + 1})
        assert _answer(c.post("/api/ingest", content=b"x" * (MAX_BODY + 1))) == PAYLOAD_TOO_LARGE
        assert _answer(c.post("/api/ingest", content=_chunked(4 * MAX_BODY))) == PAYLOAD_TOO_LARGE


def test_fault_auth_bypass_opens_the_reads_only(faulty: dict[str, DemoService]) -> None:
    with _client(faulty["auth_bypass"]) as c:
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY}):
            assert c.get("/api/items", headers=headers).status_code == 200, headers
            assert c.get("/api/items/7", headers=headers).json()["id"] == 7, headers
        for headers in ({}, {"X-API-Key": "wrong"}):
            assert _answer(c.post("/api/ingest", json=[], headers=headers)) == (401, {"error": "UNAUTHORIZED"})
        assert c.post("/api/ingest", json=[], headers={"X-API-Key": SECOND_KEY}).status_code == 202


def test_fault_rotation_broken_drops_the_second_key(faulty: dict[str, DemoService]) -> None:
    with _client(faulty["rotation_broken"]) as c:
        for method, path in (("GET", "/api/items"), ("GET", "/api/items/1"), ("POST", "/api/ingest")):
            second = c.request(method, path, headers={"X-API-Key": SECOND_KEY}, json=[])
            assert _answer(second) == (401, {"error": "UNAUTHORIZED"}), path
            assert c.request(method, path, headers={"X-API-Key": KEY}, json=[]).status_code in (200, 202), path
            assert c.request(method, path, json=[]).status_code == 401, path


def test_fault_schema_drift_changes_the_payload_not_the_spec(
    faulty: dict[str, DemoService], client: httpx.Client
) -> None:
    with _authed(faulty["schema_drift"]) as c:
        listing = c.get("/api/items", params={"limit": 3}).json()
        assert listing["count"] == 3
        assert [item["quantity"] for item in listing["items"]] == ["37", "74", "10"]
        assert c.get("/api/items/1").json() == {"id": 1, "name": "item-1", "quantity": "37"}
        assert c.get("/api/items/1001").status_code == 404
        spec = c.get("/openapi.json").json()
    assert spec == client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["InventoryItem"]["properties"]["quantity"]["type"] == "integer"
    # The healthy service sends the same values as integers.
    assert client.get("/api/items/1", headers={"X-API-Key": KEY}).json()["quantity"] == 37


def test_fault_undocumented_route_documents_a_missing_path(
    faulty: dict[str, DemoService], client: httpx.Client
) -> None:
    with _authed(faulty["undocumented_route"]) as c:
        spec = c.get("/openapi.json").json()
        reports = spec["paths"].pop("/api/reports")
        assert set(reports) == {"get"} and "parameters" not in reports["get"]
        schema = reports["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["type"] == "object"
        assert _answer(c.get("/api/reports")) == (404, {"error": "NOT_FOUND"})
        assert c.get("/api/items", params={"limit": 1}).status_code == 200
    assert spec == client.get("/openapi.json").json()  # nothing else differs


def test_fault_version_mismatch_serves_another_version(faulty: dict[str, DemoService]) -> None:
    with _client(faulty["version_mismatch"]) as c:
        health = c.get("/api/health")
        assert _answer(health) == (200, {"status": "ok", "version": "1.4.3"})
        assert health.headers["X-Service-Version"] == "1.4.3"
        assert c.get("/openapi.json").json()["info"]["version"] == "1.4.2"
        assert _answers(c) == {**HEALTHY, "/api/health": (200, {"status": "ok", "version": "1.4.3"})}


@pytest.mark.parametrize(
    "body", [b'{"id": 1, "text": "a"}', b'[{"id": "1", "text": "a"}]', b'[{"id": 1}]', b"[1]", b"null"]
)
def test_fault_crash_on_bad_input_answers_500_for_bad_batches(faulty: dict[str, DemoService], body: bytes) -> None:
    with _authed(faulty["crash_on_bad_input"]) as c:
        assert _answer(c.post("/api/ingest", content=body)) == (500, {"error": "INTERNAL"})


def test_fault_crash_on_bad_input_keeps_the_other_answers(faulty: dict[str, DemoService]) -> None:
    with _authed(faulty["crash_on_bad_input"]) as c:
        assert _answer(c.post("/api/ingest", json=[{"id": 1, "text": "a"}])) == (202, {"accepted": 1})
        not_json = c.post("/api/ingest", content=b"{not json")
        assert (not_json.status_code, not_json.json()["error"]) == (422, "INVALID_BODY")
        assert _answer(c.post("/api/ingest", json=TOO_MANY)) == BATCH_TOO_LARGE
        assert _answer(c.post("/api/ingest", content=b"x" * (MAX_BODY + 1))) == PAYLOAD_TOO_LARGE
        assert c.get("/api/items", params={"limit": 0}).status_code == 422
        assert c.get("/health").status_code == 200  # still serving after the 500s


def test_fault_drop_request_id_removes_the_header_only(faulty: dict[str, DemoService]) -> None:
    with _client(faulty["drop_request_id"]) as c:
        for response in (c.get("/health", headers={"X-Request-Id": "req-123"}), c.get("/api/items")):
            assert "X-Request-Id" not in response.headers
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert _answers(c) == HEALTHY


def test_fault_jitter_delays_exactly_every_20th_request(faulty: dict[str, DemoService]) -> None:
    elapsed = []
    with _client(faulty["jitter"]) as c:
        for _ in range(40):
            started = time.perf_counter()
            response = c.get("/api/health")
            elapsed.append(time.perf_counter() - started)
            assert _answer(response) == HEALTHY["/api/health"]  # late, never wrong
            # Probes and scrapes are exempt: they would shift the slow ones if they were counted.
            for path in ("/health/live", "/metrics", "/metrics.json"):
                assert c.get(path).status_code == 200, path
        series = sli.parse_prometheus(c.get("/metrics").text)

    slow = [i for i, seconds in enumerate(elapsed) if seconds >= JITTER_MS / 1000]
    assert slow == [19, 39], [round(seconds, 3) for seconds in elapsed]
    # The tail shows in the histogram: p99 lands in a bucket above 0.25 s (the slow answers took >= 0.3 s).
    p99, observations = sli.histogram_quantile(series, 0.99, match={"route": "/api/health"})
    assert observations == 40 and p99 > 0.25


def test_fault_errors_fails_every_10th_api_get(faulty: dict[str, DemoService]) -> None:
    routes = ["/api/items", "/api/items/3", "/api/health"]
    answers = []
    with _authed(faulty["errors"]) as c:
        for i in range(30):
            answers.append(c.get(routes[i % 3]))
            # Neither failed nor counted: other routes, other methods, unknown /api/ paths.
            assert _answer(c.get("/health")) == HEALTHY["/health"]
            assert _answer(c.post("/api/ingest", json=[{"id": 1, "text": "a"}])) == (202, {"accepted": 1})
            assert c.get("/api/no-such-route").status_code == 404
        series = sli.parse_prometheus(c.get("/metrics").text)

    failed = [i for i, response in enumerate(answers) if response.status_code == 500]
    assert failed == [9, 19, 29]  # one per route, as 10 is 1 more than a multiple of 3
    for i in failed:
        assert _answer(answers[i]) == (500, {"error": "INTERNAL"})
        assert answers[i].headers["X-Request-Id"] and answers[i].headers["Cache-Control"] == "no-store"
    assert all(response.status_code == 200 for i, response in enumerate(answers) if i not in failed)
    # The metrics record each 500 under its route template.
    for route in ("/api/items", "/api/items/{item_id}", "/api/health"):
        assert sli.error_ratio(series, match={"route": route}) == (Decimal(1), Decimal(10), Decimal("0.1")), route
    assert sli.error_ratio(series, match={"route": "/health"}) == (Decimal(0), Decimal(30), Decimal(0))
    assert sli.error_ratio(series, match={"method": "POST"}) == (Decimal(0), Decimal(30), Decimal(0))


def test_metrics_json_agrees_with_metrics(faulty: dict[str, DemoService]) -> None:
    with _authed(faulty["errors+jitter"]) as c:
        for i in range(40):
            c.get(("/api/items", "/api/health", "/health", "/api/items/9")[i % 4])
        c.get("/api/items", headers={"X-API-Key": "wrong"})
        c.get("/no/such/route")
        text = c.get("/metrics").text
        doc = c.get("/metrics.json").json()
        assert "/metrics.json" not in json.dumps(c.get("/openapi.json").json()["paths"])

    # Each scrape is counted once it has answered; leave the scrapes out, compare the rest.
    def traffic(series: list[sli.Series]) -> list[sli.Series]:
        return [s for s in series if s.labels.get("route") not in ("/metrics", "/metrics.json")]

    from_text, from_json = traffic(sli.parse_prometheus(text)), traffic(sli.parse_json_metrics(doc))
    def canonical(series: list[sli.Series]) -> list[tuple[str, list[tuple[str, str]], float]]:
        return sorted((s.name, sorted(s.labels.items()), s.value) for s in series)

    assert canonical(from_json) == canonical(from_text)
    assert {entry["route"] for entry in doc["latency_seconds"]} >= {"/api/items", "/api/health", "unmatched"}
    for match in (None, {"route": "/api/items"}, {"route": "/api/items/{item_id}", "method": "GET"}):
        assert sli.error_ratio(from_json, match=match) == sli.error_ratio(from_text, match=match)
    for route_match in (None, {"route": "/api/items"}, {"route": "unmatched"}):
        for q in (0.5, 0.99):
            from_both = {sli.histogram_quantile(found, q, match=route_match) for found in (from_json, from_text)}
            assert len(from_both) == 1, (route_match, q, from_both)
    # 30 GETs to /api/ routes, every 10th failed; the wrong key's 401 is the 31st, not failed.
    errors, total, _ = sli.error_ratio(from_json, match={"method": "GET"})
    assert errors == 3 and total >= 42


@pytest.mark.parametrize("fault", NEW_FAULTS)
def test_each_new_fault_leaves_the_common_contract_alone(
    faulty: dict[str, DemoService], client: httpx.Client, fault: str
) -> None:
    """What every fault but its own keeps: health answers, spec, request id, security headers."""
    with _client(faulty[fault]) as c:
        if fault != "version_mismatch":
            assert _answers(c) == HEALTHY
        if fault != "undocumented_route":
            assert c.get("/openapi.json").json() == client.get("/openapi.json").json()
        response = c.get("/api/health", headers={"X-Request-Id": "req-9"})
        assert response.headers.get("X-Request-Id") == (None if fault == "drop_request_id" else "req-9")
        assert response.headers["Cache-Control"] == "no-store"
        if fault != "auth_bypass":
            assert c.get("/api/items", headers={"X-API-Key": "wrong"}).status_code == 401
        if fault != "rotation_broken":
            assert c.get("/api/items", headers={"X-API-Key": SECOND_KEY}).status_code == 200


def test_create_app_rejects_unknown_faults() -> None:
    assert set(FAULTS) >= {"not_ready", "unhealthy", "slow", "jitter", "errors", *NEW_FAULTS}
    assert all(text and "\n" not in text for text in FAULTS.values())
    with pytest.raises(ValueError, match="nope.*not_ready"):
        create_app(faults={"nope"})
    with pytest.raises(ValueError, match="jitter_ms"):
        create_app(faults={"jitter"}, jitter_ms=-1)


def test_cli_unknown_fault_exits_2_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opscheck.demo", "--fault", "nope"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nope" in lines[0] and "not_ready" in lines[0] and "slow" in lines[0]


# --- launcher lifecycle ------------------------------------------------------


class _Boom(Exception):
    pass


def test_service_is_stopped_even_when_the_block_raises() -> None:
    demo = DemoService()
    with pytest.raises(_Boom), demo:
        assert demo.process.poll() is None
        raise _Boom
    assert demo.process.poll() is not None
    demo.stop()  # idempotent
    with pytest.raises(httpx.TransportError), httpx.Client(trust_env=False) as c:
        c.get(f"{demo.base_url}/health/live", timeout=2.0)


def test_failed_startup_raises_with_output_and_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "lots")  # the child refuses to start
    demo = DemoService()
    with pytest.raises(RuntimeError, match="MAX_REQUEST_BODY_BYTES"):
        demo.__enter__()
    assert demo.process.poll() is not None
    assert demo.output_tail() == ""  # log file already removed
