"""End to end: subscriptions made through the API, events published as the relay does (inside each
event's tenant context), SNS (the moto server) delivering over HTTP to a receiver on 127.0.0.1."""
from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from saas.events import EVENT_TYPES
from saas.tenancy import tenant_context
from tests.factories import unique
from webhooks.services import publish_event

from .factories import make_event, tenant_topic_names, topic_name

SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions"
SEED = 20260301


def publish_stream(rng: random.Random, tenant_ids: list[str], count: int) -> tuple[list[dict], Counter]:
    events, outcomes = [], Counter()
    catalogue = list(EVENT_TYPES)
    for seq in range(count):
        tenant_id = rng.choice(tenant_ids)
        event = make_event(tenant_id, rng.choice(catalogue), {"seq": seq})
        with tenant_context(tenant_id):
            outcomes[publish_event(event=event)] += 1
        events.append(event)
    return events, outcomes


@pytest.mark.slow
def test_each_tenants_subscribers_get_exactly_their_events_and_nothing_after_unsubscribing(make_tenant, receiver):  # noqa: C901 - one end-to-end story
    rng = random.Random(SEED)
    catalogue = list(EVENT_TYPES)
    tenants = [make_tenant() for _ in range(5)]
    silent_tenant = unique("wh-silent-")  # publishes events, never subscribes
    tenant_of = {}  # receiver path -> tenant id
    subscribed = {}  # receiver path -> event types
    for n, tenant in enumerate(tenants):
        paths = {f"/t{n}": rng.sample(catalogue, rng.randint(1, 4))}
        if n == 0:  # a second subscriber sharing some of the first one's topics
            paths[f"/t{n}-second"] = rng.sample(catalogue, 2)
        for path, types in paths.items():
            tenant_of[path], subscribed[path] = tenant.id, set(types)
            for event_type in types:
                response = tenant.admin.client().post(
                    SUBSCRIPTIONS, {"event_type": event_type, "url": receiver.url(path)}, format="json")
                assert response.status_code == 201, response.json()

    # Topics exist exactly for the (tenant, type) pairs somebody subscribed to.
    types_of_tenant = defaultdict(set)
    for path, types in subscribed.items():
        types_of_tenant[tenant_of[path]] |= types
    for tenant in tenants:
        assert tenant_topic_names(tenant.id) == {topic_name(tenant.id, t) for t in types_of_tenant[tenant.id]}
    assert tenant_topic_names(silent_tenant) == set()

    all_tenant_ids = [t.id for t in tenants] + [silent_tenant]
    events, outcomes = publish_stream(rng, all_tenant_ids, 500)

    expected = {path: {e["id"] for e in events if e["tenant_id"] == tenant_of[path] and e["type"] in subscribed[path]}
                for path in subscribed}
    wanted_publishes = sum(1 for e in events if e["type"] in types_of_tenant.get(e["tenant_id"], ()))
    assert outcomes == Counter(published=wanted_publishes, skipped=500 - wanted_publishes)
    assert sum(len(ids) for ids in expected.values()) > 100  # the seed gives a meaningful stream

    for path, ids in expected.items():
        delivered = receiver.wait_for_count(path, len(ids))
        assert {e["id"] for e in delivered} == ids, path
        assert len(delivered) == len(ids), f"{path} got duplicates"
        assert {e["tenant_id"] for e in delivered} <= {tenant_of[path]}
        by_id = {e["id"]: e for e in events}
        for envelope in delivered:
            source = by_id[envelope["id"]]
            assert envelope == {"id": source["id"], "type": source["type"], "tenant_id": source["tenant_id"],
                                "created_at": source["event_created_at"], "data": source["data"],
                                "aggregate_id": source.get("aggregate_id"), "sequence": source.get("sequence", 0)}
    assert set(receiver.deliveries) - set(subscribed) == set()  # nothing went anywhere else

    # Unsubscribe everything through the API: topics go, and later events reach no one.
    for tenant in tenants:
        client = tenant.admin.client()
        for subscription in client.get(SUBSCRIPTIONS, {"limit": 100}).json()["results"]:
            assert client.delete(f"{SUBSCRIPTIONS}/{subscription['id']}").status_code == 204
        assert tenant_topic_names(tenant.id) == set()
    delivered_before = {path: len(v) for path, v in receiver.deliveries.items()}
    _, outcomes_after = publish_stream(rng, all_tenant_ids, 100)
    assert outcomes_after == Counter(skipped=100)
    assert {path: len(v) for path, v in receiver.deliveries.items()} == delivered_before
