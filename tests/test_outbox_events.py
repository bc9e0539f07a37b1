"""The outbox's events: retention and order.

* Sent events expire (TTL), pending ones do not, so storage per tenant stays bounded.
* A subscriber may see order.confirmed/fulfilled before order.created (deliveries retry under
  faults): every envelope carries ``aggregate_id`` and a per-aggregate ``sequence`` to put them back
  in order."""
from __future__ import annotations

import time

from orders import services as order_services
from saas import aws, outbox
from saas.hooks import hooks
from saas.outbox import OutboxEvent, envelope
from saas.tenancy import tenant_context

published: list[dict] = []


def recording_publisher(events: list[dict]) -> list:
    published.extend(events)
    return ["published"] * len(events)


def failing_publisher(events: list[dict]) -> list:
    return [RuntimeError("SNS is unavailable") for _ in events]


def _events(tenant_id: str) -> list[dict]:
    with tenant_context(tenant_id):
        return OutboxEvent.objects.query(limit=100).items


def test_sent_events_expire_and_pending_ones_do_not(tenant_a, settings, monkeypatch):
    settings.OUTBOX_SENT_RETENTION_SECONDS = 3 * 24 * 3600
    api = tenant_a.admin.client()
    for n in range(2):
        assert api.post("/api/v1/products", {"sku": f"TTL-{n}", "name": "n", "price": "1.00", "currency": "USD",
                                             "stock": 1}, format="json").status_code == 201
    first, second = sorted(_events(tenant_a.id), key=lambda e: e["id"])
    now = time.time()
    with tenant_context(tenant_a.id):
        monkeypatch.setattr(hooks, "publish_events", recording_publisher)
        assert outbox.deliver(first, now=now) == "published"
        monkeypatch.setattr(hooks, "publish_events", failing_publisher)
        assert outbox.deliver(second, now=now) == "failed"
        sent = OutboxEvent.objects.get(first["id"], consistent=True)
        pending = OutboxEvent.objects.get(second["id"], consistent=True)
    assert sent["status"] == "sent"
    assert abs(int(sent["expires_at"]) - (now + 3 * 24 * 3600)) <= 5
    assert pending["status"] == "pending" and "expires_at" not in pending
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=settings.DYNAMODB_TABLE)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"


def test_product_events_carry_a_per_aggregate_sequence(tenant_a):
    api = tenant_a.admin.client()
    product = api.post("/api/v1/products", {"sku": "SEQ-1", "name": "n", "price": "1.00", "currency": "USD",
                                            "stock": 1}, format="json").json()
    other = api.post("/api/v1/products", {"sku": "SEQ-2", "name": "n", "price": "1.00", "currency": "USD",
                                          "stock": 1}, format="json").json()
    assert api.patch(f"/api/v1/products/{product['id']}", {"name": "renamed"}, format="json").status_code == 200
    assert api.delete(f"/api/v1/products/{product['id']}").status_code == 204
    envelopes = [envelope(e) for e in _events(tenant_a.id)]
    mine = sorted((e["sequence"], e["type"]) for e in envelopes if e["aggregate_id"] == product["id"])
    assert mine == [(1, "product.created"), (2, "product.updated"), (3, "product.deleted")]
    assert [(e["sequence"], e["type"]) for e in envelopes if e["aggregate_id"] == other["id"]] == [
        (1, "product.created")]


def test_order_events_can_be_put_back_in_order(tenant_a):
    api = tenant_a.admin.client()
    product = api.post("/api/v1/products", {"sku": "SEQ-O", "name": "n", "price": "1.00", "currency": "USD",
                                            "stock": 5}, format="json").json()
    order = api.post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]},
                     format="json").json()
    with tenant_context(tenant_a.id):
        order_services.confirm_order(order_id=order["id"])
        order_services.fulfil_order(order_id=order["id"])
    envelopes = [envelope(e) for e in _events(tenant_a.id) if e["type"].startswith("order.")]
    shuffled = sorted(envelopes, key=lambda e: e["type"], reverse=True)  # as an unordered delivery might
    in_order = [e["type"] for e in sorted(shuffled, key=lambda e: e["sequence"])]
    assert in_order == ["order.created", "order.confirmed", "order.fulfilled"]
    assert {e["aggregate_id"] for e in envelopes} == {order["id"]}
