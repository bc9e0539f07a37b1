"""Subscribing, unsubscribing, status refresh and test deliveries."""
from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid

from boto3.dynamodb.conditions import Attr

import audit
from audit import Entry
from saas import limits
from saas.errors import Conflict, InvalidInput
from saas.events import EVENT_TYPES, WEBHOOK_TEST
from saas.tenancy import current_tenant_id
from saas.tenancy.store import (
    DoesNotExist,
    TransactionCancelled,
    UnitOfWork,
    VersionConflict,
    now_iso,
)

from .. import sns
from ..models import (
    ACTIVE,
    EXPIRED,
    PENDING_CONFIRMATION,
    SUSPENDED,
    TOPIC_ACTIVE,
    TOPIC_DELETING,
    WebhookSubscription,
    WebhookTopic,
    subscription_id_for,
)
from ..url_validation import InvalidSubscriberURL, validate_for_settings
from . import topics
from .publishing import message_json
from .topics import (
    active_topic,
    concurrent_change,
    counts_change_op,
    current_counts,
    finish_topic_deletion,
    retire_topic_if_unused,
    sns_unsubscribe,
)

logger = logging.getLogger("webhooks")

MAX_ATTEMPTS = 12  # optimistic retries when another change of the same tenant's webhooks wins


def _back_off(attempt: int) -> None:
    """Full-jitter exponential back-off (capped at 0.5 s): lets the winner of a race finish."""
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))


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


def subscribe(*, event_type: str, url: str) -> dict:  # noqa: C901 - one optimistic retry loop; its branches are the race outcomes
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
            counts = current_counts()
            allowed = limits.limit_for("webhook_subscriptions")  # PLAN_LIMITS by the tenant's tier
            if allowed is not None and counts.total >= allowed:
                raise limits.exceeded("webhook_subscriptions")
            topic = active_topic(event_type)
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
                event_type, Attr("version").eq(topic["version"]) & Attr("state").eq(TOPIC_ACTIVE))
            tx = UnitOfWork()
            tx.put("subscription", create)
            tx.add("counts", counts_change_op(counts, event_type, +1))  # a Put for the first subscription
            tx.condition("topic", topic_still_active)
            tx.join(audit.records(Entry(action="webhook.subscribed", target_type="webhook_subscription",
                                        target_id=subscription_id,
                                        changes={"event_type": [None, event_type], "url": [None, url]})))
            try:
                tx.commit()
            except TransactionCancelled as exc:
                if exc.failed("subscription"):
                    # A twin request won. SNS keeps one subscription per endpoint and topic, so the
                    # ARN we got is the winner's: leave it alone.
                    raise _already_subscribed() from exc
                if exc.failed("topic"):
                    sns.unsubscribe(subscription_arn)  # our topic is being deleted: start over
                    subscribed_to = None
                continue
            topics.topic_cache.invalidate(tenant_id, event_type)
            return item
        raise concurrent_change()
    except Exception:
        with contextlib.suppress(Exception):
            retire_topic_if_unused(event_type)
        raise


def unsubscribe(*, subscription_id: str) -> None:
    """Remove a subscription; the last one of its type takes the topic (and its record) with it."""
    subscription = WebhookSubscription.objects.get(subscription_id, consistent=True)
    event_type = subscription["event_type"]
    # SNS first: once the API says it is gone, the URL must receive nothing more.
    if subscription["status"] != SUSPENDED:  # a suspended one was unsubscribed when it was suspended
        sns_unsubscribe(subscription)
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            _back_off(attempt)
        counts = current_counts()
        tx = UnitOfWork()
        tx.delete("subscription", WebhookSubscription.objects.delete_op(subscription_id,
                                                                        expected_version=subscription["version"]))
        tx.add("counts", counts_change_op(counts, event_type, -1))
        retiring = None
        if counts.count_of(event_type) <= 1:
            with contextlib.suppress(DoesNotExist):
                topic = WebhookTopic.objects.get(event_type, consistent=True)
                if topic["state"] == TOPIC_ACTIVE:
                    retire, retiring = WebhookTopic.objects.update_op(
                        event_type, expected_version=topic["version"], current=topic, state=TOPIC_DELETING)
                    tx.update("topic", retire)
        tx.join(audit.records(Entry(action="webhook.unsubscribed", target_type="webhook_subscription",
                                    target_id=subscription_id,
                                    changes={"event_type": [event_type, None], "url": [subscription["url"], None]})))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if exc.failed("subscription"):  # changed or deleted meanwhile (gone: 404)
                subscription = WebhookSubscription.objects.get(subscription_id, consistent=True)
            continue
        topics.topic_cache.invalidate(current_tenant_id(), event_type)
        if retiring is not None:
            try:
                finish_topic_deletion(retiring)
            except sns.SNSUnavailable:
                # The subscription is gone either way; the "deleting" record keeps publishers off the
                # topic, and the next subscriber finishes the deletion once it is stale.
                logger.warning("topic deletion for %s deferred: SNS unavailable", event_type, exc_info=True)
        return
    raise concurrent_change()


def refresh_statuses(*, subscriptions: list[dict]) -> list[dict]:
    """Ask SNS about subscriptions still pending confirmation and record any change."""
    return [_refresh(s) if s["status"] == PENDING_CONFIRMATION else s for s in subscriptions]


def refresh_subscription(*, subscription_id: str) -> dict:
    """The explicit refresh (POST .../refresh): the subscription with its status as SNS knows it."""
    subscription, = refresh_statuses(subscriptions=[WebhookSubscription.objects.get(subscription_id, consistent=True)])
    return subscription


def refresh_pending_subscriptions() -> int:
    """The sweep's hook (every active tenant, in its context): record the subscriptions SNS has
    confirmed (or dropped) since. Returns how many changed."""
    changed, cursor = 0, None
    while True:
        page = WebhookSubscription.objects.query(cursor=cursor, limit=100)
        pending = [s for s in page.items if s["status"] == PENDING_CONFIRMATION]
        changed += sum(1 for before, after in zip(pending, refresh_statuses(subscriptions=pending), strict=True)
                       if after["status"] != before["status"])
        cursor = page.next_cursor
        if not cursor:
            return changed


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
        return WebhookSubscription.objects.update(subscription["id"], expected_version=subscription["version"],
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
    from .revalidation import check_subscription  # the host is checked again before anything is sent

    subscription = check_subscription(subscription)
    if subscription["status"] == SUSPENDED:
        raise Conflict(f"The subscription is suspended: {subscription.get('suspended_reason', '')} Delete it and "
                       f"subscribe a public URL.", "subscription_suspended")
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
    audit.record(Entry(action="webhook.test_sent", target_type="webhook_subscription", target_id=subscription_id,
                       detail={"message_id": message["id"]}))
    return message
