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


def test_words_anywhere_in_the_name_with_the_category_a_true_count_and_sorting(tenant_a, tenant_b):
    with tenant_context(tenant_a.id, roles={"admin"}):
        made = services.create_products(products=[
            {"sku": f"BLD-{n:03d}", "name": f"House Blend No {n}", "price": f"{n}.00", "currency": "USD",
             "category": "coffee" if n % 2 else "tea"} for n in range(1, 61)])
        services.create_product(sku="EG-1", name="Earl Grey Tea", price="7.20", currency="USD", category="tea")
    with tenant_context(tenant_b.id, roles={"admin"}):
        services.create_product(sku="BLD-999", name="Blend of another tenant", price="1.00", currency="USD")
    queries = []

    def record(params, **kwargs):
        queries.append(params)

    session = aws.botocore_session()
    session.register("before-parameter-build.dynamodb.Query", record)
    aws.reset_clients()
    try:
        with tenant_context(tenant_a.id, roles={"viewer"}):
            blend = selectors.find_products(text="Blend", limit=20)
            in_tea = selectors.find_products(text="blend", category="tea", sort="-price", limit=5)
            two_words = selectors.find_products(text="no 4 blend", limit=20)
            grey = selectors.find_products(text="grey", limit=20)
            sku = selectors.find_products(text="bld-00", limit=20)
    finally:
        session.unregister("before-parameter-build.dynamodb.Query", record)
        aws.reset_clients()

    assert blend.count == 60 and len(blend.products) == 20  # the true count, one page of products
    assert blend.products[0]["name"] == "House Blend No 1"  # by name
    assert in_tea.count == 30 and [p["price"] for p in in_tea.products] == [60, 58, 56, 54, 52]
    assert {p["name"] for p in two_words.products} == {"House Blend No 4", *{f"House Blend No {n}" for n in range(40, 50)}}
    assert [p["sku"] for p in grey.products] == ["EG-1"]  # a word in the middle of the name
    assert sku.count == 9  # BLD-001 ... BLD-009: the start of a SKU
    # Every read is a keyed Query: a prefix of the word index or counters, or one word's by_price partition.
    assert all("begins_with" in q["KeyConditionExpression"]
               or (q.get("IndexName") == "GSI1" and any("#PRODUCTWORD#PRICE#" in v.get("S", "")
                                                       for v in q["ExpressionAttributeValues"].values()))
               for q in queries)
    partitions = [v["S"] for q in queries for v in q["ExpressionAttributeValues"].values() if "S" in v]
    assert all(not p.startswith("TENANT#") or p.startswith(f"TENANT#{tenant_a.id}#") for p in partitions)
    assert made


def test_the_word_index_follows_renames_category_changes_and_deletes(tenant_a):
    with tenant_context(tenant_a.id, roles={"admin"}):
        product = services.create_product(sku="MUG-1", name="Stoneware Mug", price="11.00", currency="USD")
        services.update_product(product_id=product["id"], changes={"name": "Enamel Camp Mug", "category": "supplies"})
        assert selectors.find_products(text="stoneware").count == 0
        assert [p["sku"] for p in selectors.find_products(text="camp", category="supplies").products] == ["MUG-1"]
        services.update_product(product_id=product["id"], changes={"stock": 5})  # not indexed: no rewrite
        assert selectors.find_products(text="enamel").count == 1
        services.delete_product(product_id=product["id"])
        assert selectors.find_products(text="mug").count == 0


def test_counts_come_from_the_counters_and_stay_true_through_shared_prefixes_and_changes(tenant_a):
    """A product with several words starting with the query ("Tea Teapot" for "tea") is counted once;
    the counters follow renames, category changes and deletes; names sort as people expect ("Tea"
    before "Tea Pot"); the count is read from the counters, not from the matching items."""
    with tenant_context(tenant_a.id, roles={"admin"}):
        pot = services.create_product(sku="TP-1", name="Green Tea Teapot", price="30.00", currency="USD", category="tea")
        services.create_product(sku="T-1", name="Tea", price="3.00", currency="USD", category="tea")
        services.create_product(sku="TL-1", name="Teal Tea Teapot Towel", price="9.00", currency="USD")
        services.create_product(sku="MUG-9", name="Mug", price="5.00", currency="USD", category="tea")
        assert selectors.find_products(text="tea").count == 3
        assert [p["sku"] for p in selectors.find_products(text="tea").products] == ["TP-1", "T-1", "TL-1"]
        assert selectors.find_products(text="tea", category="tea").count == 2
        assert selectors.find_products(text="teap").count == 2
        assert selectors.find_products(text="teal").count == 1
        assert [p["sku"] for p in selectors.find_products(text="tea", sort="price").products] == ["T-1", "TL-1", "TP-1"]
        assert [p["name"] for p in selectors.find_products(text="tea t").products][:1] == ["Green Tea Teapot"]

        services.update_product(product_id=pot["id"], changes={"category": "gifts"})
        assert selectors.find_products(text="tea", category="tea").count == 1
        assert selectors.find_products(text="teapot", category="gifts").count == 1
        services.update_product(product_id=pot["id"], changes={"name": "Green Kettle"})
        assert selectors.find_products(text="tea").count == 2
        assert selectors.find_products(text="kettle", category="gifts").count == 1
        services.update_product(product_id=pot["id"], changes={"price": "31.00"})  # moves no counter
        assert selectors.find_products(text="kettle").count == 1
        services.delete_product(product_id=pot["id"])
        assert selectors.find_products(text="kettle").count == 0
        assert selectors.find_products(text="tea").count == 2
        services.create_product(sku="TPOT", name="Tea Pot", price="8.00", currency="USD")
        assert [p["name"] for p in selectors.find_products(text="tea").products] == ["Tea", "Tea Pot", "Teal Tea Teapot Towel"]

    reads = []

    def record(params, **kwargs):
        reads.append(params)

    session = aws.botocore_session()
    session.register("before-parameter-build.dynamodb.Query", record)
    aws.reset_clients()
    try:
        with tenant_context(tenant_a.id, roles={"viewer"}):
            first = selectors.find_products(text="tea", limit=1)
    finally:
        session.unregister("before-parameter-build.dynamodb.Query", record)
        aws.reset_clients()
    assert first.count == 3 and [p["name"] for p in first.products] == ["Tea"]
    partitions = [next(v["S"] for k, v in q["ExpressionAttributeValues"].items() if v.get("S", "").startswith("TENANT#"))
                  for q in reads]
    # The counters; "TEA" is also a SKU prefix (counted, none match); then one page of each word that
    # starts with "tea" (tea, teal, teapot), merged in name order.
    assert [p.rsplit("#", 1)[1] for p in partitions] == ["PRODUCTWORDN", "SKU", *["PRODUCTWORD"] * 3]
    assert reads[1]["Select"] == "COUNT" and all(q["Limit"] <= 100 for q in reads[2:])
