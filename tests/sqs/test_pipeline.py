"""POST /orders -> SQS -> the Lambda worker (Zappa's handler, separate process) -> confirmed and
fulfilled -> outbox -> SNS -> subscriber, with no Celery worker process anywhere."""
from __future__ import annotations

from orders.models import Order
from saas.tenancy import tenant_context
from tests.orders.conftest import make_product, order_events, place
from tests.sqs.harness import kombu_message, wait_until


def status_of(tenant_id: str, order_id: str) -> str:
    with tenant_context(tenant_id):
        return Order.objects.get(order_id, consistent=True)["status"]


def test_an_order_is_confirmed_and_fulfilled_by_the_lambda_worker_and_its_job_kept_its_tenant(
        jobs, lambda_worker, poller, tenant_a, member):
    product = make_product(tenant_a.id, stock=5)
    order = place(member, [(product["id"], 2)]).json()

    wait_until(lambda: status_of(tenant_a.id, order["id"]) == "fulfilled", timeout=60, what="fulfilled")
    assert [e["type"] for e in order_events(tenant_a.id, order["id"])] == [
        "order.created", "order.confirmed", "order.fulfilled"]
    wait_until(lambda: all(e["status"] == "sent" for e in order_events(tenant_a.id, order["id"])), timeout=30,
               what="events relayed")
    log = lambda_worker.log()
    assert f"fulfilment started: order {order['id']}" in log
