"""``manage.py backfill_usage``: a tenant that existed before usage counting and plan-limit counters
gets today's baseline, real quota counters (so its plan limits hold) and its past orders per day —
idempotently."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from django.conf import settings as django_settings
from django.core.management import call_command

from saas import aws, files, usage
from saas.tenancy.store import serialize
from tests.products.factories import create_product

from .factories import trail
from .test_product_images import png, start, upload


def _raw_delete_partition(tenant_id: str, entity: str) -> None:
    """Make the tenant look like one created before counting: no such items at all."""
    client, table = aws.client("dynamodb"), django_settings.DYNAMODB_TABLE
    items = client.query(TableName=table, KeyConditionExpression="PK = :pk",
                         ExpressionAttributeValues=serialize({":pk": f"TENANT#{tenant_id}#{entity}"}))["Items"]
    for item in items:
        client.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})


def _raw_set_created_at(tenant_id: str, entity: str, item_id: str, when: str) -> None:
    aws.client("dynamodb").update_item(
        TableName=django_settings.DYNAMODB_TABLE, Key=serialize({"PK": f"TENANT#{tenant_id}#{entity}", "SK": item_id}),
        UpdateExpression="SET created_at = :c", ExpressionAttributeValues=serialize({":c": when}))


def _limits(client) -> dict:
    return {row["limit"]: row["used"] for row in client.get("/api/v1/tenants/current/usage").json()["limits"]}


def test_backfill_sets_the_baseline_and_real_counters_idempotently(tenant_a, make_user, settings):
    admin = tenant_a.admin.client()
    tenant_a.add(make_user, "manager")
    products = [create_product(admin, name=f"Old {n}", stock=10) for n in range(3)]
    form = start(admin, products[0]["id"])
    upload(form, png())
    assert admin.put(f"/api/v1/products/{products[0]['id']}/image", {"upload_id": form["upload_id"]},
                     format="json").status_code == 200
    order = admin.post("/api/v1/orders", {"lines": [{"product_id": products[1]["id"], "quantity": 1}]}, format="json")
    assert order.status_code in (201, 202), order.content
    usage.counter.discard(tenant_a.id)
    # As it was before counting existed: no usage, no quota counters, an order placed days ago.
    for entity in ("USAGE", "QUOTA"):
        _raw_delete_partition(tenant_a.id, entity)
    three_days_ago = datetime.now(timezone.utc) - timedelta(days=3)
    _raw_set_created_at(tenant_a.id, "ORDER", order.json()["id"], three_days_ago.isoformat().replace("+00:00", "Z"))
    assert _limits(admin) == {"products": 0, "members": 0, "webhook_subscriptions": 0, "webhook_endpoints": 0}
    stored = files.prefix_bytes(tenant_a.id)
    assert stored > 0

    for _ in range(2):  # idempotent: the second run changes nothing
        call_command("backfill_usage", "--tenant", tenant_a.id)
        body = admin.get("/api/v1/tenants/current/usage").json()
        assert _limits(admin)["products"] == 3 and _limits(admin)["members"] == 2
        today = body["days"][0]
        assert today["baseline"] == {"products": 3, "stored_bytes": stored}, today
        past = next(d for d in body["days"] if d["day"] == three_days_ago.strftime("%Y-%m-%d"))
        assert past["orders_placed"] == 1
        assert body["totals"]["orders_placed"] == 1

    # The plan's limits hold again: a basic tenant at its product limit is refused.
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "products": 3}}
    refused = admin.post("/api/v1/products", {"sku": "SKU-OVER", "name": "One too many", "price": "1.00",
                                              "currency": "USD", "stock": 1}, format="json")
    assert refused.status_code == 403 and refused.json()["limit"] == "products"
    # The correction of what the plan allows is on the audit trail, once per counter.
    reconciled = [r for r in trail(tenant_a.id) if r["action"] == "limits.reconciled"]
    assert sorted((r["target_id"], r["changes"]["used"]) for r in reconciled) == [("members", [0, 2]), ("products", [0, 3])]


def test_backfill_leaves_counted_days_alone(tenant_a):
    admin = tenant_a.admin.client()
    product = create_product(admin, stock=5)
    assert admin.post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]},
                      format="json").status_code in (201, 202)
    usage.flush()
    before = admin.get("/api/v1/tenants/current/usage").json()["days"][0]
    call_command("backfill_usage", "--tenant", tenant_a.id)
    after = admin.get("/api/v1/tenants/current/usage").json()["days"][0]
    # Today was counted live: the order is not counted a second time; only the baseline is added.
    assert after["orders_placed"] == before["orders_placed"]
    assert after["baseline"]["products"] == 1
