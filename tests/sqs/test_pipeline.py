"""POST /orders -> SQS -> the Lambda worker (Zappa's handler, separate process) -> confirmed and
fulfilled -> outbox -> SNS -> subscriber, with no Celery worker process anywhere."""
from __future__ import annotations

from orders.models import Order
from saas.tenancy import tenant_context
from tests.orders.factories import make_product, order_events, place
from tests.sqs.harness import kombu_message, wait_until


def status_of(tenant_id: str, order_id: str) -> str:
    with tenant_context(tenant_id):
        return Order.objects.get(order_id, consistent=True)["status"]


def test_an_order_is_confirmed_fulfilled_and_its_webhooks_delivered_by_the_lambda_worker(
        jobs, lambda_worker, poller, receiver, tenant_a, member):
    for event_type in ("order.created", "order.confirmed", "order.fulfilled"):
        response = tenant_a.admin.client().post("/api/v1/webhooks/subscriptions",
                                                {"event_type": event_type, "url": receiver.url("/hook")}, format="json")
        assert response.status_code == 201, response.json()
    product = make_product(tenant_a.id, stock=5)
    order = place(member, [(product["id"], 2)]).json()

    wait_until(lambda: status_of(tenant_a.id, order["id"]) == "fulfilled", timeout=60, what="fulfilled")
    deliveries = wait_until(lambda: [e for e in receiver.envelopes("/hook") if e["data"]["id"] == order["id"]]
                            if len(receiver.envelopes("/hook")) >= 3 else None, timeout=30, what="3 webhooks")
    assert sorted(e["type"] for e in deliveries) == ["order.confirmed", "order.created", "order.fulfilled"]
    assert {e["tenant_id"] for e in deliveries} == {tenant_a.id}
    assert [e["type"] for e in order_events(tenant_a.id, order["id"])] == [
        "order.created", "order.confirmed", "order.fulfilled"]
    assert f"fulfilment started: order {order['id']}" in lambda_worker.log()


def test_a_job_keeps_its_tenant_from_the_request_to_the_worker(jobs, lambda_worker, tenant_a, tenant_b, member):
    product = make_product(tenant_a.id)
    order = place(member, [(product["id"], 1)]).json()
    messages = jobs.receive_raw()
    confirm = next(m for m in map(lambda m: kombu_message(m["Body"]), messages) if m["headers"]["task"] == "orders.confirm")
    assert confirm["headers"]["tenant_id"] == tenant_a.id and confirm["headers"]["user_id"] == member.sub

    source = lambda_worker.event_source()
    answer = source.handle(messages)
    assert answer["result"]["response"] == {"batchItemFailures": []}
    assert status_of(tenant_a.id, order["id"]) == "confirmed"  # found in tenant A's partition, by A's job
    with tenant_context(tenant_b.id):
        assert Order.objects.query(limit=10).items == []
