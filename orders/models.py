"""Orders and idempotency records (DynamoDB items, tenant-scoped).

``Order`` (entity ``ORDER``): id (time-ordered, so id order is creation order), user_id, status,
currency, total (decimal string), lines [{product_id, sku, name, quantity, unit_price, line_total}],
timestamps per transition, version.

Indexes (partitions are tenant-prefixed by the store):

* ``by_user`` (GSI1): every order of one user, so a member's list is one query of their own orders.
* ``open`` (GSI2, sparse): only orders still ``pending`` or ``confirmed``; the sweep reads it to
  re-enqueue orders whose job was lost. An order leaves it when it is fulfilled or cancelled.

``IdempotencyRecord`` (entity ``IDEMPOTENCY``): id = sha256(user, Idempotency-Key), so a key is
scoped to tenant (partition) and user; holds the request hash and the order id; ``expires_at`` is
the table's TTL attribute (epoch seconds, 24 h out). Written in the order's transaction.
"""
from __future__ import annotations

import secrets
import time

from saas.tenancy.store import Index, TenantModel

PENDING, CONFIRMED, FULFILLED, CANCELLED, REJECTED = "pending", "confirmed", "fulfilled", "cancelled", "rejected"
STATUSES = (PENDING, CONFIRMED, FULFILLED, CANCELLED, REJECTED)
OPEN_STATUSES = (PENDING, CONFIRMED)  # the pipeline still has work to do
CANCELLABLE_STATUSES = (PENDING, CONFIRMED)

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


class Order(TenantModel):
    entity = "ORDER"
    export_as = "orders"
    indexes = {
        "by_user": Index(gsi="GSI1", key=lambda o: (f"USER#{o['user_id']}", o["id"])),
        "open": Index(gsi="GSI2", key=lambda o: ("OPEN", o["id"]) if o.get("status") in OPEN_STATUSES else None),
    }


class IdempotencyRecord(TenantModel):
    entity = "IDEMPOTENCY"


class OrderRecovery(TenantModel):
    """The sweep's note on an order it re-enqueued (id = order id): how often and when, so a backed-up
    queue is not flooded with copies of the same job (expires by TTL)."""
    entity = "ORDERRECOVERY"


def new_order_id() -> str:
    """Millisecond prefix + 64 random bits: ids sort by creation time and are not guessable."""
    return f"{int(time.time() * 1000):013d}{secrets.token_hex(8)}"


PUBLIC_FIELDS = ("id", "user_id", "status", "currency", "total", "lines", "created_at", "updated_at",
                 "confirmed_at", "fulfilled_at", "cancelled_at", "version")


def public_order(item: dict) -> dict:
    """The API (and event payload) shape of an order."""
    order = {name: item.get(name) for name in PUBLIC_FIELDS}
    order["version"] = item["version"]
    order["lines"] = [{**line, "quantity": line["quantity"]} for line in item["lines"]]
    return order
