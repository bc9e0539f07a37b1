"""Fairness of the job queue: tenant B's order confirmation while tenant A's burst of 40 exports is
queued, with the local stack's worker (``celery -A saas worker``, prefork, 2 processes, as
``devstack up`` runs it) on a Redis of its own and DynamoDB Local.

B places orders one after the other (the service, in B's context); each sample is placed ->
confirmed by the worker (observed by polling the order). Measured alone, then while A's burst of
40 exports is queued (a sample counts when B's order is placed while A still has exports open; a
burst is repeated until there are enough). Two worker set-ups:

* fair (now): exports are bulk jobs (lowest priority, one running per tenant: ``saas.fairness``);
* unfair (before): the same exports published at the default priority and no per-tenant limit,
  i.e. one FIFO queue as before.

Target: B's p99 beside A's burst <= 1.5 x its p99 alone.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_fairness.py
"""
from __future__ import annotations

import os
import sys
import time
import uuid
from decimal import Decimal

sys.path.insert(0, os.path.dirname(__file__))
from _common import percentiles, setup_django, size

BURST = size(40, 6)
SAMPLES = size(int(os.environ.get("BENCH_SAMPLES", "40")), 3)
# Beside a burst: unfair, a confirmation waits for the whole burst, so each burst gives one sample.
BESIDE = size(int(os.environ.get("BENCH_BESIDE_SAMPLES", "15")), 2)
WORKER_ENV = {"TENANT_JOB_CACHE_SECONDS": "5", "ORDERS_FULFILMENT_DELAY_SECONDS": "0"}


class Bench:
    def __init__(self):
        from products.services import create_product, seed_demo_products
        from saas import files
        from saas.tenancy import tenant_context
        from tenants.services import create_pooled_tenant

        files.ensure_bucket()  # the export archives' bucket (a fresh stack has none)
        self.a = create_pooled_tenant(name="Bench burst A", tier="basic", owner_id="bench-a",
                                      owner_email="a@example.test")
        self.b = create_pooled_tenant(name="Bench quiet B", tier="basic", owner_id="bench-b",
                                      owner_email="b@example.test")
        seed_demo_products(tenant_id=self.a["id"], count=20)
        with tenant_context(self.b["id"], user_id="bench-b", roles={"admin"}):
            self.product = create_product(sku=f"BENCH-{uuid.uuid4().hex[:8]}", name="Bench", price=Decimal("1.00"),
                                          currency="EUR", stock=10**6)

    def confirmation(self) -> float:
        from orders import services
        from orders.models import Order
        from saas.tenancy import tenant_context

        with tenant_context(self.b["id"], user_id="bench-b", roles={"admin"}):
            began = time.perf_counter()
            order_id = services.place_order(lines=[{"product_id": self.product["id"], "quantity": 1}]).order["id"]
            placed = time.perf_counter()
            while Order.objects.get(order_id, consistent=True)["status"] == "pending":
                time.sleep(0.002)
                if time.perf_counter() - began > 120:
                    raise RuntimeError("an order was not confirmed within 120 s")
            return time.perf_counter() - placed

    def open_exports(self, ids: list[str]) -> int:
        from saas import export
        from saas.tenancy import tenant_context

        with tenant_context(self.a["id"]):
            return sum(export.get_export(i)["status"] not in ("completed", "failed") for i in ids)

    def burst(self, fair: bool) -> list[str]:
        from saas import export
        from saas.tenancy import tenant_context
        from tenants.tasks import run_export

        with tenant_context(self.a["id"], user_id="bench-a", roles={"admin"}):
            ids = [export.request_export()["id"] for _ in range(BURST)]
            for export_id in ids:
                # unfair: the default priority, as every job had before (an explicit option beats the route)
                run_export.apply_async(args=[export_id], **({} if fair else {"priority": 0}))
        return ids

    def beside_bursts(self, fair: bool) -> tuple[list[float], int, float]:
        beside, bursts, drained = [], 0, []
        while len(beside) < BESIDE:
            if bursts >= BESIDE + 5:
                raise RuntimeError(f"only {len(beside)} samples in {bursts} bursts: do the exports fail?")
            ids, bursts = self.burst(fair), bursts + 1
            began = time.perf_counter()
            while len(beside) < BESIDE and self.open_exports(ids):  # placed while A's burst is still open
                beside.append(self.confirmation())
            while self.open_exports(ids):
                time.sleep(0.2)
            drained.append(time.perf_counter() - began)
        return beside, bursts, sum(drained) / len(drained)

    def measure(self, fair: bool) -> tuple[dict, dict, int, float]:
        from devstack.services import Redis
        from tests.jobs.harness import Worker, use_broker

        redis = Redis().start()
        env = {**WORKER_ENV, **({} if fair else {"BULK_JOBS_PER_TENANT": "1000"})}
        worker = Worker(redis.url(), env=env, concurrency=2, pool="prefork")
        try:
            with use_broker(redis.url()):
                worker.start()
                for _ in range(size(5, 1)):
                    self.confirmation()  # warm up
                alone = [self.confirmation() for _ in range(SAMPLES)]
                beside, bursts, drained = self.beside_bursts(fair)
        finally:
            worker.stop()
            worker.discard_log()
            redis.stop()
        return percentiles(alone), percentiles(beside), bursts, drained


def main() -> None:
    setup_django()
    import logging

    logging.disable(logging.INFO)
    bench = Bench()
    print(f"B's order placed -> confirmed, alone and while A's burst of {BURST} exports is queued "
          f"(worker: prefork, 2 processes; n={SAMPLES} alone, {BESIDE} beside)")
    for fair in (False, True):
        alone, beside, bursts, drained = bench.measure(fair)
        name = "fair (now)" if fair else "unfair (before)"
        print(f"  {name:<16} alone p50 {alone['p50'] * 1000:7.1f} ms p99 {alone['p99'] * 1000:7.1f} ms | beside A "
              f"p50 {beside['p50'] * 1000:7.1f} ms p99 {beside['p99'] * 1000:7.1f} ms | p99 x "
              f"{beside['p99'] / alone['p99']:.2f} | {bursts} burst(s), each drained in {drained:.1f} s")
    print("  target: p99 beside A's burst <= 1.5 x p99 alone")


if __name__ == "__main__":
    main()
