"""The "inventory-api demo": a small FastAPI service with switchable faults.

Every piece of state (API keys, metrics registry, limits) lives inside the app
built by :func:`create_app`, so several differently configured apps can share
one process.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the
# annotations of endpoints defined inside create_app, which refer to locals.
import asyncio
from datetime import datetime, timedelta, timezone
import copy
import json
import os
import secrets
import time
import uuid
from http import HTTPStatus
from collections.abc import Callable, Collection, Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opscheck.demo.faults import FAULTS

APP_TITLE = "inventory-api demo"
APP_VERSION = "1.4.2"


DEFAULT_API_KEY = "demo-key"
API_KEY_HEADER = "X-API-Key"
REQUEST_ID_HEADER = "X-Request-Id"
VERSION_HEADER = "X-Service-Version"
DRIFTED_VERSION = "1.4.3"  # what /api/health claims under the version_mismatch fault
MAX_ITEM_ID = 1000
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED_ROUTE = "unmatched"
JITTER_EVERY = 20  # fault jitter: 1 request in 20 is slow, so p95 stays fast and p99 does not
# Liveness probes and scrapes are exempt from jitter: a probe timing out would restart
# the pod, and a slow scrape would hide the tail instead of showing it.
JITTER_EXEMPT_PATHS = frozenset({"/health/live", "/metrics", "/metrics.json"})
ERRORS_EVERY = 10  # fault errors: 1 GET in 10 to an /api/ route fails


# --- response and request models (they drive the OpenAPI document) ---------


class HealthStatus(BaseModel):
    status: Literal["ok"]


class HealthError(BaseModel):
    status: Literal["error"]
    error: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["up", "down"]]


class ApiHealth(BaseModel):
    status: Literal["ok"]
    version: str


class PipelineKpis(BaseModel):
    par_30: float
    par_90: float


class PipelineSummary(BaseModel):
    finished_at: str  # ISO 8601, UTC
    rows: int
    summary: PipelineKpis


class InventoryItem(BaseModel):
    id: int
    name: str
    quantity: int


class ItemList(BaseModel):
    items: list[InventoryItem]
    count: int


class Item(BaseModel):
    """One record of an ingest batch."""

    # Strict: "1" is not an id and 1 is not a text; the contract says int and str.
    model_config = ConfigDict(strict=True)

    id: int
    text: str


class IngestAccepted(BaseModel):
    accepted: int


class ErrorBody(BaseModel):
    error: str


class BatchTooLarge(ErrorBody):
    max_items: int


class ErrorWithDetail(ErrorBody):
    detail: str


_INGEST_BATCH = TypeAdapter(list[Item])


class ApiError(Exception):
    """An error answered as a JSON body, e.g. ``{"error": "UNAUTHORIZED"}``."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status_code} {body.get('error')}")
        self.status_code = status_code
        self.body = body


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status_code)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    # Framework errors (unknown path, wrong method) use the same {"error": CODE} shape.
    assert isinstance(exc, StarletteHTTPException)
    try:
        code = HTTPStatus(exc.status_code).name
    except ValueError:
        code = "HTTP_ERROR"
    return JSONResponse({"error": code}, status_code=exc.status_code, headers=exc.headers)


async def _request_validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return JSONResponse({"error": "INVALID_REQUEST", "detail": f"{where}: {first.get('msg')}"}, status_code=422)


# --- middleware (pure ASGI, so endpoints can still stream the request body) -


class RequestIdMiddleware:
    """Echo the caller's X-Request-Id, or mint one, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = incoming or uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every answer; ``Cache-Control: no-store`` under /api/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"] == "/api" or scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if is_api:
                    # API answers carry stock levels and keyed data: no cache may keep them.
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HttpMetrics:
    """The per-app Prometheus collectors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ("route",),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.duration.labels(route=route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """The same numbers as :meth:`exposition`, in the JSON form ``opscheck.measure.sli`` documents."""
        requests: list[dict[str, Any]] = []
        latency: dict[str, dict[str, Any]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                name, labels = sample.name, sample.labels
                if name == "http_requests_total":
                    requests.append({**labels, "count": int(sample.value)})
                elif name.startswith("http_request_duration_seconds_"):
                    entry = latency.setdefault(labels["route"], {"route": labels["route"], "buckets": {}})
                    if name.endswith("_bucket"):
                        # `le` is already written as the exposition writes it ("1.0", "+Inf").
                        entry["buckets"][labels["le"]] = int(sample.value)
                    elif name.endswith("_count"):
                        entry["count"] = int(sample.value)
                    elif name.endswith("_sum"):
                        entry["sum"] = sample.value
        return {"requests": requests, "latency_seconds": list(latency.values())}


def _route_template(scope: Scope) -> str:
    # The router stores the matched route in the scope; labelling by template
    # (not raw path) keeps label cardinality bounded.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Count and time every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees if the app raises before answering

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], _route_template(scope), status, elapsed)


