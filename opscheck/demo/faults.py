"""The reference service's faults: their names and what breaks (`FAULTS`), and the behaviour of
those that are more than a flag read by a route: injected delays and errors, the broken body
limit, the phantom route of the document.

No web framework is imported here at run time, so the CLI and the launcher can list and check
faults without importing FastAPI (and anyio) before pytest starts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


FAULTS: dict[str, str] = {
    "not_ready": "/health/ready answers 503 and names the database as down",
    "unhealthy": "/health answers 500",
    "slow": "every answer is delayed by slow_ms, past the smoke max_ms",
    "no_body_limit": "POST /api/ingest ignores the body limit (declared or chunked): oversized bodies get 202",
    "chunked_bypass": "the body limit is checked only against Content-Length: oversized chunked bodies get 202",
    "no_batch_limit": "POST /api/ingest accepts batches over max_batch_items (the body limit still holds)",
    "auth_bypass": "GET /api/items and /api/items/{item_id} answer 200 without a valid API key",
    "rotation_broken": "only the first API_KEYS entry is accepted; the later keys get 401",
    "schema_drift": "items carry quantity as a string while /openapi.json still documents an integer",
    "undocumented_route": "/openapi.json documents GET /api/reports, which answers 404",
    "version_mismatch": "/api/health reports version 1.4.3 while /openapi.json says 1.4.2",
    "crash_on_bad_input": "POST /api/ingest answers 500 instead of 422 for JSON that is not a valid batch",
    "drop_request_id": "responses carry no X-Request-Id header",
    "stale_data": "/api/pipeline/summary reports a last run that finished 13 h ago (critical > 12 h)",
    "kpi_breach": "/api/pipeline/summary reports PAR_90 at 5.4 % (critical > 5 %)",
    "jitter": "every 20th request waits jitter_ms (default 800 ms), a long tail; /health/live and /metrics are exempt",
    "errors": "every 10th GET to an /api/ route answers 500 {\"error\": \"INTERNAL\"}, counted in /metrics",
    "first_request_cut": "the first answer on each path is cut off mid-body (the connection closes); later ones are whole",
}

DRIFTED_VERSION = "1.4.3"  # what /api/health claims under the version_mismatch fault
JITTER_EVERY = 20  # fault jitter: 1 request in 20 is slow, so p95 stays fast and p99 does not
# Liveness probes and scrapes are exempt from jitter: a probe timing out would restart
# the pod, and a slow scrape would hide the tail instead of showing it.
JITTER_EXEMPT_PATHS = frozenset({"/health/live", "/metrics", "/metrics.json"})
ERRORS_EVERY = 10  # fault errors: 1 GET in 10 to an /api/ route fails


def validate_faults(faults: Collection[str]) -> frozenset[str]:
    """The fault names as a set; ValueError naming the unknown ones and listing the known ones."""
    if isinstance(faults, str):  # a bare "slow" would otherwise become {"s", "l", ...}
        faults = (faults,)
    unknown = sorted(set(faults) - FAULTS.keys())
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known faults: {', '.join(sorted(FAULTS))}")
    return frozenset(faults)


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


def is_api_get_route(scope: Scope) -> bool:
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
            if message["type"] == "http.response.start" and is_api_get_route(scope):
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


# Fault ``undocumented_route``: a path the document promises and the service never serves.
PHANTOM_PATH = "/api/reports"
PHANTOM_OPERATION = {
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


class FirstRequestCutMiddleware:
    """Fault ``first_request_cut``: the first request to each path gets the start of an answer and
    then a closed connection, as during a rolling restart; every later request is answered.

    The answer promises more body than it sends and the app returns, so the server closes the
    connection and the client sees a truncated answer (a transport failure, which a retry fixes).
    """

    CUT_BODY = b'{"cut'

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: set[str] = set()  # one event loop per app: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.seen:
            await self.app(scope, receive, send)
            return
        self.seen.add(scope["path"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": self.CUT_BODY, "more_body": True})
