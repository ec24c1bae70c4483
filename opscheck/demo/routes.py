"""The demo service's routes: health and readiness, the pipeline summary, metrics, and the keyed
/api/ routes (items, ingest), each behaving as the app's active faults say.

No ``from __future__ import annotations``: FastAPI must evaluate the annotations of endpoints
defined inside these functions, which refer to locals.
"""

import copy
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST

from opscheck.demo.faults import DRIFTED_VERSION, PHANTOM_OPERATION, PHANTOM_PATH, read_body_discarding_excess
from opscheck.demo.middleware import HttpMetrics, read_body_within_limit
from opscheck.demo.models import (
    APP_TITLE,
    APP_VERSION,
    MAX_ITEM_ID,
    ApiError,
    ApiHealth,
    BatchTooLarge,
    ErrorBody,
    ErrorWithDetail,
    HealthError,
    HealthStatus,
    IngestAccepted,
    InventoryItem,
    Item,
    ItemList,
    PipelineKpis,
    PipelineSummary,
    Readiness,
    count_valid_items,
    decode_json_body,
    make_item,
    validate_ingest_batch,
)

API_KEY_HEADER = "X-API-Key"
VERSION_HEADER = "X-Service-Version"


def api_key_checker(keys: Sequence[str], enforce: bool = True) -> Callable[..., None]:
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


def document_ingest_item(app: FastAPI, faults: frozenset[str] = frozenset()) -> None:
    """Publish the Item schema the hand-written ingest request body refers to."""
    # FastAPI only collects models it parses itself, and /api/ingest parses by hand.
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # also caches itself in app.openapi_schema
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["Item"] = Item.model_json_schema(ref_template="#/components/schemas/{model}")
            if "undocumented_route" in faults:
                schema["paths"][PHANTOM_PATH] = copy.deepcopy(PHANTOM_OPERATION)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_health_routes(app: FastAPI, faults: frozenset[str]) -> None:
    """/, /health, /health/live, /health/ready and /api/health (faults unhealthy, not_ready, version_mismatch)."""
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


def add_pipeline_route(app: FastAPI, faults: frozenset[str]) -> None:
    """/api/pipeline/summary (faults stale_data, kpi_breach)."""
    # Data a nightly pipeline would publish: its freshness and KPIs are what the data checks read.
    age_h = 13 if "stale_data" in faults else 2
    par_90 = 5.4 if "kpi_breach" in faults else 2.4

    @app.get("/api/pipeline/summary", response_model=PipelineSummary)
    async def pipeline_summary() -> PipelineSummary:
        finished = datetime.now(timezone.utc) - timedelta(hours=age_h)
        return PipelineSummary(finished_at=finished.isoformat(timespec="seconds"), rows=125_000,
                               summary=PipelineKpis(par_30=4.1, par_90=par_90))


def add_metrics_route(app: FastAPI, metrics: HttpMetrics) -> None:
    """/metrics (Prometheus text) and /metrics.json, both from `metrics`."""
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


def add_api_routes(
    app: FastAPI, faults: frozenset[str], api_keys: Sequence[str], max_body_bytes: int, max_batch_items: int
) -> None:
    """The keyed routes GET /api/items, GET /api/items/{item_id} and POST /api/ingest.

    Faults: rotation_broken, auth_bypass, schema_drift, no_body_limit, chunked_bypass,
    no_batch_limit, crash_on_bad_input.
    """
    # rotation_broken: the deploy kept only the first (old) key of the rotation.
    keys = list(api_keys[:1]) if "rotation_broken" in faults else list(api_keys)
    auth = [Depends(api_key_checker(keys))]
    read_auth = [Depends(api_key_checker(keys, enforce="auth_bypass" not in faults))]
    drift = "schema_drift" in faults
    unauthorized: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}}
    invalid_request: dict[int | str, dict[str, Any]] = {422: {"model": ErrorWithDetail}}

    # Drifted answers bypass response_model, which would coerce "37" back to 37.
    @app.get(
        "/api/items", response_model=ItemList, dependencies=read_auth, responses={**unauthorized, **invalid_request}
    )
    async def list_items(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Any:
        items = [make_item(item_id) for item_id in range(1, limit + 1)]
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
        item = make_item(item_id)
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
                return IngestAccepted(accepted=count_valid_items(body) if excess_is_blank else 0)
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
