"""The per-tenant topology: topic records, the topic lookup cache, and the subscription counts item."""
from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timezone
from typing import Callable

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError
from django.conf import settings

from saas.cache import TTLCache
from saas.errors import Conflict
from saas.tenancy import current_tenant_id, tenant_context
from saas.tenancy.store import (
    AlreadyExists,
    DoesNotExist,
    TransactionCancelled,
    VersionConflict,
    transact_write,
)

from .. import sns
from ..models import (
    ACTIVE,
    COUNTS_ID,
    TOPIC_ACTIVE,
    TOPIC_DELETING,
    WebhookCounts,
    WebhookCountsRecord,
    WebhookSubscription,
    WebhookTopic,
)

logger = logging.getLogger("webhooks")

TOPIC_WAIT_SECONDS = 5.0  # how long a subscribe waits for a topic that is being deleted
CONDITION_FAILED = "ConditionalCheckFailed"


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
        self._cache: TTLCache[str | None] = TTLCache(maxsize=self.MAX_ENTRIES, clock=clock,
                                                     ttl=lambda _: settings.WEBHOOKS_TOPIC_CACHE_SECONDS)

    def get(self, tenant_id: str, event_type: str, load: Callable[[], str | None]) -> str | None:
        return self._cache.get_or_load((tenant_id, event_type), load)

    def invalidate(self, tenant_id: str, event_type: str) -> None:
        self._cache.pop((tenant_id, event_type))

    def clear(self) -> None:
        self._cache.clear()


topic_cache = TopicCache()


def lookup_topic_arn(event_type: str) -> str | None:
    try:
        topic = WebhookTopic.objects.get(event_type)
    except DoesNotExist:
        return None
    return topic["topic_arn"] if topic["state"] == TOPIC_ACTIVE else None


def concurrent_change() -> Conflict:
    return Conflict("Webhook subscriptions changed concurrently; try again.", "concurrent_change")


def current_counts() -> WebhookCountsRecord:
    try:
        return WebhookCountsRecord.from_item(WebhookCounts.objects.get(COUNTS_ID, consistent=True))
    except DoesNotExist:
        return WebhookCountsRecord()


def counts_change_op(counts: WebhookCountsRecord, event_type: str, delta: int) -> dict:
    by_type = dict(counts.by_type)
    by_type[event_type] = max(0, counts.count_of(event_type) + delta)
    if not by_type[event_type]:
        del by_type[event_type]
    total = max(0, counts.total + delta)
    if counts.version is None:
        return WebhookCounts.objects.create_op(id=COUNTS_ID, total=total, by_type=by_type)[0]
    return WebhookCounts.objects.update_op(COUNTS_ID, expected_version=counts.version,
                                           total=total, by_type=by_type)[0]


def counts_unchanged_op(counts: WebhookCountsRecord) -> dict:
    if counts.version is None:
        return WebhookCounts.objects.create_op(id=COUNTS_ID, total=0, by_type={})[0]
    return WebhookCounts.objects.condition_op(COUNTS_ID, Attr("version").eq(counts.version))


def is_stale(topic: dict) -> bool:
    changed = datetime.fromisoformat(topic["updated_at"])
    age = (datetime.now(timezone.utc) - changed).total_seconds()
    return age > settings.WEBHOOKS_TOPIC_DELETE_STALE_SECONDS


def active_topic(event_type: str) -> dict:
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
        if is_stale(topic):  # its deleter died half-way: finish the deletion for it
            finish_topic_deletion(topic)
            continue
        if time.monotonic() > deadline:
            raise concurrent_change()
        time.sleep(0.05)


def finish_topic_deletion(topic: dict) -> None:
    """SNS topic first (with all its subscriptions), then the record: no record means no topic."""
    sns.delete_topic(topic["topic_arn"])
    with contextlib.suppress(DoesNotExist, VersionConflict):
        WebhookTopic.objects.delete(topic["id"], expected_version=topic["version"])


def retire_topic_if_unused(event_type: str) -> None:
    """Delete a topic that has no subscription (left behind by a subscribe that failed)."""
    counts = current_counts()
    if counts.count_of(event_type):
        return
    try:
        topic = WebhookTopic.objects.get(event_type, consistent=True)
    except DoesNotExist:
        return
    if topic["state"] != TOPIC_ACTIVE:
        return
    retire, retiring = WebhookTopic.objects.update_op(event_type, expected_version=topic["version"],
                                                      current=topic, state=TOPIC_DELETING)
    try:
        transact_write([retire, counts_unchanged_op(counts)])
    except TransactionCancelled:
        return  # someone subscribed meanwhile: the topic is in use
    topic_cache.invalidate(current_tenant_id(), event_type)
    finish_topic_deletion(retiring)


def delete_tenant_topics(tenant_id: str) -> tuple[int, int]:
    """Offboarding: unsubscribe every subscription and delete every topic of the tenant, those the
    store lists and any topic named for the tenant that the store lost track of. Returns the numbers
    of topics and subscriptions removed from SNS (the records go with the tenant's partition)."""
    arns: set[str] = set()
    subscriptions = 0
    with tenant_context(tenant_id):
        for item in WebhookSubscription.objects.every():
            if item.get("subscription_arn") and ":" in item["subscription_arn"]:
                sns.unsubscribe(item["subscription_arn"])
                subscriptions += 1
        arns.update(item["topic_arn"] for item in WebhookTopic.objects.every() if item.get("topic_arn"))
    arns.update(sns.tenant_topic_arns(tenant_id))
    for arn in sorted(arns):
        sns.delete_topic(arn)
    topic_cache.clear()
    return len(arns), subscriptions


def sns_unsubscribe(subscription: dict) -> None:
    """Remove the SNS subscription (subscribe, unsubscribe and re-validation share it)."""
    try:
        sns.unsubscribe(subscription["subscription_arn"])
    except ClientError as exc:
        # Real SNS may refuse to unsubscribe a subscription that was never confirmed; it cannot
        # deliver, and it goes with the topic or expires after three days.
        if subscription["status"] == ACTIVE or exc.response["Error"]["Code"] != "InvalidParameter":
            raise
        logger.warning("could not unsubscribe unconfirmed subscription %s", subscription["id"])
