"""Webhook reads."""
from __future__ import annotations

from saas.outbox import envelope
from saas.tenancy.store import Page

from .events import EVENT_TYPES
from .models import WebhookSubscription, WebhookTopic


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
