"""Find by SKU or name prefix: Queries with begins_with on the tenant's index partitions, never a scan."""
from __future__ import annotations

from products import selectors, services
from saas import aws
from saas.tenancy import tenant_context


def create(tenant_id, sku, name):
    with tenant_context(tenant_id, roles={"admin"}):
        return services.create_product(sku=sku, name=name, price="1.00", currency="USD", stock=1)


def test_search_by_sku_or_name_prefix_is_a_begins_with_query_inside_the_tenant(tenant_a, tenant_b):
    create(tenant_a.id, "TEA-001", "Earl Grey")
    create(tenant_a.id, "TEA-002", "  earl  of sandwich mug")
    create(tenant_a.id, "COF-001", "Teapot")
    create(tenant_b.id, "TEA-003", "Earl Grey (other tenant)")
    queries = []

    def record(params, **kwargs):
        queries.append(params)

    session = aws.botocore_session()
    session.register("before-parameter-build.dynamodb.Query", record)
    aws.reset_clients()  # clients copy the session's handlers when they are made
    try:
        with tenant_context(tenant_a.id, roles={"viewer"}):
            by_sku = selectors.search_products(text="tea-00")
            by_name = selectors.search_products(text="EARL ")
            both = selectors.search_products(text="tea")
            nothing = selectors.search_products(text="zzz")
    finally:
        session.unregister("before-parameter-build.dynamodb.Query", record)
        aws.reset_clients()

    assert sorted(p["sku"] for p in by_sku) == ["TEA-001", "TEA-002"]
    assert sorted(p["sku"] for p in by_name) == ["TEA-001", "TEA-002"]
    assert [p["sku"] for p in both] == ["TEA-001", "TEA-002", "COF-001"]  # SKU matches first, then names
    assert nothing == []
    assert queries and all("begins_with" in q["KeyConditionExpression"] for q in queries)
    partitions = [v["S"] for q in queries for v in q["ExpressionAttributeValues"].values() if "S" in v]
    assert all(not p.startswith("TENANT#") or p.startswith(f"TENANT#{tenant_a.id}#") for p in partitions)
