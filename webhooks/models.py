"""Webhook items, all inside the tenant's partitions.

* ``WebhookTopic``        id = event type; the tenant's SNS topic for it (``topic_arn``) and its
                          lifecycle ``state`` (``active`` or ``deleting``).
* ``WebhookSubscription`` id = a hash of (event type, URL), so one URL is subscribed once per type;
                          fields ``event_type, url, status, subscription_arn, topic_arn, created_at``.
* ``WebhookCounts``       id = "subscriptions"; ``total`` and ``by_type`` counts. Every subscribe and
                          unsubscribe updates it under its version, which serializes them per tenant:
                          the per-tenant limit is exact and "last subscription of a type" is known.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from saas.records import Record
from saas.tenancy.store import TenantModel

# Topic lifecycle
TOPIC_ACTIVE, TOPIC_DELETING = "active", "deleting"

# Subscription status as shown in the API
PENDING_CONFIRMATION, ACTIVE, EXPIRED = "pending_confirmation", "active", "expired"
# The subscriber's host stopped passing the URL rules (e.g. it now resolves to a private address):
# unsubscribed at SNS, kept (with ``suspended_reason``) until its owner deletes it.
SUSPENDED = "suspended"

COUNTS_ID = "subscriptions"


class WebhookTopic(TenantModel):
    entity = "WEBHOOKTOPIC"


class WebhookSubscription(TenantModel):
    entity = "WEBHOOKSUB"
    export_as = "webhook_subscriptions"


class WebhookCounts(TenantModel):
    entity = "WEBHOOKCOUNT"


@dataclass(frozen=True, slots=True)
class WebhookCountsRecord(Record):
    """The counts item as typed fields; ``WebhookCountsRecord()`` is a tenant with no subscription
    yet (no item, ``version`` None: the first subscribe creates it)."""

    total: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    version: int | None = None

    def count_of(self, event_type: str) -> int:
        return self.by_type.get(event_type, 0)


def subscription_id_for(event_type: str, url: str) -> str:
    """Deterministic: a duplicate subscribe collides on create, and SNS (which itself keeps one
    subscription per topic + endpoint) always sees the same filter policy for it."""
    return hashlib.sha256(f"{event_type}\n{url}".encode()).hexdigest()[:32]
