"""Existing SNS subscriptions become endpoints (manage.py migrate_webhook_subscriptions)."""
from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from .factories import ENDPOINTS, deliver_pending, tenant_topic_names, verify

SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions"


def test_subscriptions_of_one_url_become_one_endpoint_with_their_types_and_the_sns_subscriptions_go(
        tenant_a, endpoint_receiver, delivery_clock):
    api = tenant_a.admin.client()
    url = endpoint_receiver.url("/legacy")
    for event_type in ("product.created", "order.created"):
        assert api.post(SUBSCRIPTIONS, {"event_type": event_type, "url": url}, format="json").status_code == 201
    dry = StringIO()
    call_command("migrate_webhook_subscriptions", "--tenant", tenant_a.id, "--dry-run", stdout=dry)
    assert "would move" in dry.getvalue() and api.get(ENDPOINTS).json()["results"] == []

    out = StringIO()
    call_command("migrate_webhook_subscriptions", "--tenant", tenant_a.id, stdout=out)
    [endpoint] = api.get(ENDPOINTS).json()["results"]
    assert endpoint["url"] == url and endpoint["event_types"] == ["order.created", "product.created"]
    assert "whsec_" not in out.getvalue()
    assert api.get(SUBSCRIPTIONS).json()["results"] == []
    assert {name.rsplit("-", 1)[1] for name in tenant_topic_names(tenant_a.id)} == {"events"}  # per-type ones gone
    # The subscriber now gets signed deliveries (after its admin revealed the secret).
    secret = api.post(f"{ENDPOINTS}/{endpoint['id']}/secret").json()["secret"]
    assert api.post("/api/v1/products", {"sku": "MIG-1", "name": "n", "price": "1.00", "currency": "USD", "stock": 1},
                    format="json").status_code == 201
    deliver_pending(tenant_a.id)
    [(headers, body)] = endpoint_receiver.received("/legacy")
    assert verify(secret, headers, body)["type"] == "product.created"
    again = StringIO()
    call_command("migrate_webhook_subscriptions", "--tenant", tenant_a.id, stdout=again)
    assert again.getvalue() == "" and len(api.get(ENDPOINTS).json()["results"]) == 1
