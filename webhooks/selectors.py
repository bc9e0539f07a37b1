"""Webhook reads."""
from __future__ import annotations

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
