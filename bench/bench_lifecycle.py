"""Tenant lifecycle: audit overhead on a product update, export and offboarding throughput.

* **audit overhead** — ``products.services.update_product`` (consistent GetItem + one
  TransactWriteItems with the product, its outbox event and, with audit, the audit record and the
  chain head) with audit vs the same call with the audit entries dropped; interleaved, p50 ratio
  (target <= 1.10) and DynamoDB calls per update (the chain head is cached per process, so audit
  adds no round trip in the common case).
* **export** — a tenant of 10,000 products (plus their 10,000 SKU records): ``exports.services.run_export``
  (query every exportable partition, NDJSON into a zip, upload to the moto server's S3), items/s.
* **offboarding** — the same tenant: ``tenants.offboarding.run_offboarding`` past its grace period
  (every partition queried and deleted page by page in counted transactions, S3 prefix, platform
  items, receipt), items deleted/s.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_lifecycle.py [--items 10000]
"""
from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from contextlib import contextmanager
from unittest import mock

from _common import SMOKE, CallCounter, interleaved, percentiles, setup_django, signed_in_tenant

os.environ.setdefault("LOG_LEVEL", "WARNING")
setup_django()

from django.conf import settings  # noqa: E402

import audit  # noqa: E402
from exports import services as export  # noqa: E402
from products import services as product_services  # noqa: E402
from products.models import Product, ProductSku  # noqa: E402
from saas import buckets  # noqa: E402
from saas.tenancy import tables, tenant_context  # noqa: E402
from saas.tenancy.store import new_id, transact_write  # noqa: E402
from tenants import offboarding  # noqa: E402
from usage import services as usage  # noqa: E402


class _NoRecords:
    """A unit-of-work contributor that adds nothing: the audit records left out."""

    def operations(self):
        return []

    def retry(self, failed, attempt):
        return False

    def finished(self, committed):
        pass


@contextmanager
def audit_disabled():
    """The same transaction without its audit entries (what the code did before the trail)."""
    with mock.patch.object(audit, "records", lambda entries: _NoRecords()):
        yield


def bench_audit_overhead(tenant_id: str, iterations: int) -> dict:
    with tenant_context(tenant_id, user_id="bench", roles={"admin"}, tier="premium"):
        audited = product_services.create_product(sku="BENCH-A", name="a", price="1.00", currency="USD")
        plain = product_services.create_product(sku="BENCH-P", name="p", price="1.00", currency="USD")
        counter = {"n": 0}

        def with_audit():
            counter["n"] += 1
            product_services.update_product(product_id=audited["id"], changes={"name": f"a{counter['n']}"})

        def without():
            counter["n"] += 1
            with audit_disabled():
                product_services.update_product(product_id=plain["id"], changes={"name": f"p{counter['n']}"})

        samples = interleaved({"audit": with_audit, "no_audit": without}, iterations)
        calls = CallCounter()
        per_call = {}
        for name, fn in (("audit", with_audit), ("no_audit", without)):
            with calls.counting() as seen:
                for _ in range(20):
                    fn()
            per_call[name] = Counter(seen)
    p = {name: percentiles(s) for name, s in samples.items()}
    return {"p50_ms": {k: round(v["p50"] * 1000, 2) for k, v in p.items()},
            "ratio_p50": round(p["audit"]["p50"] / p["no_audit"]["p50"], 3),
            "calls_per_update": {k: {op: n / 20 for op, n in c.items()} for k, c in per_call.items()}}


def seed(tenant_id: str, count: int) -> None:
    """``count`` products and their SKU records, 50 products (100 items) per transaction."""
    with tenant_context(tenant_id, user_id="bench", roles={"admin"}, tier="premium"):
        for start in range(0, count, 50):
            ops = []
            for n in range(start, min(start + 50, count)):
                product_id = new_id()
                sku = f"SEED-{n:06d}"
                ops.append(ProductSku.objects.create_op(id=sku, product_id=product_id)[0])
                ops.append(Product.objects.create_op(id=product_id, sku=sku, name=f"Seeded {n}", description="",
                                                     price=1, currency="USD", stock=5, category="seeded")[0])
            transact_write(ops)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000, help="products in the exported/offboarded tenant")
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--only-audit", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a handful of items and iterations (the suite's check)")
    args = parser.parse_args()
    if args.smoke or SMOKE:
        args.items, args.iterations = 20, 3
    tables.ensure_all()
    buckets.ensure_bucket()
    settings.OFFBOARDING_GRACE_SECONDS = 0

    _, tenant = signed_in_tenant(tier="premium", name="Bench audit")
    overhead = bench_audit_overhead(tenant["id"], args.iterations)
    print("audit overhead on a product update:", overhead)
    if args.only_audit:
        return

    _, big = signed_in_tenant(tier="premium", name="Bench big")
    started = time.perf_counter()
    seed(big["id"], args.items)
    print(f"seeded {args.items} products (+{args.items} SKU records) in {time.perf_counter() - started:.1f}s")

    with tenant_context(big["id"], user_id="bench", roles={"admin"}, tier="premium"):
        job = export.request_export()
        started = time.perf_counter()
        done = export.run_export(export_id=job["id"])
        elapsed = time.perf_counter() - started
    items = int(done["items"])
    print(f"export: {items} items, {int(done['size'])} bytes in {elapsed:.2f}s = {items / elapsed:.0f} items/s")

    record = offboarding.schedule_offboarding(tenant_id=big["id"], actor_id="bench")
    offboarding.run_offboarding(tenant_id=big["id"], now=int(record["delete_after"]) - 1)  # final export only
    started = time.perf_counter()
    finished = offboarding.run_offboarding(tenant_id=big["id"])
    elapsed = time.perf_counter() - started
    deleted = sum(int(v) for v in finished["receipt"].values())
    print(f"offboarding: {deleted} items deleted in {elapsed:.2f}s = {deleted / elapsed:.0f} items/s "
          f"(receipt: {finished['receipt']})")
    usage.counter.discard(big["id"])
    audit.heads.forget()


if __name__ == "__main__":
    main()