class SlowMiddleware:
    """Fault ``slow``: hold every request for a fixed delay before answering."""

    def __init__(self, app: ASGIApp, delay_s: float) -> None:
        self.app = app
        self.delay_s = delay_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


class JitterMiddleware:
    """Fault ``jitter``: delay every ``every``-th request, so latency has a long tail.

    Counted, not random, so a test knows exactly which answers are slow.
    """

    def __init__(self, app: ASGIApp, delay_s: float, every: int = JITTER_EVERY) -> None:
        self.app = app
        self.delay_s = delay_s
        self.every = every
        self.seen = 0  # one event loop per app: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in JITTER_EXEMPT_PATHS:
            self.seen += 1
            if self.seen % self.every == 0:
                await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


def _is_api_get_route(scope: Scope) -> bool:
    # Known only once the router has matched (it stores the route in the shared scope);
    # a 404 for an unknown path or a 405 for POST-only /api/ingest is no GET route.
    route = scope.get("route")
    path, methods = getattr(route, "path", None), getattr(route, "methods", None) or ()
    return isinstance(path, str) and path.startswith("/api/") and "GET" in methods


class ErrorsMiddleware:
    """Fault ``errors``: every ``every``-th GET to an /api/ route answers 500 INTERNAL.

    The request is routed and handled as usual and its answer replaced, so the
    metrics record the 500 under the route template, as for a handler that failed.
    """

    def __init__(self, app: ASGIApp, every: int = ERRORS_EVERY) -> None:
        self.app = app
        self.every = every
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        failing = False

        async def send_or_fail(message: Message) -> None:
            nonlocal failing
            if message["type"] == "http.response.start" and _is_api_get_route(scope):
                self.seen += 1
                failing = self.seen % self.every == 0
                if failing:
                    body = json.dumps({"error": "INTERNAL"}).encode()
                    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                    await send({"type": "http.response.start", "status": 500, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            if not failing:  # the real answer's body is dropped after a replaced start
                await send(message)

        await self.app(scope, receive, send_or_fail)


# --- helpers ----------------------------------------------------------------


def _validate_faults(faults: Collection[str]) -> frozenset[str]:
    if isinstance(faults, str):  # a bare "slow" would otherwise become {"s", "l", ...}
        faults = (faults,)
    unknown = sorted(set(faults) - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known faults: {', '.join(sorted(FAULTS))}")
    return frozenset(faults)


def _split_keys(raw: str) -> list[str]:
    return [key.strip() for key in raw.split(";") if key.strip()]


def resolve_api_keys(api_keys: Sequence[str] | None) -> list[str]:
    """Explicit keys, else ``API_KEYS`` (';'-separated), else the demo key."""
    if api_keys is not None:
        keys = [key.strip() for key in api_keys if key.strip()]
    else:
        keys = _split_keys(os.environ.get("API_KEYS", ""))
    return keys or [DEFAULT_API_KEY]


def _require_int_at_least(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _make_item(item_id: int) -> InventoryItem:
    # Deterministic stock levels so checks can compare two answers.
    return InventoryItem(id=item_id, name=f"item-{item_id}", quantity=(item_id * 37) % 101)


def _payload_too_large() -> ApiError:
    # No "Connection: close" on purpose: closing a socket with unread input makes
    # the kernel send RST, which can destroy the 413 before the client reads it.
    # Left open, uvicorn discards the rest of the body without buffering it.
    return ApiError(413, {"error": "PAYLOAD_TOO_LARGE"})


async def read_body_within_limit(request: Request, limit: int) -> bytearray:
    """Read the request body, giving up (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _payload_too_large()
    body = bytearray()  # one growing buffer: never holds more than `limit` bytes
    # Counted for Content-Length bodies too: the header is the client's claim, not a promise.
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise _payload_too_large()
        body += chunk
    return body


async def read_body_discarding_excess(request: Request, limit: int) -> tuple[bytearray, bool, bool]:
    """Read the whole body but keep only its first ``limit`` bytes (the body-limit faults).

    Returns ``(kept, overflowed, excess_is_blank)``; the excess is counted, never buffered.
    When it was only whitespace, ``kept`` parses exactly like the full body would.
    """
    body = bytearray()
    overflowed = False
    excess_is_blank = True
    async for chunk in request.stream():
        room = limit - len(body)
        if len(chunk) <= room:
            body += chunk
            continue
        overflowed = True
        body += chunk[:room]
        if excess_is_blank and chunk[room:].strip(b" \t\r\n"):
            excess_is_blank = False
    return body, overflowed, excess_is_blank


def _invalid_body(detail: str) -> ApiError:
    return ApiError(422, {"error": "INVALID_BODY", "detail": detail})


def _describe_validation_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    where = "/".join(str(part) for part in first["loc"]) or "body"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"item {where}: {first['msg']}{more}"


def decode_json_body(body: bytes | bytearray) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise _invalid_body(f"body is not valid JSON: {exc}") from None


def validate_ingest_batch(payload: Any, max_items: int | None) -> list[Item]:
    """Check a decoded body is a list of at most ``max_items`` (None: any number) {id, text} items."""
    if not isinstance(payload, list):
        raise _invalid_body("body must be a JSON list of {id: int, text: str} items")
    if max_items is not None and len(payload) > max_items:
        raise ApiError(413, {"error": "BATCH_TOO_LARGE", "max_items": max_items})
    try:
        return _INGEST_BATCH.validate_python(payload)
    except ValidationError as exc:
        raise _invalid_body(_describe_validation_error(exc)) from None


def parse_ingest_batch(body: bytes | bytearray, max_items: int) -> list[Item]:
    """Parse an ingest body: a JSON list of at most ``max_items`` {id, text} items."""
    return validate_ingest_batch(decode_json_body(body), max_items)


def _count_valid_items(body: bytes | bytearray) -> int:
    """Items in ``body`` if it is a valid batch of any length, else 0 (oversized bodies under a fault)."""
    try:
        return len(validate_ingest_batch(decode_json_body(body), None))
    except ApiError:
        return 0


def _api_key_checker(keys: Sequence[str], enforce: bool = True) -> Callable[..., None]:
    """Build the dependency that enforces X-API-Key against this app's keys.

    With ``enforce=False`` (fault ``auth_bypass``) it still declares the security
    scheme, so /openapi.json is unchanged, but lets every caller through.
    """
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
    accepted = [key.encode() for key in keys]

    def require_api_key(api_key: Annotated[str | None, Security(header)]) -> None:
        if not enforce:
            return
        given = (api_key or "").encode()
        # Constant-time compare against every key: response time must not tell
        # an attacker how close a guess was.
        matched = [secrets.compare_digest(given, key) for key in accepted]
        if not api_key or not any(matched):
            raise ApiError(401, {"error": "UNAUTHORIZED"})

    return require_api_key


_INDEX_HTML = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{APP_TITLE}</title></head>
<body>
<h1>{APP_TITLE} {APP_VERSION}</h1>
<p>Reference service for opscheck. See <a href="/docs">/docs</a>,
<a href="/openapi.json">/openapi.json</a>, <a href="/health/ready">/health/ready</a>
and <a href="/metrics">/metrics</a>.</p>
</body>
</html>
"""

_ITEM_SCHEMA_REF = "#/components/schemas/Item"
_INGEST_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": _ITEM_SCHEMA_REF}}}},
    }
}


# --- routes -----------------------------------------------------------------


# Fault ``undocumented_route``: a path the document promises and the service never serves.
_PHANTOM_PATH = "/api/reports"
_PHANTOM_OPERATION = {
    "get": {
        "summary": "List Reports",
        "operationId": "list_reports_api_reports_get",
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "reports": {"type": "array", "items": {"type": "string"}},
                                "count": {"type": "integer"},
                            },
                            "required": ["reports", "count"],
                        }
                    }
                },
            }
        },
    }
}


