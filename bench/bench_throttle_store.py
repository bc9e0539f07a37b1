"""The price of budgets shared across containers (saas.throttling): GET /api/v1/products/{id} with
the tenant's budget kept per process (THROTTLE_SHARED_STORE="cache", the old way) vs in DynamoDB
through leased slices ("dynamodb"), interleaved in one process against DynamoDB Local.

The bench sends far more than a real tenant's rate, so the rate is raised and the slice sizes are set
by THROTTLE_LEASE_SLICES / THROTTLE_LEASE_MIN_SLICES to what a real tier gets: premium (100/s) leases
a first slice of 10 growing to at most 25 (a quarter of its budget), a tier with 40/s 4 growing to
10. A slice is leased in the background once half of the one in hand is spent, the next window's
first one late in the current window. The target: p50 with the shared store <= 1.05 x the per-process p50.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_throttle_store.py
"""
from __future__ import annotations

import os
import statistics
import time
from collections import Counter

from _common import CallCounter, interleaved, percentiles, setup_django, signed_in_tenant, size

os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["THROTTLE_RATE_PREMIUM"] = "100000/s"
setup_django()

from django.test import Client, override_settings  # noqa: E402

from products.services import seed_demo_products  # noqa: E402

ITERATIONS = size(1500, 3)
# name: (store, slices, min slices): first slice ceil(100000 / slices), largest ceil(100000 / min slices);
# each variant has its own tenant.
VARIANTS = {
    "per process (before)": ("cache", 10, 4),
    "shared, slice 10-25 (premium)": ("dynamodb", 10_000, 4_000),
    "shared, slice 4-10": ("dynamodb", 25_000, 10_000),
}


def main() -> None:
    clients = {}
    for name in VARIANTS:
        token, tenant = signed_in_tenant(tier="premium", name="Bench throttle store")
        product = seed_demo_products(tenant_id=tenant["id"], count=5)[2]
        clients[name] = (Client(HTTP_AUTHORIZATION=f"Bearer {token}"), f"/api/v1/products/{product['id']}")
    url = "/api/v1/products/{id}"
    counter = CallCounter()
    calls: Counter = Counter()
    runs: Counter = Counter()

    def request(name: str):
        store, slices, min_slices = VARIANTS[name]
        client, path = clients[name]

        def run():
            with override_settings(THROTTLE_SHARED_STORE=store, THROTTLE_LEASE_SLICES=slices,
                                   THROTTLE_LEASE_MIN_SLICES=min_slices):
                before = len(counter.calls)
                assert client.get(path).status_code == 200
                calls[name] += sum(1 for op in counter.calls[before:] if op == "UpdateItem")
                runs[name] += 1
        return run

    samples = interleaved({name: request(name) for name in VARIANTS}, ITERATIONS, warmup=size(50, 1))
    base = percentiles(samples["per process (before)"])["p50"]
    base_mean = statistics.fmean(samples["per process (before)"])
    print(f"GET {url}, {ITERATIONS} interleaved iterations each (time: {time.strftime('%H:%M')})\n")
    print(f"  {'budget kept':<28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'p50 x':>7} {'mean x':>7}  leases/request")
    for name, s in samples.items():
        p = percentiles(s)
        mean = statistics.fmean(s)
        print(f"  {name:<28} {p['p50'] * 1000:8.3f} {p['p99'] * 1000:8.3f} {mean * 1000:8.3f} "
              f"{p['p50'] / base:7.3f} {mean / base_mean:7.3f}  {calls[name] / runs[name]:.3f}")
    print("\n  target: p50 shared / per process <= 1.05")


if __name__ == "__main__":
    main()
