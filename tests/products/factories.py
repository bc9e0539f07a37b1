"""Catalogue test helpers: a valid product body, creating a product through the API, and a tenant's
outbox events."""
from __future__ import annotations

from saas.outbox import OutboxEvent
from saas.tenancy import tenant_context
from tests.factories import unique


def product_payload(**overrides) -> dict:
    return {"sku": unique("SKU-").upper(), "name": "Blue Widget", "description": "A widget.", "price": "9.99",
            "currency": "USD", "stock": 5, "category": "widgets", **overrides}


def create_product(client, **overrides) -> dict:
    response = client.post("/api/v1/products", product_payload(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def outbox_events(tenant_id: str, product_id: str | None = None) -> list[dict]:
    """Every outbox event in the tenant (optionally only those about one product), oldest first."""
    events, cursor = [], None
    with tenant_context(tenant_id):
        while True:
            page = OutboxEvent.objects.query(cursor=cursor, limit=100)
            events += page.items
            cursor = page.next_cursor
            if not cursor:
                break
    return [e for e in events if product_id is None or e["data"].get("id") == product_id]
