"""The order pipeline on a real worker: pending -> confirmed -> fulfilled, redelivery after a worker
is killed, and a broker outage (503, nothing written, nothing lost)."""
from __future__ import annotations

import time

from orders.models import IdempotencyRecord, Order
from orders.services import _idempotency_record_id
from orders.tasks import confirm_order, fulfil_order
from saas.celery import broker
from saas.outbox import OutboxEvent
from saas.tasks import sweep_tenant
from saas.tenancy import tenant_context
from tests.jobs.harness import Worker, wait_until
from tests.orders.factories import all_orders, make_product, order_events, place, stock_of


def status_of(tenant_id: str, order_id: str) -> str:
    with tenant_context(tenant_id):
        return Order.objects.get(order_id, consistent=True)["status"]


def pending_events(tenant_id: str) -> list[dict]:
    with tenant_context(tenant_id):
        return OutboxEvent.objects.query(index="pending", value="PENDING", limit=100).items


def assert_pipeline_ran_once(tenant_id: str, order_id: str) -> None:
    assert [e["type"] for e in order_events(tenant_id, order_id)] == [
        "order.created", "order.confirmed", "order.fulfilled"]


def test_an_order_is_confirmed_then_fulfilled_and_every_event_is_published(worker, tenant_a, member):
    product = make_product(tenant_a.id, stock=5)
    order = place(member, [(product["id"], 2)]).json()

    wait_until(lambda: member.client().get(f"/api/v1/orders/{order['id']}").json()["status"] == "fulfilled",
               what="fulfilled")
    done = member.client().get(f"/api/v1/orders/{order['id']}").json()
    assert done["confirmed_at"] and done["fulfilled_at"] and done["version"] == 3
    assert_pipeline_ran_once(tenant_a.id, order["id"])
    wait_until(lambda: pending_events(tenant_a.id) == [], what="outbox drained")
    assert {(e["status"], e["outcome"]) for e in order_events(tenant_a.id)} == {("sent", "skipped")}
    assert stock_of(tenant_a.id, product["id"]) == 3

    # Delivering the pipeline's jobs again (a redelivery, a sweep) changes nothing.
    with tenant_context(tenant_a.id):
        again = [confirm_order.delay(order["id"]), fulfil_order.delay(order["id"])]
    for result in again:
        worker.wait_for_log(f"[{result.id}] succeeded")
    assert member.client().get(f"/api/v1/orders/{order['id']}").json() == done
    assert_pipeline_ran_once(tenant_a.id, order["id"])


def test_a_worker_killed_mid_fulfilment_leaves_the_job_to_the_next_worker_which_fulfils_once(
        worker, redis_broker, tenant_a, member):
    worker.stop()
    # A short visibility timeout so the unacknowledged job is handed out again within the test.
    slow = Worker(redis_broker.url(), env={"ORDERS_FULFILMENT_DELAY_SECONDS": "60", "CELERY_VISIBILITY_TIMEOUT": "2"})
    fresh = Worker(redis_broker.url(), env={"CELERY_VISIBILITY_TIMEOUT": "2"})
    try:
        slow.start()
        product = make_product(tenant_a.id)
        order = place(member, [(product["id"], 1)]).json()
        slow.wait_for_log(f"fulfilment started: order {order['id']}")
        slow.kill()
        assert status_of(tenant_a.id, order["id"]) == "confirmed"

        time.sleep(2.5)  # past the visibility timeout: the next worker restores the job when it starts
        fresh.start()
        wait_until(lambda: status_of(tenant_a.id, order["id"]) == "fulfilled", what="fulfilled by the new worker")
        assert f"fulfilment started: order {order['id']}" in fresh.log()
        assert_pipeline_ran_once(tenant_a.id, order["id"])
    finally:
        for spare in (slow, fresh):
            spare.stop()
            spare.discard_log()


def test_broker_outage_is_a_503_that_writes_nothing_and_loses_nothing(worker, redis_broker, tenant_a, member,
                                                                       settings):
    product = make_product(tenant_a.id, stock=10)

    # Broker down: refused before anything is written.
    redis_broker.stop()
    broker.forget()
    refused = place(member, [(product["id"], 1)], key="outage-1")
    assert refused.status_code == 503
    assert refused["Retry-After"]
    assert {k: refused.json()[k] for k in ("code", "dependency")} == {"code": "service_unavailable",
                                                                       "dependency": "broker"}
    assert stock_of(tenant_a.id, product["id"]) == 10
    assert all_orders(tenant_a.id) == [] and order_events(tenant_a.id) == []
    with tenant_context(tenant_a.id):
        assert IdempotencyRecord.objects.batch_get([_idempotency_record_id(member.sub, "outage-1")]) == {}

    # The broker dies between the check (cached as reachable) and the enqueue: the order is still
    # accepted, pending, and its job and event are lost from the broker's point of view.
    redis_broker.start()
    settings.BROKER_CHECK_CACHE_SECONDS = 300
    broker.forget()
    assert broker.reachable()
    redis_broker.stop()
    stranded = place(member, [(product["id"], 2)])
    assert stranded.status_code == 201 and stranded.json()["status"] == "pending"

    # The broker comes back (empty: no persistence). New orders flow through at once...
    log_offset = worker.log_path.stat().st_size
    redis_broker.start()
    settings.BROKER_CHECK_CACHE_SECONDS = 1.5
    broker.forget()
    # kombu retries the connection with growing intervals capped at 30 s: allow a full cycle.
    worker.wait_for_log("Connected to redis", offset=log_offset, timeout=75)
    after = place(member, [(product["id"], 1)])
    assert after.status_code == 201
    wait_until(lambda: status_of(tenant_a.id, after.json()["id"]) == "fulfilled", what="new order fulfilled")
    assert status_of(tenant_a.id, stranded.json()["id"]) == "pending"

    # ...and the sweep recovers the stranded order and publishes every pending event.
    with tenant_context(tenant_a.id):
        sweep_tenant.delay()
    wait_until(lambda: status_of(tenant_a.id, stranded.json()["id"]) == "fulfilled", what="stranded order recovered")
    wait_until(lambda: pending_events(tenant_a.id) == [], what="outbox drained")
    for order in (stranded.json(), after.json()):
        assert_pipeline_ran_once(tenant_a.id, order["id"])
    assert {e["status"] for e in order_events(tenant_a.id)} == {"sent"}
    assert stock_of(tenant_a.id, product["id"]) == 7
