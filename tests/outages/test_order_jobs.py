"""Order jobs when the broker fails, on a real worker and a Redis broker of our own:

* a keyed retry that replays an order restarts its processing (it does not sit ``pending`` until the
  sweep, 61-70 s);
* a failed publish resets the broker probe at once (it does not keep answering "up" for 1.5 s after
  Redis died, accepting orders without a job);
* ``confirm_order`` survives a broker error when it enqueues the fulfil job."""
from __future__ import annotations

from orders.models import Order
from saas.tenancy import tenant_context
from tests.jobs.harness import wait_until
from tests.orders.factories import all_orders, make_product


def status_of(tenant_id: str, order_id: str) -> str:
    with tenant_context(tenant_id):
        return Order.objects.get(order_id, consistent=True)["status"]


def test_a_keyed_replay_restarts_a_pending_order_whose_job_was_lost(running_worker, broker_redis, tenant_a, member):
    product = make_product(tenant_a.id, stock=5)
    running_worker.stop()  # so the job stays in the queue, where the "broker restart" loses it
    api = member.client()
    body = {"lines": [{"product_id": product["id"], "quantity": 1}]}
    first = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-once-1")
    assert first.status_code == 201
    broker_redis.delete("celery")  # the queued jobs are gone (a broker restart without persistence)
    running_worker.start()

    replay = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-once-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    # No sweep runs in this test: only the replay can have restarted the pipeline.
    wait_until(lambda: status_of(tenant_a.id, first.json()["id"]) == "fulfilled", timeout=20,
               what="replayed order fulfilled")
    assert len(all_orders(tenant_a.id)) == 1


def test_a_failed_publish_resets_the_broker_probe(own_broker, tenant_a, member, settings):
    settings.BROKER_CHECK_CACHE_SECONDS = 60  # "up" would be trusted for a minute without the reset
    product = make_product(tenant_a.id, stock=5)
    api = member.client()
    body = {"lines": [{"product_id": product["id"], "quantity": 1}]}
    assert api.post("/api/v1/orders", body, format="json").status_code == 201  # probe: up (cached)
    own_broker.stop()
    accepted = api.post("/api/v1/orders", body, format="json")
    assert accepted.status_code == 201  # committed before the publish failed; the sweep will enqueue it
    refused = api.post("/api/v1/orders", body, format="json")
    assert refused.status_code == 503 and refused.json()["dependency"] == "broker"
    assert len(all_orders(tenant_a.id)) == 2


def test_confirm_survives_a_broker_error_when_enqueueing_the_fulfil_job(own_broker, tenant_a):
    from orders import tasks
    from orders.services import place_order

    product = make_product(tenant_a.id, stock=5)
    with tenant_context(tenant_a.id, user_id="u-1"):
        order = place_order(lines=[{"product_id": product["id"], "quantity": 1}]).order
    own_broker.stop()
    with tenant_context(tenant_a.id):
        tasks.confirm_order.run(order["id"])  # the job's body, as the worker runs it
    assert status_of(tenant_a.id, order["id"]) == "confirmed"  # left for the sweep, no exception
