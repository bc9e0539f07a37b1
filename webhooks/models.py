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
from saas.tenancy.store import Index, TenantModel

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


# --- endpoints and delivery (one SNS topic per tenant, SQS delivery queue, our own HTTP delivery) ----
ALL_EVENTS = "*"  # an endpoint's ``event_types`` holding this receives every type
# Delivery states of one (message, endpoint) pair
DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED = "pending", "delivered", "failed"


class WebhookEndpoint(TenantModel):
    """``url, description, event_types`` (list, or ``["*"]``), ``enabled``, ``disabled_reason``,
    ``failing_since`` (epoch seconds of the first failure since the last success, or absent)."""

    entity = "WEBHOOKEP"
    export_as = "webhook_endpoints"


class WebhookSecret(TenantModel):
    """id = endpoint id. ``secrets``: [{"secret": "whsec_...", "expires_at": epoch | None}], the
    current one first; kept apart from the endpoint so no read, listing or export of endpoints can
    carry a secret (not exported)."""

    entity = "WEBHOOKSECRET"


class WebhookMessage(TenantModel):
    """id = envelope id. ``type``, ``body`` (the envelope JSON as sent), ``expires_at`` (TTL)."""

    entity = "WEBHOOKMSG"


class WebhookDelivery(TenantModel):
    """id = ``<message id>.<endpoint id>``: one unit of delivery. ``status`` pending / delivered /
    failed, ``attempts`` (all, ever), ``step`` (attempts of the current schedule; a resend or a
    recovery starts a new one), ``next_attempt_at`` (epoch; also the lease of a running attempt),
    ``received_at_ms`` (epoch milliseconds the message arrived),
    ``last_status_code``, ``expires_at`` (TTL)."""

    entity = "WEBHOOKDLV"
    indexes = {
        # due retries, oldest first; sparse: only pending deliveries are in it
        "due": Index(gsi="GSI2", key=lambda d: ("DUE", f"{int(d['next_attempt_at']):012d}.{d['id']}")
                     if d.get("status") == DELIVERY_PENDING else None),
        # an endpoint's deliveries by the time their message arrived (recover-since walks it)
        "endpoint": Index(gsi="GSI1", key=lambda d: (f"EP#{d['endpoint_id']}",
                                                     f"{int(d['received_at_ms']):015d}.{d['id']}")),
    }


class WebhookAttempt(TenantModel):
    """id = ``<delivery id>.<nn>``. ``at_ms`` (epoch milliseconds), ``status_code``, ``latency_ms``, ``response``
    (first 1 KiB), ``error`` (error class or absent), ``expires_at`` (TTL)."""

    entity = "WEBHOOKATT"
    indexes = {"endpoint": Index(gsi="GSI1", key=lambda a: (f"EP#{a['endpoint_id']}", f"{int(a['at_ms']):015d}.{a['id']}"))}


class WebhookRecovery(TenantModel):
    """A recover-since job: ``endpoint_id``, ``since``, ``status`` running / done, ``requeued``."""

    entity = "WEBHOOKRECOVER"
