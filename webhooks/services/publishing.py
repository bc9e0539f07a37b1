"""Publishing outbox events to the tenant's topic for their type."""
from __future__ import annotations

import json
import logging
from collections import Counter
from decimal import Decimal

from saas.outbox import envelope
from saas.tenancy import current_tenant_id

from .. import sns
from ..events import EVENT_TYPES
from . import topics

logger = logging.getLogger("webhooks")

# Metric: publish outcomes in this process ("published" / "skipped"), keyed by (outcome, event type).
publish_outcomes: Counter[tuple[str, str]] = Counter()


class EventTenantMismatch(RuntimeError):
    """An event was handed to publish_event under another tenant's context."""


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
        topic_arn = topics.topic_cache.get(tenant_id, event_type, lambda: topics.lookup_topic_arn(event_type))
        if topic_arn is None:
            publish_outcomes["skipped", event_type] += 1
            logger.debug("webhooks.publish outcome=skipped tenant=%s type=%s event=%s", tenant_id, event_type, event["id"])
            return "skipped"
        try:
            sns.publish(topic_arn=topic_arn, message=message, attributes=attributes)
        except sns.NotFound:
            # The topic went away since we cached it (last subscriber left): look again.
            topics.topic_cache.invalidate(tenant_id, event_type)
            if attempt:
                raise
            continue
        publish_outcomes["published", event_type] += 1
        return "published"
    raise AssertionError("unreachable")
