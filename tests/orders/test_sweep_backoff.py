"""Sweep multiplication: while the job queue is backed up, an open order's job is merely waiting,
yet the sweep saw it as stuck every time and enqueued another copy (335 fulfil jobs for 202 orders
in an SQS fault run). Now each further copy waits twice as long as the one before."""
from __future__ import annotations

from datetime import datetime

from orders.services import recover_stuck_orders
from saas.tenancy import tenant_context
from tests.orders.factories import make_product


def test_a_backed_up_queue_gets_a_few_copies_of_a_job_not_one_per_sweep(redis_broker, tenant_a, member):
    product = make_product(tenant_a.id, stock=10)
    placed = member.client().post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]},
                                  format="json")
    assert placed.status_code == 201  # its job waits in our broker: no worker consumes it
    at = datetime.fromisoformat(placed.json()["updated_at"].replace("Z", "+00:00")).timestamp()
    sweeps = (16, 20, 26, 32, 40, 47, 63, 70, 80, 108)  # seconds after the order last moved, 10 s apart or so
    with tenant_context(tenant_a.id):
        enqueued = [recover_stuck_orders(older_than=15, now=at + s) for s in sweeps]
    assert enqueued == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1], enqueued  # after 15 s, then 30 s later, then 60 s
