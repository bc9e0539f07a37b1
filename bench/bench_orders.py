"""Job latency: time from ``apply_async`` to the task body starting, with a real Celery worker
(``start_worker``, consuming from its own Redis on a free loopback port) and DynamoDB Local.

Two tiny bench tasks are registered here: a tenant job (goes through ``TenantTask``: header
restored, tenant status checked against the directory, cached) and a platform job (no tenant), so
the figures also show what the tenant propagation costs per job. Jobs are sent one at a time, each
after the previous one started, so the figure is queueing-free latency. Also measured: order
placement through the service (one transaction + broker check + two enqueues) and placement ->
confirmed.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_orders.py
"""
from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from decimal import Decimal

sys.path.insert(0, os.path.dirname(__file__))
from _common import percentiles, setup_django, size

SAMPLES = size(int(os.environ.get("BENCH_SAMPLES", "300")), 3)
WARMUP = size(20, 1)


def main() -> None:
    setup_django()
    import logging

    from celery.contrib.testing.worker import start_worker

    from devstack.services import Redis
    from orders import services
    from orders.models import Order
    from products.services import create_product
    from saas.celery import app
    from saas.tenancy import tenant_context
    from tenants.services import create_pooled_tenant
    from tests.jobs.harness import use_broker

    logging.disable(logging.INFO)  # keep the figures readable (system-context and task logs)
    started: dict[str, float] = {}
    arrived = threading.Event()

    @app.task(name="bench.tenant_job")
    def tenant_job(job_id: str) -> None:
        started[job_id] = time.time()
        arrived.set()

    @app.task(name="bench.platform_job", tenant_scoped=False)
    def platform_job(job_id: str) -> None:
        started[job_id] = time.time()
        arrived.set()

    def latencies(task, count: int) -> list[float]:
        samples = []
        for _ in range(count):
            job_id = uuid.uuid4().hex
            arrived.clear()
            enqueued = time.time()
            task.apply_async(args=[job_id])
            if not arrived.wait(10):
                raise RuntimeError("a bench job did not start within 10 s")
            samples.append(started.pop(job_id) - enqueued)
        return samples

    redis = Redis().start()
    try:
        with use_broker(redis.url()), start_worker(app, pool="threads", concurrency=4, perform_ping_check=False,
                                                    loglevel="WARNING", shutdown_timeout=10):
            tenant = create_pooled_tenant(name="bench orders", tier="basic", owner_id="bench-user",
                                          owner_email="bench@example.test")
            with tenant_context(tenant["id"], user_id="bench-user", roles={"admin"}):
                latencies(tenant_job, WARMUP)
                tenant_samples = latencies(tenant_job, SAMPLES)
            latencies(platform_job, WARMUP)
            platform_samples = latencies(platform_job, SAMPLES)

            with tenant_context(tenant["id"], user_id="bench-user", roles={"admin"}):
                product = create_product(sku=f"BENCH-{uuid.uuid4().hex[:8]}", name="Bench", price=Decimal("1.00"), currency="EUR",
                                         stock=10**6)
                place, confirm = [], []
                for _ in range(size(60, 12)):
                    t0 = time.perf_counter()
                    order_id = services.place_order(lines=[{"product_id": product["id"], "quantity": 1}]).order["id"]
                    placed = time.perf_counter()
                    place.append(placed - t0)
                    while Order.objects.get(order_id, consistent=True)["status"] == "pending":
                        time.sleep(0.002)
                    confirm.append(time.perf_counter() - placed)
    finally:
        redis.stop()

    def line(name: str, samples: list[float]) -> str:
        p = percentiles(samples)
        return f"  {name:<44} p50 {p['p50'] * 1000:7.2f} ms   p99 {p['p99'] * 1000:7.2f} ms   (n={len(samples)})"

    print("enqueue -> task body start (real worker, Redis, sequential jobs)")
    print(line("tenant job (header + tenant check, cached)", tenant_samples))
    print(line("platform job (no tenant)", platform_samples))
    overhead = percentiles(tenant_samples)["p50"] - percentiles(platform_samples)["p50"]
    print(f"  tenant propagation overhead at p50: {overhead * 1000:+.2f} ms")
    print("orders")
    print(line("place_order (service, incl. broker check)", place[10:]))
    print(line("placed -> confirmed (observed by polling)", confirm[10:]))


if __name__ == "__main__":
    main()
