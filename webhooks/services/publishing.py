"""Publishing outbox events to the tenant's topic for their type."""
from __future__ import annotations

import json
import logging
from collections import Counter
from decimal import Decimal

from saas.events import EVENT_TYPES
from saas.outbox import envelope
from saas.tenancy import current_tenant_id

from .. import sns
from . import topics

logger = logging.getLogger("webhooks")

# Metric: publish outcomes in this process ("published" / "skipped"), keyed by (outcome, event type).
publish_outcomes: Counter[tuple[str, str]] = Counter()


class EventTenantMismatch(RuntimeError):
    """An event was handed to publish_event under another tenant's context."""


def _json_default(value):
    """What an event's data may hold beyond JSON: money and other non-whole numbers (``Decimal``:
    whole numbers come back from the store as ``int``) as decimal strings, like the API; sets as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serializable in an event: {type(value).__name__}")


def message_json(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"), default=_json_default)


# --- publishing --------------------------------------------------------------------------------
def publish_event(*, event: dict) -> str:
    """Publish one outbox event to its tenant's topic for its type: "published" or "skipped" (no
    subscriber). Raises when SNS fails, so the caller keeps the event pending and retries."""
    outcome, = publish_events([event])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def publish_events(events: list[dict]) -> list[str | Exception]:
    """Publish outbox events of the tenant in context, each to the tenant's topic for its type, in
    SNS PublishBatch calls of up to 10 messages. Returns one outcome per event, in order:
    "published", "skipped" (nobody subscribed to that type), or the exception that event met (the
    caller keeps it pending and retries). The envelope ``id`` is the event id, stable across retries.
    An event of another tenant than the context's is refused (``EventTenantMismatch``)."""
    tenant_id = current_tenant_id()  # NoTenantContext when none is set: fail closed
    outcomes: list[str | Exception | None] = [None] * len(events)
    by_type: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        if event.get("tenant_id") != tenant_id:
            outcomes[index] = EventTenantMismatch(f"event {event.get('id')!r} belongs to another tenant than the context")
        elif event.get("type") not in EVENT_TYPES:
            outcomes[index] = ValueError(f"unknown event type {event.get('type')!r}")
        else:
            by_type.setdefault(event["type"], []).append(index)
    for event_type, indexes in by_type.items():
        for index, outcome in zip(indexes, _publish_to_topic(tenant_id, event_type, [events[i] for i in indexes]), strict=True):
            outcomes[index] = outcome
    _merge_tenant_topic(tenant_id, events, outcomes)
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, str):
            publish_outcomes[outcome, events[index]["type"]] += 1
    return outcomes  # type: ignore[return-value]


def _merge_tenant_topic(tenant_id: str, events: list[dict], outcomes: list) -> None:
    """Endpoints: every type also goes to the tenant's one topic (then the delivery queue). An event
    fails if either path failed (retried as a whole: legacy subscribers may then see it twice)."""
    valid = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, str)]
    if not valid:
        return
    for index, outcome in zip(valid, _publish_to_tenant_topic(tenant_id, [events[i] for i in valid]), strict=True):
        if isinstance(outcome, BaseException):
            outcomes[index] = outcome
        elif outcome == "published":
            outcomes[index] = "published"


def _publish_to_tenant_topic(tenant_id: str, events: list[dict]) -> list[str | Exception]:
    """The endpoints' path: the tenant topic, subscribed by the delivery queue ("skipped" before the
    tenant's first endpoint). Attributes: tenant and type (the queue takes everything)."""
    from .endpoints import TENANT_TOPIC_ID, tenant_topic_arn

    topic_arn = topics.topic_cache.get(tenant_id, TENANT_TOPIC_ID, tenant_topic_arn)
    if topic_arn is None:
        return ["skipped"] * len(events)
    outcomes: list[str | Exception] = ["published"] * len(events)
    by_type: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        by_type.setdefault(event["type"], []).append(index)
    for event_type, indexes in by_type.items():
        messages = [message_json(envelope(events[i])) for i in indexes]
        try:
            failures = sns.publish_batch(topic_arn=topic_arn, messages=messages,
                                         attributes={sns.ATTR_TENANT: tenant_id, sns.ATTR_EVENT_TYPE: event_type})
        except Exception as exc:  # SNS unavailable (or the topic went with an offboarding): retried
            topics.topic_cache.invalidate(tenant_id, TENANT_TOPIC_ID)
            failures = {n: exc for n in range(len(indexes))}
        for n, index in enumerate(indexes):
            if n in failures:
                outcomes[index] = failures[n]
    return outcomes


def _publish_to_topic(tenant_id: str, event_type: str, events: list[dict]) -> list[str | Exception]:
    attributes = {sns.ATTR_TENANT: tenant_id, sns.ATTR_EVENT_TYPE: event_type, sns.ATTR_AUDIENCE: sns.AUDIENCE_ALL}
    messages = [message_json(envelope(event)) for event in events]
    for attempt in range(2):
        topic_arn = topics.topic_cache.get(tenant_id, event_type, lambda: topics.lookup_topic_arn(event_type))
        if topic_arn is None:
            logger.debug("webhooks.publish outcome=skipped tenant=%s type=%s events=%d", tenant_id, event_type,
                         len(events))
            return ["skipped"] * len(events)
        try:
            failures = sns.publish_batch(topic_arn=topic_arn, messages=messages, attributes=attributes)
        except sns.NotFound as exc:
            # The topic went away since we cached it (last subscriber left): look again.
            topics.topic_cache.invalidate(tenant_id, event_type)
            if attempt:
                return [exc] * len(events)
            continue
        except Exception as exc:  # SNS unavailable: every event of the batch is retried
            return [exc] * len(events)
        return [failures.get(index, "published") for index in range(len(events))]
    raise AssertionError("unreachable")
