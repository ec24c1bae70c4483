"""What wraps every request of the demo service: the request id, security headers, metrics, the
body limit, and the exception handlers that give every error the same ``{"error": CODE}`` shape.

The middleware is pure ASGI, so endpoints can still stream the request body.
"""

from __future__ import annotations

import time
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opscheck.demo.models import ApiError

REQUEST_ID_HEADER = "X-Request-Id"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED_ROUTE = "unmatched"


# --- error handlers ---------------------------------------------------------


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status_code)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    # Framework errors (unknown path, wrong method) use the same {"error": CODE} shape.
    assert isinstance(exc, StarletteHTTPException)
    try:
        code = HTTPStatus(exc.status_code).name
    except ValueError:
        code = "HTTP_ERROR"
    return JSONResponse({"error": code}, status_code=exc.status_code, headers=exc.headers)


async def request_validation_handler(request: Request, exc: Exception) -> Response:
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


def route_template(scope: Scope) -> str:
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
            self.metrics.observe(scope["method"], route_template(scope), status, elapsed)



# --- body limit -------------------------------------------------------------


def payload_too_large() -> ApiError:
    # No "Connection: close" on purpose: closing a socket with unread input makes
    # the kernel send RST, which can destroy the 413 before the client reads it.
    # Left open, uvicorn discards the rest of the body without buffering it.
    return ApiError(413, {"error": "PAYLOAD_TOO_LARGE"})


async def read_body_within_limit(request: Request, limit: int) -> bytearray:
    """Read the request body, giving up (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise payload_too_large()
    body = bytearray()  # one growing buffer: never holds more than `limit` bytes
    # Counted for Content-Length bodies too: the header is the client's claim, not a promise.
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise payload_too_large()
        body += chunk
    return body

