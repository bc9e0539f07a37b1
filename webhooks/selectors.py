"""Webhook reads."""
from __future__ import annotations

import json

from boto3.dynamodb.conditions import Attr

from saas.events import EVENT_TYPES
from saas.outbox import envelope
from saas.tenancy.store import Page

from .models import (
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
    WebhookRecovery,
    WebhookSubscription,
    WebhookTopic,
)


def event_types() -> list[dict]:
    return [{"type": name, "description": description} for name, description in EVENT_TYPES.items()]


def subscription_page(*, cursor: str | None = None, limit: int = 20) -> Page:
    return WebhookSubscription.objects.query(cursor=cursor, limit=limit)


def subscription(*, subscription_id: str) -> dict:
    return WebhookSubscription.objects.get(subscription_id)


def topic(*, event_type: str) -> dict:
    """The current tenant's topic record for ``event_type`` (DoesNotExist when nobody subscribed)."""
    return WebhookTopic.objects.get(event_type, consistent=True)


_SAMPLE_PRODUCT = {"id": "3f9c2a7e5b1d4c8e9a0b1c2d3e4f5a6b", "sku": "DEMO-0001", "name": "House Blend Coffee 1 kg",
                   "description": "Demo product.", "price": "24.90", "currency": "USD", "stock": 120,
                   "category": "coffee", "created_at": "2026-01-05T09:30:00.000Z",
                   "updated_at": "2026-01-05T09:30:00.000Z", "version": 1}
_SAMPLE_ORDER = {"id": "0001767605400000a1b2c3d4e5f60718", "user_id": "5c1e2d3f-0000-4a6b-8c9d-0e1f2a3b4c5d",
                 "status": "pending", "currency": "USD", "total": "49.80",
                 "lines": [{"product_id": _SAMPLE_PRODUCT["id"], "sku": "DEMO-0001", "name": "House Blend Coffee 1 kg",
                            "quantity": 2, "unit_price": "24.90", "line_total": "49.80"}],
                 "created_at": "2026-01-05T09:31:00.000Z", "updated_at": "2026-01-05T09:31:00.000Z",
                 "confirmed_at": None, "fulfilled_at": None, "cancelled_at": None, "version": 1}
_ORDER_STATUS = {"order.created": "pending", "order.confirmed": "confirmed", "order.fulfilled": "fulfilled",
                 "order.cancelled": "cancelled"}


def sample_envelope(*, event_type: str, tenant_id: str) -> dict:
    """What a subscriber receives for ``event_type`` (the SNS message body), with example data."""
    if event_type.startswith("product."):
        data = dict(_SAMPLE_PRODUCT)
    else:
        data = {**_SAMPLE_ORDER, "status": _ORDER_STATUS.get(event_type, "pending")}
    # Built by the outbox's own envelope function, so the sample has exactly the delivered shape.
    return envelope({"id": "evt-6d1f0c2a9b8e4f7a", "type": event_type, "tenant_id": tenant_id,
                     "created_at": "2026-01-05T09:31:00.123Z", "sequence": 1, "data": data})


# --- endpoints and the delivery log -------------------------------------------------------------------
def endpoint_page(*, cursor: str | None = None, limit: int = 20) -> Page:
    return WebhookEndpoint.objects.query(cursor=cursor, limit=limit)


def endpoint(*, endpoint_id: str) -> dict:
    return WebhookEndpoint.objects.get(endpoint_id)


def disabled_endpoints() -> list[dict]:
    return [e for e in WebhookEndpoint.objects.every() if not e.get("enabled")]


def _message(item: dict) -> dict:
    return {**item, "payload": json.loads(item["body"])}


def message_page(*, cursor: str | None = None, limit: int = 20, event_type: str | None = None) -> Page:
    page = WebhookMessage.objects.query(cursor=cursor, limit=limit, ascending=False,
                                        filter=Attr("type").eq(event_type) if event_type else None)
    return Page(items=[_message(m) for m in page.items], next_cursor=page.next_cursor)


def message(*, message_id: str) -> dict:
    return _message(WebhookMessage.objects.get(message_id))


def _attempt_filter(status: str | None, event_type: str | None):
    condition = None
    if status in ("succeeded", "failed"):
        condition = Attr("succeeded").eq(status == "succeeded")
    if event_type:
        by_type = Attr("event_type").eq(event_type)
        condition = by_type if condition is None else condition & by_type
    return condition


def endpoint_attempts(*, endpoint_id: str, cursor: str | None = None, limit: int = 20, status: str | None = None,
                      event_type: str | None = None) -> Page:
    """An endpoint's attempts, newest first."""
    WebhookEndpoint.objects.get(endpoint_id)
    return WebhookAttempt.objects.query(index="endpoint", value=f"EP#{endpoint_id}", cursor=cursor, limit=limit,
                                        ascending=False, filter=_attempt_filter(status, event_type))


def message_attempts(*, message_id: str, cursor: str | None = None, limit: int = 20, status: str | None = None) -> Page:
    WebhookMessage.objects.get(message_id)
    return WebhookAttempt.objects.query(prefix=f"{message_id}.", cursor=cursor, limit=limit,
                                        filter=_attempt_filter(status, None))


def recovery(*, recovery_id: str) -> dict:
    return WebhookRecovery.objects.get(recovery_id)