def _document_ingest_item(app: FastAPI, faults: frozenset[str] = frozenset()) -> None:
    """Publish the Item schema the hand-written ingest request body refers to."""
    # FastAPI only collects models it parses itself, and /api/ingest parses by hand.
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # also caches itself in app.openapi_schema
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["Item"] = Item.model_json_schema(ref_template="#/components/schemas/{model}")
            if "undocumented_route" in faults:
                schema["paths"][_PHANTOM_PATH] = copy.deepcopy(_PHANTOM_OPERATION)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_health_routes(app: FastAPI, faults: frozenset[str]) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(_INDEX_HTML)

    @app.get("/health", response_model=HealthStatus, responses={500: {"model": HealthError}})
    async def health() -> Any:
        if "unhealthy" in faults:
            return JSONResponse({"status": "error", "error": "internal failure"}, status_code=500)
        return HealthStatus(status="ok")

    @app.get("/health/live", response_model=HealthStatus)
    async def health_live() -> HealthStatus:
        return HealthStatus(status="ok")

    @app.get("/health/ready", response_model=Readiness, responses={503: {"model": Readiness}})
    async def health_ready() -> Any:
        if "not_ready" in faults:
            body = {"status": "not_ready", "checks": {"database": "down", "cache": "up"}}
            return JSONResponse(body, status_code=503)
        return Readiness(status="ready", checks={"database": "up", "cache": "up"})

    # version_mismatch: a build that serves another version than the one it documents.
    served_version = DRIFTED_VERSION if "version_mismatch" in faults else APP_VERSION

    @app.get("/api/health", response_model=ApiHealth)
    async def api_health(response: Response) -> ApiHealth:
        response.headers[VERSION_HEADER] = served_version
        return ApiHealth(status="ok", version=served_version)


