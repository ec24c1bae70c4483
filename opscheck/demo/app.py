"""The "inventory-api demo": a small FastAPI service with switchable faults.

Every piece of state (API keys, metrics registry, limits) lives inside the app
built by :func:`create_app`, so several differently configured apps can share
one process. This module wires the pieces together:

* ``models``: the data and its validation (pydantic models, items, the ingest batch);
* ``middleware``: request id, security headers, metrics, body limit, error handlers;
* ``faults``: the fault list and the behaviour of the faults that need more than a flag;
* ``routes``: the endpoints.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from opscheck.demo.faults import FAULTS, ErrorsMiddleware, JitterMiddleware, SlowMiddleware, validate_faults
from opscheck.demo.faults import FirstRequestCutMiddleware
from opscheck.demo.middleware import (
    HttpMetrics,
    MetricsMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    api_error_handler,
    http_error_handler,
    request_validation_handler,
)
from opscheck.demo.models import APP_TITLE, APP_VERSION, ApiError
from opscheck.demo.switch import FaultSwitch, SwitchedSlowMiddleware, add_switch_routes
from opscheck.demo.routes import (
    add_api_routes,
    add_health_routes,
    add_metrics_route,
    add_pipeline_route,
    document_ingest_item,
)

__all__ = ["FAULTS", "create_app", "resolve_api_keys"]

DEFAULT_API_KEY = "demo-key"


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


def create_app(
    faults: Collection[str] = frozenset(),
    api_keys: Sequence[str] | None = None,
    slow_ms: int = 1200,
    max_body_bytes: int = 1048576,
    max_batch_items: int = 500,
    jitter_ms: int = 800,
    data_dir: str | None = None,
    database_url: str | None = None,
) -> FastAPI:
    """Build one independent instance of the demo service with the given faults.

    `data_dir` and `database_url` (the restore drill's data, opscheck.demo.data) are optional."""
    active_faults = validate_faults(faults)
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
    if "first_request_cut" in active_faults:  # outermost: the cut answer carries nothing else
        middleware.insert(0, Middleware(FirstRequestCutMiddleware))

    # Faults switched on while the service runs (demo/switch.py); inside the metrics, like `slow`.
    switch = FaultSwitch(active_faults)
    middleware.append(Middleware(SwitchedSlowMiddleware, switch=switch, delay_s=slow_ms / 1000))

    app = FastAPI(title=APP_TITLE, version=APP_VERSION, middleware=middleware)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.state.faults = active_faults
    app.state.metrics = metrics

    app.state.fault_switch = switch
    if data_dir or database_url:  # registered first, so they answer before the built-in routes
        from opscheck.demo.data import DataStore, add_data_routes

        add_data_routes(app, switch, keys, DataStore(data_dir, database_url))  # type: ignore[arg-type]
    add_health_routes(app, switch)  # type: ignore[arg-type]  # reads `name in faults` per request
    add_switch_routes(app, switch)

    add_pipeline_route(app, active_faults)
    add_metrics_route(app, metrics)
    add_api_routes(app, active_faults, keys, max_body_bytes, max_batch_items)
    document_ingest_item(app, active_faults)
    return app
