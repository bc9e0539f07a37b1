"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 that the moto server delivers to, and SNS
helpers that look at topics exactly as an operator would (ListTopics)."""
from __future__ import annotations

import pytest

from devstack.webhook_receiver import Receiver
from saas import aws


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _fresh_topic_cache():
    from webhooks.services import topics

    topics.topic_cache.clear()
    yield
    topics.topic_cache.clear()


@pytest.fixture
def sns_client():
    return aws.client("sns")


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