def _add_pipeline_route(app: FastAPI, faults: frozenset[str]) -> None:
    # Data a nightly pipeline would publish: its freshness and KPIs are what the data checks read.
    age_h = 13 if "stale_data" in faults else 2
    par_90 = 5.4 if "kpi_breach" in faults else 2.4

    @app.get("/api/pipeline/summary", response_model=PipelineSummary)
    async def pipeline_summary() -> PipelineSummary:
        finished = datetime.now(timezone.utc) - timedelta(hours=age_h)
        return PipelineSummary(finished_at=finished.isoformat(timespec="seconds"), rows=125_000,
                               summary=PipelineKpis(par_30=4.1, par_90=par_90))


def _add_metrics_route(app: FastAPI, metrics: HttpMetrics) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # For consumers without a Prometheus parser; same registry, same numbers.
    @app.get("/metrics.json", include_in_schema=False)
    async def json_metrics() -> JSONResponse:
        return JSONResponse(metrics.snapshot())


def _item_body(item: InventoryItem, drift: bool) -> dict[str, Any]:
    body = item.model_dump()
    if drift:  # schema_drift: the documented integer goes out as a string
        body["quantity"] = str(body["quantity"])
    return body


def _add_api_routes(
    app: FastAPI, faults: frozenset[str], api_keys: Sequence[str], max_body_bytes: int, max_batch_items: int
) -> None:
    # rotation_broken: the deploy kept only the first (old) key of the rotation.
    keys = list(api_keys[:1]) if "rotation_broken" in faults else list(api_keys)
    auth = [Depends(_api_key_checker(keys))]
    read_auth = [Depends(_api_key_checker(keys, enforce="auth_bypass" not in faults))]
    drift = "schema_drift" in faults
    unauthorized: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}}
    invalid_request: dict[int | str, dict[str, Any]] = {422: {"model": ErrorWithDetail}}

    # Drifted answers bypass response_model, which would coerce "37" back to 37.
    @app.get(
        "/api/items", response_model=ItemList, dependencies=read_auth, responses={**unauthorized, **invalid_request}
    )
    async def list_items(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Any:
        items = [_make_item(item_id) for item_id in range(1, limit + 1)]
        if drift:
            return JSONResponse({"items": [_item_body(item, drift) for item in items], "count": len(items)})
        return ItemList(items=items, count=len(items))

    @app.get(
        "/api/items/{item_id}",
        response_model=InventoryItem,
        dependencies=read_auth,
        responses={**unauthorized, 404: {"model": ErrorBody}, **invalid_request},
    )
    # The documented example lets contract checks request a real item, not the literal {item_id}.
    async def get_item(item_id: Annotated[int, Path(examples=[1])]) -> Any:
        if not 1 <= item_id <= MAX_ITEM_ID:
            raise ApiError(404, {"error": "NOT_FOUND"})
        item = _make_item(item_id)
        return JSONResponse(_item_body(item, drift)) if drift else item

    @app.post(
        "/api/ingest",
        status_code=202,
        response_model=IngestAccepted,
        dependencies=auth,
        openapi_extra=_INGEST_REQUEST_BODY,
        responses={
            **unauthorized,
            413: {"model": BatchTooLarge | ErrorBody, "description": "PAYLOAD_TOO_LARGE or BATCH_TOO_LARGE"},
            422: {"model": ErrorWithDetail},
        },
    )
    async def ingest(request: Request) -> IngestAccepted:
        # The body is read by hand (not declared as a parameter) so the size
        # limit holds while streaming instead of after FastAPI buffered it all.
        chunked = request.headers.get("content-length") is None
        if "no_body_limit" in faults or ("chunked_bypass" in faults and chunked):
            # Broken limit, bounded memory: the excess is read and thrown away.
            body, overflowed, excess_is_blank = await read_body_discarding_excess(request, max_body_bytes)
            if overflowed:
                return IngestAccepted(accepted=_count_valid_items(body) if excess_is_blank else 0)
        else:
            body = await read_body_within_limit(request, max_body_bytes)
        payload = decode_json_body(body)
        try:
            batch = validate_ingest_batch(payload, None if "no_batch_limit" in faults else max_batch_items)
        except ApiError as exc:
            if "crash_on_bad_input" in faults and exc.status_code == 422:
                # As if the handler indexed into the payload unchecked and blew up.
                raise ApiError(500, {"error": "INTERNAL"}) from None
            raise
        return IngestAccepted(accepted=len(batch))


def create_app(
    faults: Collection[str] = frozenset(),
    api_keys: Sequence[str] | None = None,
    slow_ms: int = 1200,
    max_body_bytes: int = 1048576,
    max_batch_items: int = 500,
    jitter_ms: int = 800,
) -> FastAPI:
    """Build one independent instance of the demo service with the given faults."""
    active_faults = _validate_faults(faults)
    _require_int_at_least("slow_ms", slow_ms, 0)
    _require_int_at_least("max_body_bytes", max_body_bytes, 1)
    _require_int_at_least("max_batch_items", max_batch_items, 1)
    _require_int_at_least("jitter_ms", jitter_ms, 0)
    keys = resolve_api_keys(api_keys)
    metrics = HttpMetrics()

    # Outermost first: the request id and security headers land on every answer,
    # and metrics see the injected delay just as a real client would.
    middleware = [Middleware(SecurityHeadersMiddleware)]
    if "drop_request_id" not in active_faults:
        middleware.append(Middleware(RequestIdMiddleware))
    middleware.append(Middleware(MetricsMiddleware, metrics=metrics))
    if "slow" in active_faults:
        middleware.append(Middleware(SlowMiddleware, delay_s=slow_ms / 1000))
    if "jitter" in active_faults:
        middleware.append(Middleware(JitterMiddleware, delay_s=jitter_ms / 1000))
    if "errors" in active_faults:
        middleware.append(Middleware(ErrorsMiddleware))

    app = FastAPI(title=APP_TITLE, version=APP_VERSION, middleware=middleware)
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.state.faults = active_faults
    app.state.metrics = metrics

    _add_health_routes(app, active_faults)

    _add_pipeline_route(app, active_faults)
    _add_metrics_route(app, metrics)
    _add_api_routes(app, active_faults, keys, max_body_bytes, max_batch_items)
    _document_ingest_item(app, active_faults)
    return app
