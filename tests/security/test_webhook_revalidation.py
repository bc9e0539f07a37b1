"""Subscriber URLs were checked only when subscribing, so a host that
later resolves to a private address (DNS rebinding) was never caught. Hosts are now re-validated
before each test delivery and periodically; a subscription whose host turns non-public is suspended
(unsubscribed at SNS, audit-logged) until its owner deletes it.

DNS is the one outside dependency here: the resolver is injectable (``WEBHOOKS_RESOLVER``), and this
module's resolver answers from ``ZONE``, which a test changes to model the rebinding."""
from __future__ import annotations

import pytest

import audit
from devstack.webhook_receiver import Receiver
from saas.tenancy import tenant_context

ZONE: dict[str, list[str]] = {}
SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions"


def resolve(host: str, port: int) -> list[str]:
    return ZONE.get(host, [])


@pytest.fixture
def zone(settings):
    settings.WEBHOOKS_RESOLVER = f"{__name__}.resolve"
    ZONE.clear()
    ZONE["localhost"] = ["127.0.0.1"]
    yield ZONE
    ZONE.clear()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def _subscribe(tenant, receiver, path="/hook") -> dict:
    port = receiver.server.server_address[1]
    response = tenant.admin.client().post(
        SUBSCRIPTIONS, {"event_type": "order.created", "url": f"http://localhost:{port}{path}"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_test_delivery_re_checks_the_host_and_suspends_a_rebound_subscription(zone, receiver, tenant_a):
    subscription = _subscribe(tenant_a, receiver)
    api = tenant_a.admin.client()
    assert api.post(f"{SUBSCRIPTIONS}/{subscription['id']}/test").status_code in (200, 202)

    zone["localhost"] = ["10.0.0.5"]  # the name now points into a private network
    refused = api.post(f"{SUBSCRIPTIONS}/{subscription['id']}/test")
    assert refused.status_code == 409 and refused.json()["code"] == "subscription_suspended"
    assert len(receiver.envelopes("/hook")) == 1  # nothing more was sent
    listed = {s["id"]: s for s in api.get(SUBSCRIPTIONS).json()["results"]}
    assert listed[subscription["id"]]["status"] == "suspended"
    with tenant_context(tenant_a.id):
        actions = [r["action"] for r in audit.list_records(limit=100).items]
    assert "webhook.suspended" in actions
    assert api.delete(f"{SUBSCRIPTIONS}/{subscription['id']}").status_code == 204  # the owner can clean up


def test_the_periodic_check_suspends_subscriptions_whose_host_turned_private(zone, receiver, tenant_a):
    from webhooks.tasks import revalidate_tenant

    subscription = _subscribe(tenant_a, receiver)
    with tenant_context(tenant_a.id):
        assert revalidate_tenant.run() == 0  # still public (loopback is allowed locally)
    zone["localhost"] = ["192.0.0.8"]
    with tenant_context(tenant_a.id):
        assert revalidate_tenant.run() == 1
    listed = {s["id"]: s for s in tenant_a.admin.client().get(SUBSCRIPTIONS).json()["results"]}
    assert listed[subscription["id"]]["status"] == "suspended"
