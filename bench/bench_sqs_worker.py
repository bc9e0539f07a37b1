"""Jobs through SQS and the Lambda worker: the moto server's SQS, this process publishing with
kombu's SQS transport, the worker stage's Zappa handler in a separate read-only process (a warm
container) fed by devstack's poller (the event source mapping's job: receive, invoke, delete).

The job is ``orders.confirm`` for an order that does not exist: the whole worker path (decode the
kombu envelope, Celery's trace, TenantTask restoring the tenant from the headers, one consistent
DynamoDB read) with no business work, so the figures are the pipeline's own cost.

* latency: enqueue -> the invocation that ran the job has returned (batch size 1, one job at a
  time, no queueing), p50/p99;
* throughput per invocation with batch sizes 1 and 10: records / handler time inside the
  container, and the drain rate of a queue of N jobs (wall clock, receive + invoke + delete).

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_sqs_worker.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import percentiles, setup_django

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
QUEUED = int(os.environ.get("BENCH_QUEUED", "300"))
WARMUP = 10


def main() -> None:
    setup_django()
    import logging

    from orders.tasks import confirm_order
    from saas.tenancy import tables, tenant_context
    from tenants.services import create_pooled_tenant
    from tests.sqs.harness import LambdaWorker, make_queues, use_sqs_broker

    logging.disable(logging.INFO)
    tables.ensure_all()
    tenant = create_pooled_tenant(name="Bench SQS", tier="basic", owner_id="bench-owner", owner_email="b@example.test")
    jobs = make_queues(visibility=60)
    worker = LambdaWorker(jobs, extra_env={"TENANT_JOB_CACHE_SECONDS": "5"})  # production default
    try:
        with use_sqs_broker(jobs.url):
            source = worker.event_source(batch_size=1)

            publishes: list[float] = []

            def one() -> float:
                with tenant_context(tenant["id"]):
                    began = time.perf_counter()
                    confirm_order.apply_async(args=["bench-missing-order"])
                    publishes.append(time.perf_counter() - began)
                while not source.poll_once():
                    pass
                assert source.batches[-1]["deleted"], source.batches[-1]
                return time.perf_counter() - began

            for _ in range(WARMUP):
                one()
            del publishes[:], source.batches[:]
            latency = percentiles([one() for _ in range(SAMPLES)])
            handler = percentiles([b["result"]["seconds"] for b in source.batches])
            print(f"enqueue -> job finished (batch size 1, warm container): "
                  f"p50 {latency['p50'] * 1000:.1f} ms, p99 {latency['p99'] * 1000:.1f} ms  (n={SAMPLES}); of which "
                  f"publish (SendMessage) p50 {statistics.median(publishes) * 1000:.1f} ms, handler in the container "
                  f"p50 {handler['p50'] * 1000:.1f} ms / p99 {handler['p99'] * 1000:.1f} ms")

            for batch_size in (1, 10):
                with tenant_context(tenant["id"]):
                    for _ in range(QUEUED):
                        confirm_order.apply_async(args=["bench-missing-order"])
                drain = worker.event_source(batch_size=batch_size)
                drain.container = source.container  # the same warm container
                began, done = time.perf_counter(), 0
                while done < QUEUED:
                    done += drain.poll_once()
                wall = time.perf_counter() - began
                rates = [len(b["received"]) / b["result"]["seconds"] for b in drain.batches if "response" in b["result"]]
                print(f"batch size {batch_size:>2}: {statistics.median(rates):7.1f} jobs/s per invocation (handler "
                      f"time, median of {len(rates)} invocations); drain {QUEUED / wall:6.1f} jobs/s wall "
                      f"(receive + invoke + delete, one poller)")
                drain.container = None
            source.stop()
    finally:
        worker.close()


if __name__ == "__main__":
    main()
