"""JSON Schemas (draft 2020-12) of what an endpoint receives: the envelope, with ``data`` per event
type (the product or the order as the API shows it). Served at
``GET /api/v1/webhooks/schemas/{type}.json``; the tests validate real deliveries against them."""
from __future__ import annotations

from saas.events import EVENT_TYPES

DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "A decimal string."}
TIMESTAMP = {"type": "string", "description": "ISO 8601 in UTC, milliseconds, ending in Z."}

PRODUCT = {
    "type": "object",
    "required": ["id", "sku", "name", "price", "currency", "stock", "created_at", "updated_at", "version"],
    "properties": {
        "id": {"type": "string"}, "sku": {"type": "string"}, "name": {"type": "string"},
        "description": {"type": "string"}, "price": DECIMAL, "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "stock": {"type": "integer", "minimum": 0}, "category": {"type": ["string", "null"]},
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "version": {"type": "integer", "minimum": 1},
    },
}
ORDER = {
    "type": "object",
    "required": ["id", "user_id", "status", "currency", "total", "lines", "created_at", "updated_at", "version"],
    "properties": {
        "id": {"type": "string"}, "user_id": {"type": "string"},
        "status": {"enum": ["pending", "confirmed", "fulfilled", "cancelled"]},
        "currency": {"type": "string"}, "total": DECIMAL,
        "lines": {"type": "array", "items": {
            "type": "object", "required": ["product_id", "sku", "quantity", "unit_price", "line_total"],
            "properties": {"product_id": {"type": "string"}, "sku": {"type": "string"}, "name": {"type": "string"},
                           "quantity": {"type": "integer", "minimum": 1}, "unit_price": DECIMAL,
                           "line_total": DECIMAL}}},
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        "confirmed_at": {"type": ["string", "null"]}, "fulfilled_at": {"type": ["string", "null"]},
        "cancelled_at": {"type": ["string", "null"]}, "version": {"type": "integer", "minimum": 1},
    },
}


def envelope_schema(event_type: str) -> dict:
    """The schema of a delivery of ``event_type`` (KeyError for an unknown type)."""
    description = EVENT_TYPES[event_type]
    data = PRODUCT if event_type.startswith("product.") else ORDER
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"/api/v1/webhooks/schemas/{event_type}.json",
        "title": event_type,
        "description": f"{description} The body of the POST; the webhook-id header is its id.",
        "type": "object",
        "required": ["id", "type", "tenant_id", "created_at", "aggregate_id", "sequence", "data"],
        "properties": {
            "id": {"type": "string", "description": "Stable across retries and resends: de-duplicate on it."},
            "type": {"const": event_type},
            "tenant_id": {"type": "string"},
            "created_at": TIMESTAMP,
            "aggregate_id": {"type": ["string", "null"], "description": "The product or order the event is about."},
            "sequence": {"type": "integer", "minimum": 0,
                         "description": "Increases per aggregate: apply an event only if it is newer than the last one applied."},
            "data": data,
        },
    }
