"""A webhook subscriber down, then up: every event is delivered, with the ids it had from the start.

The subscriber sits behind a fault proxy that refuses connections while "down" (moto's SNS then
fails the Publish, as a real delivery failure would make the relay retry); the outbox relay keeps
the events pending with back-off and delivers them once the subscriber is back."""
from __future__ import annotations

import pytest

from devstack.webhook_receiver import Receiver
from saas import outbox
from saas.outbox import OutboxEvent
from saas.tenancy import tenant_context
from tests.faults.proxy import FaultProxy

EVENTS = 12


@pytest.fixture
def subscriber():
    receiver = Receiver()
    port = receiver.server.server_address[1]
    with FaultProxy(port) as proxy:
        yield receiver, proxy
    receiver.stop()


def _pending(tenant_id: str) -> list[dict]:
    with tenant_context(tenant_id):
        return OutboxEvent.objects.query(index="pending", value="PENDING", limit=100).items


def test_every_event_reaches_a_subscriber_that_was_down_with_stable_ids(redis_broker, subscriber, tenant_a,
                                                                        settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 0  # retry at once: the test drives the sweep itself
    receiver, proxy = subscriber
    api = tenant_a.admin.client()
    created = api.post("/api/v1/webhooks/subscriptions",
                       {"event_type": "product.created", "url": proxy.url(path="/hook")}, format="json")
    assert created.status_code == 201, created.content

    proxy.set("refuse")  # the subscriber goes down
    for n in range(EVENTS):
        assert api.post("/api/v1/products", {"sku": f"OUT-{n}", "name": "n", "price": "1.00", "currency": "USD",
                                             "stock": 1}, format="json").status_code == 201
    event_ids = {e["id"] for e in _pending(tenant_a.id) if e["type"] == "product.created"}
    assert len(event_ids) == EVENTS
    with tenant_context(tenant_a.id):
        down = outbox.relay_pending()
    assert down.get("failed") == EVENTS and receiver.envelopes("/hook") == []

    proxy.set("pass")  # the subscriber is back: the sweep delivers everything
    for _ in range(5):
        with tenant_context(tenant_a.id):
            outbox.relay_pending()
        if not _pending(tenant_a.id):
            break
    assert _pending(tenant_a.id) == []
    delivered = receiver.wait_for_count("/hook", EVENTS)
    assert {e["id"] for e in delivered} == event_ids  # every event, under the id it was created with
    assert len(delivered) == EVENTS
    with tenant_context(tenant_a.id):
        attempts = {e["id"]: int(e["attempts"]) for e in (OutboxEvent.objects.get(i, consistent=True)
                                                           for i in event_ids)}
    assert min(attempts.values()) >= 2  # each was retried after the outage, not re-created
