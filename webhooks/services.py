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
"""
from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError
from django.conf import settings

from saas.errors import Conflict, InvalidInput
from saas.outbox import envelope
from saas.tenancy import current_tenant_id
from saas.tenancy.store import (
    AlreadyExists,
    DoesNotExist,
    TransactionCancelled,
    VersionConflict,
    now_iso,
    transact_write,
)

from . import sns
from .events import EVENT_TYPES, WEBHOOK_TEST
from .models import (
    ACTIVE,
    COUNTS_ID,
    EXPIRED,
    PENDING_CONFIRMATION,
    TOPIC_ACTIVE,
    TOPIC_DELETING,
    WebhookCounts,
    WebhookSubscription,
    WebhookTopic,
    subscription_id_for,
)
from .url_validation import InvalidSubscriberURL, validate_for_settings

logger = logging.getLogger("webhooks")

MAX_ATTEMPTS = 12  # optimistic retries when another change of the same tenant's webhooks wins


def _back_off(attempt: int) -> None:
    """Full-jitter exponential back-off (capped at 0.5 s): lets the winner of a race finish."""
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))
TOPIC_WAIT_SECONDS = 5.0  # how long a subscribe waits for a topic that is being deleted
CONDITION_FAILED = "ConditionalCheckFailed"

# Metric: publish outcomes in this process ("published" / "skipped"), keyed by (outcome, event type).
publish_outcomes: Counter[tuple[str, str]] = Counter()


class EventTenantMismatch(RuntimeError):
    """An event was handed to publish_event under another tenant's context."""


