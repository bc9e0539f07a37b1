"""A fair share of the workers per tenant on the Redis broker (saas.fairness), with a real worker:
one tenant's burst of exports neither holds another tenant's order confirmation nor takes more
than one worker at a time, and every export still runs exactly once."""
from __future__ import annotations

import pytest

from exports import selectors as export_selectors
from exports import services as export_services
from exports.tasks import enqueue_export
from orders.tasks import confirm_order
from saas.tenancy import tenant_context
from tests.jobs.harness import Worker, wait_until
from tests.jobs.test_tenant_jobs import pending_order, status_of

BURST = 40


@pytest.fixture(scope="module")
def worker(redis_broker):
    """The module's worker (4 threads); deferred exports come back within a second."""
    running = Worker(redis_broker.url(), env={"BULK_DEFER_MAX_SECONDS": "1"}).start()
    yield running
    running.stop()
    running.discard_log()


def _exports(tenant_id: str, ids: list[str]) -> list[dict]:
    with tenant_context(tenant_id):
        return [export_selectors.get_export(export_id) for export_id in ids]


def test_a_burst_of_exports_neither_holds_another_tenants_confirmation_nor_takes_every_worker(
        worker, tenant_a, tenant_b, broker_redis):
    worker.stop()  # enqueue everything first: the worst case, B's job behind A's whole burst
    offset = worker.log_path.stat().st_size
    with tenant_context(tenant_a.id, user_id="burst"):
        burst = [export_services.request_export()["id"] for _ in range(BURST)]
        assert all(enqueue_export(export_id) for export_id in burst)
    order_id = pending_order(tenant_b.id)
    with tenant_context(tenant_b.id):
        confirmation = confirm_order.delay(order_id)
    worker.start()

    wait_until(lambda: status_of(tenant_b.id, order_id) == "fulfilled", what="B's order fulfilled")
    jobs = wait_until(lambda: (lambda jobs: jobs if all(j["status"] == "completed" for j in jobs) else None)(
        _exports(tenant_a.id, burst)), timeout=240, interval=0.5, what=f"A's {BURST} exports completed")

    # B's confirmation was the first job the worker took, ahead of the 40 exports queued before it.
    received = [line for line in worker.log(offset).splitlines() if "] received" in line]
    assert f"orders.confirm[{confirmation.id}] received" in received[0], received[:3]
    # A never had two exports running at once (a worker left free for everyone else)...
    runs = sorted((j["started_at"], j["completed_at"]) for j in jobs)
    overlapping = [(a, b) for a, b in zip(runs, runs[1:], strict=False) if b[0] < a[1]]
    assert overlapping == []
    # ...and deferring lost and duplicated nothing: each export ran once, and nothing is left queued.
    assert [int(j["attempts"]) for j in jobs] == [1] * BURST
    assert "deferred" in worker.log(offset)
    wait_until(lambda: broker_redis.hlen("unacked") == 0 and not any(
        broker_redis.llen(key) for key in broker_redis.keys("celery*")), what="queues drained")
