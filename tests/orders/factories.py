"""Order test helpers: a product to order, the stock left, every order and order event of a tenant,
and placing an order through the API."""
from __future__ import annotations

import uuid
from decimal import Decimal

from orders.models import Order
from saas.outbox import OutboxEvent
from saas.tenancy import tenant_context


def make_product(tenant_id: str, *, price: str = "9.99", currency: str = "EUR", stock: int = 10) -> dict:
    from products.services import create_product

    with tenant_context(tenant_id):
        return create_product(sku=f"SKU-{uuid.uuid4().hex[:10].upper()}", name="Widget", price=Decimal(price),
                              currency=currency, stock=stock)


def stock_of(tenant_id: str, product_id: str) -> int:
    from products.models import Product

    with tenant_context(tenant_id):
        return int(Product.objects.get(product_id, consistent=True)["stock"])


def _all(manager, **query) -> list[dict]:
    items, cursor = [], None
    while True:
        page = manager.query(cursor=cursor, limit=100, **query)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return items


def all_orders(tenant_id: str) -> list[dict]:
    with tenant_context(tenant_id):
        return _all(Order.objects)


def order_events(tenant_id: str, order_id: str | None = None) -> list[dict]:
    """The tenant's order events (optionally about one order), oldest first."""
    with tenant_context(tenant_id):
        events = _all(OutboxEvent.objects)
    return [e for e in events if e["type"].startswith("order.") and (order_id is None or e["data"]["id"] == order_id)]


def place(user, lines: list[tuple[str, int]] | list[dict], *, key: str | None = None):
    body = {"lines": [line if isinstance(line, dict) else {"product_id": line[0], "quantity": line[1]}
                      for line in lines]}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return user.client().post("/api/v1/orders", body, format="json", **headers)
