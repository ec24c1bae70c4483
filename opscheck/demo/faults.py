"""The reference service's faults: name -> what breaks. No web framework here, so the CLI and the
launcher can list and check faults without importing FastAPI (and anyio) before pytest starts."""

from __future__ import annotations

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
}
