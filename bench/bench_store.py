"""DynamoDB round trips per manager operation, and the manager's overhead against raw boto3.

"Raw" issues the identical GetItem / Query with the same client and keys, with no context,
key building, cursor signing or tenant check. The ratio is manager time / raw time (p50).

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_store.py
"""
from __future__ import annotations

from _common import CallCounter, interleaved, percentiles, setup_django, size

setup_django()

from saas import aws  # noqa: E402
from saas.tenancy import tables, tenant_context  # noqa: E402
from saas.tenancy.store import TenantModel, router, serialize  # noqa: E402

ITERATIONS = size(400, 3)


class BenchItem(TenantModel):
    entity = "BENCHITEM"


def main() -> None:
    tables.ensure_all()
    counter = CallCounter()
    ddb = aws.client("dynamodb")
    tenant = "bench-store"
    with tenant_context(tenant):
        # Round trips per operation (routing warmed first, as on a warm process).
        router.table_for(tenant)
        with counter.counting() as create_calls:
            item = BenchItem.objects.create(name="x", n=1)
        with counter.counting() as get_calls:
            BenchItem.objects.get(item["id"])
        with counter.counting() as update_calls:
            BenchItem.objects.update(item["id"], expected_version=1, n=2)
        for n in range(30):
            BenchItem.objects.create(name=f"fill{n}", n=n)
        with counter.counting() as page_calls:
            BenchItem.objects.query(limit=20)
        with counter.counting() as delete_calls:
            BenchItem.objects.delete(item["id"], expected_version=2)
        print("DynamoDB round trips per manager operation (expected 1 each):")
        for name, calls in (("get", get_calls), ("create", create_calls), ("update", update_calls),
                            ("delete", delete_calls), ("query page", page_calls)):
            print(f"  {name:<11} {len(calls)}  {calls}")
        assert "Scan" not in counter.calls

        target = BenchItem.objects.create(name="target", n=0)
        table = router.table_for(tenant)
        key = serialize({"PK": f"TENANT#{tenant}#BENCHITEM", "SK": target["id"]})
        samples = interleaved({
            "manager get": lambda: BenchItem.objects.get(target["id"]),
            "raw get": lambda: ddb.get_item(TableName=table, Key=key),
            "manager page": lambda: BenchItem.objects.query(limit=20),
            "raw page": lambda: ddb.query(TableName=table, KeyConditionExpression="PK = :pk",
                                          ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant}#BENCHITEM"}},
                                          Limit=20),
        }, ITERATIONS)
    stats = {name: percentiles(s) for name, s in samples.items()}
    print(f"\nLatency over {ITERATIONS} interleaved iterations (ms):")
    for name, p in stats.items():
        print(f"  {name:<13} p50 {p['p50'] * 1000:7.3f}   p99 {p['p99'] * 1000:7.3f}")
    for op in ("get", "page"):
        ratio = stats[f"manager {op}"]["p50"] / stats[f"raw {op}"]["p50"]
        print(f"manager/raw p50 ratio, {op}: {ratio:.3f}")


if __name__ == "__main__":
    main()