# --- topic lookup cache ----------------------------------------------------------------------
class TopicCache:
    """(tenant, event type) -> active topic ARN or None, kept ``ttl`` seconds.

    The process that subscribes or unsubscribes invalidates its entry at once; other processes see
    the change within the TTL. A stale ARN heals itself (publishing to a deleted topic is NotFound,
    which forces a fresh lookup); a stale "no topic" can skip events for at most the TTL, so the
    TTL is short (``WEBHOOKS_TOPIC_CACHE_SECONDS``).
    """

    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str, event_type: str, load: Callable[[], str | None]) -> str | None:
        key = (tenant_id, event_type)
        hit = self._entries.get(key)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        value = load()
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (value, self._clock() + settings.WEBHOOKS_TOPIC_CACHE_SECONDS)
        return value

    def invalidate(self, tenant_id: str, event_type: str) -> None:
        with self._lock:
            self._entries.pop((tenant_id, event_type), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


topic_cache = TopicCache()


def _lookup_topic_arn(event_type: str) -> str | None:
    try:
        topic = WebhookTopic.objects.get(event_type)
    except DoesNotExist:
        return None
    return topic["topic_arn"] if topic["state"] == TOPIC_ACTIVE else None


def _json_default(value):
    if isinstance(value, Decimal):  # numbers read back from DynamoDB
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def message_json(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"), default=_json_default)


# --- publishing --------------------------------------------------------------------------------
def publish_event(*, event: dict) -> str:
    """Publish one outbox event to its tenant's topic for its type: "published" or "skipped" (no
    subscriber). Runs inside the event's tenant context. Raises when SNS fails, so the caller keeps
    the event pending and retries; the envelope ``id`` is the event id, stable across retries."""
    tenant_id = current_tenant_id()  # NoTenantContext when none is set: fail closed
    if event.get("tenant_id") != tenant_id:
        raise EventTenantMismatch(f"event {event.get('id')!r} belongs to another tenant than the context")
    event_type = event["type"]
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    message = message_json(envelope(event))
    attributes = {sns.ATTR_TENANT: tenant_id, sns.ATTR_EVENT_TYPE: event_type, sns.ATTR_AUDIENCE: sns.AUDIENCE_ALL}
    for attempt in range(2):
        topic_arn = topic_cache.get(tenant_id, event_type, lambda: _lookup_topic_arn(event_type))
        if topic_arn is None:
            publish_outcomes["skipped", event_type] += 1
            logger.debug("webhooks.publish outcome=skipped tenant=%s type=%s event=%s", tenant_id, event_type, event["id"])
            return "skipped"
        try:
            sns.publish(topic_arn=topic_arn, message=message, attributes=attributes)
        except sns.NotFound:
            # The topic went away since we cached it (last subscriber left): look again.
            topic_cache.invalidate(tenant_id, event_type)
            if attempt:
                raise
            continue
        publish_outcomes["published", event_type] += 1
        return "published"
    raise AssertionError("unreachable")


# --- subscribing -------------------------------------------------------------------------------
def _validate(*, event_type: str, url: str) -> None:
    errors: dict[str, list[str]] = {}
    if event_type not in EVENT_TYPES:
        errors["event_type"] = [f"Unknown event type; expected one of: {', '.join(EVENT_TYPES)}."]
    try:
        validate_for_settings(url)
    except InvalidSubscriberURL as exc:
        errors["url"] = [exc.message]
    if errors:
        raise InvalidInput(fields=errors)


def _already_subscribed() -> Conflict:
    return Conflict("This URL is already subscribed to this event type.", "already_subscribed")


def _concurrent_change() -> Conflict:
    return Conflict("Webhook subscriptions changed concurrently; try again.", "concurrent_change")


def _counts() -> dict:
    try:
        return WebhookCounts.objects.get(COUNTS_ID, consistent=True)
    except DoesNotExist:
        return {"id": COUNTS_ID, "total": 0, "by_type": {}, "version": None}


def _count_of(counts: dict, event_type: str) -> int:
    return int(counts["by_type"].get(event_type, 0))


def _counts_change_op(counts: dict, event_type: str, delta: int) -> dict:
    by_type = {name: int(n) for name, n in counts["by_type"].items()}
    by_type[event_type] = max(0, by_type.get(event_type, 0) + delta)
    if not by_type[event_type]:
        del by_type[event_type]
    total = max(0, int(counts["total"]) + delta)
    if counts["version"] is None:
        return WebhookCounts.objects.create_op(id=COUNTS_ID, total=total, by_type=by_type)[0]
    return WebhookCounts.objects.update_op(COUNTS_ID, expected_version=int(counts["version"]),
                                           total=total, by_type=by_type)[0]


def _counts_unchanged_op(counts: dict) -> dict:
    if counts["version"] is None:
        return WebhookCounts.objects.create_op(id=COUNTS_ID, total=0, by_type={})[0]
    return WebhookCounts.objects.condition_op(COUNTS_ID, Attr("version").eq(int(counts["version"])))


def _is_stale(topic: dict) -> bool:
    changed = datetime.fromisoformat(topic["updated_at"])
    age = (datetime.now(timezone.utc) - changed).total_seconds()
    return age > settings.WEBHOOKS_TOPIC_DELETE_STALE_SECONDS


def _active_topic(event_type: str) -> dict:
    """The tenant's active topic record for ``event_type``; creates topic and record on first use."""
    deadline = time.monotonic() + TOPIC_WAIT_SECONDS
    while True:
        try:
            topic = WebhookTopic.objects.get(event_type, consistent=True)
        except DoesNotExist:
            topic_arn = sns.create_topic(sns.topic_name(current_tenant_id(), event_type))
            try:
                return WebhookTopic.objects.create(id=event_type, topic_arn=topic_arn, state=TOPIC_ACTIVE)
            except AlreadyExists:  # a racing first subscriber recorded it: use that record
                continue
        if topic["state"] == TOPIC_ACTIVE:
            return topic
        if _is_stale(topic):  # its deleter died half-way: finish the deletion for it
            _finish_topic_deletion(topic)
            continue
        if time.monotonic() > deadline:
            raise _concurrent_change()
        time.sleep(0.05)


def _finish_topic_deletion(topic: dict) -> None:
    """SNS topic first (with all its subscriptions), then the record: no record means no topic."""
    sns.delete_topic(topic["topic_arn"])
    with contextlib.suppress(DoesNotExist, VersionConflict):
        WebhookTopic.objects.delete(topic["id"], expected_version=int(topic["version"]))


def _retire_topic_if_unused(event_type: str) -> None:
    """Delete a topic that has no subscription (left behind by a subscribe that failed)."""
    counts = _counts()
    if _count_of(counts, event_type):
        return
    try:
        topic = WebhookTopic.objects.get(event_type, consistent=True)
    except DoesNotExist:
        return
    if topic["state"] != TOPIC_ACTIVE:
        return
    retire, retiring = WebhookTopic.objects.update_op(event_type, expected_version=int(topic["version"]),
                                                      current=topic, state=TOPIC_DELETING)
    try:
        transact_write([retire, _counts_unchanged_op(counts)])
    except TransactionCancelled:
        return  # someone subscribed meanwhile: the topic is in use
    topic_cache.invalidate(current_tenant_id(), event_type)
    _finish_topic_deletion(retiring)


def subscribe(*, event_type: str, url: str) -> dict:
    """Subscribe ``url`` to the current tenant's ``event_type`` events."""
    _validate(event_type=event_type, url=url)
    tenant_id = current_tenant_id()
    subscription_id = subscription_id_for(event_type, url)
    try:
        WebhookSubscription.objects.get(subscription_id, consistent=True)
    except DoesNotExist:
        pass
    else:
        raise _already_subscribed()
    policy = sns.filter_policy(tenant_id=tenant_id, event_type=event_type, audience=subscription_id)
    subscribed_to: tuple | None = None  # ((topic ARN, record version), subscription ARN, status) made so far
    try:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                _back_off(attempt)
            counts = _counts()
            if int(counts["total"]) >= settings.WEBHOOKS_MAX_SUBSCRIPTIONS_PER_TENANT:
                raise Conflict(f"A tenant can have at most {settings.WEBHOOKS_MAX_SUBSCRIPTIONS_PER_TENANT} "
                               "webhook subscriptions.", "subscription_limit")
            topic = _active_topic(event_type)
            if subscribed_to is None or subscribed_to[0] != (topic["topic_arn"], topic["version"]):
                try:
                    subscription_arn = sns.subscribe(topic_arn=topic["topic_arn"], url=url, policy=policy)
                    status = PENDING_CONFIRMATION if sns.is_pending_confirmation(subscription_arn) else ACTIVE
                except sns.NotFound:
                    continue  # the topic was deleted under us (its last subscriber left): start over
                subscribed_to = ((topic["topic_arn"], topic["version"]), subscription_arn, status)
            _, subscription_arn, status = subscribed_to
            create, item = WebhookSubscription.objects.create_op(
                id=subscription_id, event_type=event_type, url=url, status=status,
                subscription_arn=subscription_arn, topic_arn=topic["topic_arn"])
            topic_still_active = WebhookTopic.objects.condition_op(
                event_type, Attr("version").eq(int(topic["version"])) & Attr("state").eq(TOPIC_ACTIVE))
            try:
                transact_write([create, _counts_change_op(counts, event_type, +1), topic_still_active])
            except TransactionCancelled as exc:
                if exc.reasons[0] == CONDITION_FAILED:
                    # A twin request won. SNS keeps one subscription per endpoint and topic, so the
                    # ARN we got is the winner's: leave it alone.
                    raise _already_subscribed() from exc
                if exc.reasons[2] == CONDITION_FAILED:
                    sns.unsubscribe(subscription_arn)  # our topic is being deleted: start over
                    subscribed_to = None
                continue
            topic_cache.invalidate(tenant_id, event_type)
            return item
        raise _concurrent_change()
    except Exception:
        with contextlib.suppress(Exception):
            _retire_topic_if_unused(event_type)
        raise


def _sns_unsubscribe(subscription: dict) -> None:
    try:
        sns.unsubscribe(subscription["subscription_arn"])
    except ClientError as exc:
        # Real SNS may refuse to unsubscribe a subscription that was never confirmed; it cannot
        # deliver, and it goes with the topic or expires after three days.
        if subscription["status"] == ACTIVE or exc.response["Error"]["Code"] != "InvalidParameter":
            raise
        logger.warning("could not unsubscribe unconfirmed subscription %s", subscription["id"])


def unsubscribe(*, subscription_id: str) -> None:
    """Remove a subscription; the last one of its type takes the topic (and its record) with it."""
    subscription = WebhookSubscription.objects.get(subscription_id, consistent=True)
    event_type = subscription["event_type"]
    # SNS first: once the API says it is gone, the URL must receive nothing more.
    _sns_unsubscribe(subscription)
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            _back_off(attempt)
        counts = _counts()
        ops = [WebhookSubscription.objects.delete_op(subscription_id, expected_version=int(subscription["version"])),
               _counts_change_op(counts, event_type, -1)]
        retiring = None
        if _count_of(counts, event_type) <= 1:
            with contextlib.suppress(DoesNotExist):
                topic = WebhookTopic.objects.get(event_type, consistent=True)
                if topic["state"] == TOPIC_ACTIVE:
                    retire, retiring = WebhookTopic.objects.update_op(
                        event_type, expected_version=int(topic["version"]), current=topic, state=TOPIC_DELETING)
                    ops.append(retire)
        try:
            transact_write(ops)
        except TransactionCancelled as exc:
            if exc.reasons[0] == CONDITION_FAILED:  # changed or deleted meanwhile (gone: 404)
                subscription = WebhookSubscription.objects.get(subscription_id, consistent=True)
            continue
        topic_cache.invalidate(current_tenant_id(), event_type)
        if retiring is not None:
            try:
                _finish_topic_deletion(retiring)
            except sns.SNSUnavailable:
                # The subscription is gone either way; the "deleting" record keeps publishers off the
                # topic, and the next subscriber finishes the deletion once it is stale.
                logger.warning("topic deletion for %s deferred: SNS unavailable", event_type, exc_info=True)
        return
    raise _concurrent_change()


def refresh_statuses(*, subscriptions: list[dict]) -> list[dict]:
    """Ask SNS about subscriptions still pending confirmation and record any change."""
    return [_refresh(s) if s["status"] == PENDING_CONFIRMATION else s for s in subscriptions]


def _refresh(subscription: dict) -> dict:
    try:
        status = PENDING_CONFIRMATION if sns.is_pending_confirmation(subscription["subscription_arn"]) else ACTIVE
    except sns.NotFound:
        status = EXPIRED  # never confirmed; SNS dropped it
    except sns.SNSUnavailable:
        return subscription  # a read shows the last known status rather than failing
    if status == subscription["status"]:
        return subscription
    try:
        return WebhookSubscription.objects.update(subscription["id"], expected_version=int(subscription["version"]),
                                                  status=status)
    except (VersionConflict, DoesNotExist):
        return {**subscription, "status": status}


def send_test_event(*, subscription_id: str) -> dict:
    """Publish a ``webhook.test`` envelope that reaches this one subscription only.

    It goes to the subscription's topic with ``audience`` = the subscription id; every filter
    policy on the topic accepts ``audience`` "all" or its own id, so no other subscriber matches.
    (Publishing straight to the endpoint is not possible with SNS, and a separate per-subscription
    test topic would need its own subscription and confirmation.)
    """
    subscription, = refresh_statuses(subscriptions=[WebhookSubscription.objects.get(subscription_id)])
    if subscription["status"] != ACTIVE:
        raise Conflict("The subscription is not confirmed; confirm it from the subscriber first.", "not_confirmed")
    tenant_id = current_tenant_id()
    message = {"id": f"test-{uuid.uuid4().hex}", "type": WEBHOOK_TEST, "tenant_id": tenant_id,
               "created_at": now_iso(),
               "data": {"subscription_id": subscription_id, "event_type": subscription["event_type"]}}
    try:
        sns.publish(topic_arn=subscription["topic_arn"], message=message_json(message),
                    attributes={sns.ATTR_TENANT: tenant_id, sns.ATTR_EVENT_TYPE: WEBHOOK_TEST,
                                sns.ATTR_AUDIENCE: subscription_id})
    except sns.NotFound as exc:
        raise Conflict("The subscription's topic no longer exists.", "topic_missing") from exc
    return message
