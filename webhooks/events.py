"""The event catalogue lives in the core (``saas.events``); re-exported for the webhooks app."""
from saas.events import (
    EVENT_TYPES,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    ORDER_FULFILLED,
    PRODUCT_CREATED,
    PRODUCT_DELETED,
    PRODUCT_UPDATED,
    WEBHOOK_TEST,
    is_event_type,
)

__all__ = ["EVENT_TYPES", "ORDER_CANCELLED", "ORDER_CONFIRMED", "ORDER_CREATED", "ORDER_FULFILLED", "PRODUCT_CREATED",
           "PRODUCT_DELETED", "PRODUCT_UPDATED", "WEBHOOK_TEST", "is_event_type"]
