"""Webhook test helpers: the tenant's SNS topics as an operator sees them (ListTopics), an event shaped
like an outbox item, delivering and sweeping a tenant's events as the relay and worker do, and the
subscriber's signature check."""
from __future__ import annotations

from saas import aws
from saas.tenancy import tenant_context


def tenant_topic_names(tenant_id: str) -> set[str]:
    """Names of the SNS topics that exist for ``tenant_id`` (by our naming prefix)."""
    from django.conf import settings

    prefix = f"{settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-"
    names = set()
    for page in aws.client("sns").get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            name = topic["TopicArn"].rsplit(":", 1)[1]
            # The event-type part has no hyphen, so this cannot match a tenant whose id extends ours.
            if name.startswith(prefix) and "-" not in name[len(prefix):]:
                names.add(name)
    return names


def topic_name(tenant_id: str, event_type: str) -> str:
    from django.conf import settings

    return f"{settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-{event_type.replace('.', '_')}"


def make_event(tenant_id: str, event_type: str, data: dict | None = None) -> dict:
    """An event shaped like an outbox item, as the relay hands it to publish_event."""
    from saas.outbox import new_event_id
    from saas.tenancy.store import now_iso

    return {"id": new_event_id(), "type": event_type, "tenant_id": tenant_id, "data": data or {"n": 1},
            "status": "pending", "attempts": 0, "event_created_at": now_iso(), "created_at": now_iso()}


# --- endpoints ------------------------------------------------------------------------------------------
ENDPOINTS = "/api/v1/webhooks/endpoints"


def deliver_pending(tenant_id: str) -> None:
    """What the relay and the worker do, driven by the test: publish the tenant's pending outbox
    events (SNS -> the delivery queue), then read the queue until it is empty."""
    from saas import outbox
    from webhooks.worker import drain

    with tenant_context(tenant_id):
        outbox.relay_pending()
    drain()


def sweep(tenant_id: str) -> int:
    from webhooks.services import deliver_due

    with tenant_context(tenant_id):
        return deliver_due()


def verify(secret: str, headers: dict, body: bytes) -> dict:
    """The subscriber's side, with the independent Standard Webhooks library."""
    from standardwebhooks import Webhook

    return Webhook(secret).verify(body, {k: v for k, v in headers.items() if k.startswith("webhook-")})
