"""Webhook writes: subscribe, unsubscribe, test deliveries, and publishing events.

Topology: one SNS topic per (tenant, event type), created by the first subscription to it and
deleted with the last. Subscriptions are HTTP/S subscriptions on that topic with a filter policy on
the ``tenant_id`` / ``event_type`` / ``audience`` message attributes (defence in depth: even a topic
mix-up cannot deliver another tenant's message).

Concurrency. Every subscribe/unsubscribe commits in one transaction with the tenant's
``WebhookCounts`` item under its version, so the per-tenant limit is exact and the unsubscribe that
removes the last subscription of a type knows it. That transaction also moves the topic record to
``deleting`` (unsubscribe) or checks it is still the ``active`` one it subscribed to (subscribe), so
a subscribe racing the deletion of its topic fails, cleans up and starts again on a new topic. The
deleter removes the SNS topic *before* the record, so an absent record always means no topic, and
two racing first subscribers converge on one record (conditional create) and one topic
(CreateTopic is idempotent by name).

Modules: ``topics`` (topic records, the lookup cache, the counts item), ``subscriptions``
(subscribe, unsubscribe, status refresh, test deliveries), ``publishing`` (outbox events to SNS).
Import from here.
"""
from __future__ import annotations

from .delivery import deliver_due, handle_messages, resend, run_recovery, start_recovery
from .endpoints import (
    create_endpoint,
    delete_endpoint,
    ensure_tenant_topic,
    reveal_secret,
    rotate_secret,
    update_endpoint,
)
from .publishing import EventTenantMismatch, message_json, publish_event, publish_events, publish_outcomes
from .subscriptions import (
    MAX_ATTEMPTS,
    refresh_pending_subscriptions,
    refresh_statuses,
    refresh_subscription,
    send_test_event,
    subscribe,
    unsubscribe,
)
from .topics import TopicCache, delete_tenant_topics, topic_cache

__all__ = ["EventTenantMismatch", "message_json", "publish_event", "publish_events", "publish_outcomes",
           "MAX_ATTEMPTS", "refresh_pending_subscriptions", "refresh_statuses", "refresh_subscription",
           "send_test_event", "subscribe", "unsubscribe", "TopicCache", "topic_cache", "delete_tenant_topics",
           "deliver_due", "handle_messages", "resend", "run_recovery", "start_recovery", "create_endpoint",
           "delete_endpoint", "ensure_tenant_topic", "reveal_secret", "rotate_secret", "update_endpoint"]
