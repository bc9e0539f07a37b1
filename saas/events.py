"""The one event catalogue (core). Publishers (services, the outbox) and subscribers (the webhooks API)
both import these names, so a type can never differ between the two sides."""
from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "product.created": "A product was added to the catalogue.",
    "product.updated": "A product's fields changed.",
    "product.deleted": "A product was removed from the catalogue.",
    "order.created": "An order was placed (status pending).",
    "order.confirmed": "An order was confirmed and its stock reserved.",
    "order.fulfilled": "An order was fulfilled.",
    "order.cancelled": "An order was cancelled and its stock released.",
}

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
PRODUCT_DELETED = "product.deleted"
ORDER_CREATED = "order.created"
ORDER_CONFIRMED = "order.confirmed"
ORDER_FULFILLED = "order.fulfilled"
ORDER_CANCELLED = "order.cancelled"

# Sent only by "POST /webhooks/subscriptions/{id}/test" to one subscription; not subscribable.
WEBHOOK_TEST = "webhook.test"


def is_event_type(name: str) -> bool:
    return name in EVENT_TYPES
