"""The demo service's data: the pydantic models that drive its OpenAPI document, its items, and
the ingest batch with its validation. `ApiError` is an error answered as a JSON body.

No ``from __future__ import annotations``: pydantic and FastAPI read these annotations at run time.
"""

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

APP_TITLE = "inventory-api demo"
APP_VERSION = "1.4.2"
MAX_ITEM_ID = 1000


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


INGEST_BATCH = TypeAdapter(list[Item])


class ApiError(Exception):
    """An error answered as a JSON body, e.g. ``{"error": "UNAUTHORIZED"}``."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status_code} {body.get('error')}")
        self.status_code = status_code
        self.body = body


def make_item(item_id: int) -> InventoryItem:
    """Item `item_id` (1..MAX_ITEM_ID), the same on every call."""
    # Deterministic stock levels so checks can compare two answers.
    return InventoryItem(id=item_id, name=f"item-{item_id}", quantity=(item_id * 37) % 101)


def invalid_body(detail: str) -> ApiError:
    """The 422 ``{"error": "INVALID_BODY", "detail": ...}`` for a body that is no valid batch."""
    return ApiError(422, {"error": "INVALID_BODY", "detail": detail})


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first invalid item field, e.g. "item 0/id: Input should be a valid integer"."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    where = "/".join(str(part) for part in first["loc"]) or "body"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"item {where}: {first['msg']}{more}"


def decode_json_body(body: bytes | bytearray) -> Any:
    """The body's JSON value; ApiError 422 INVALID_BODY when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise invalid_body(f"body is not valid JSON: {exc}") from None


def validate_ingest_batch(payload: Any, max_items: int | None) -> list[Item]:
    """Check a decoded body is a list of at most ``max_items`` (None: any number) {id, text} items."""
    if not isinstance(payload, list):
        raise invalid_body("body must be a JSON list of {id: int, text: str} items")
    if max_items is not None and len(payload) > max_items:
        raise ApiError(413, {"error": "BATCH_TOO_LARGE", "max_items": max_items})
    try:
        return INGEST_BATCH.validate_python(payload)
    except ValidationError as exc:
        raise invalid_body(describe_validation_error(exc)) from None


def parse_ingest_batch(body: bytes | bytearray, max_items: int) -> list[Item]:
    """Parse an ingest body: a JSON list of at most ``max_items`` {id, text} items."""
    return validate_ingest_batch(decode_json_body(body), max_items)


def count_valid_items(body: bytes | bytearray) -> int:
    """Items in ``body`` if it is a valid batch of any length, else 0 (oversized bodies under a fault)."""
    try:
        return len(validate_ingest_batch(decode_json_body(body), None))
    except ApiError:
        return 0
