"""Plan limits (one PLAN_LIMITS table, exact under concurrency, a plan_limit error naming the limit)
and daily usage counters aggregated in process."""
from __future__ import annotations

import threading

import pytest

from products import services as product_services
from saas import limits, usage
from saas.tenancy import tenant_context
from saas.usage import UsageDay
from tests.factories import invite_and_accept
from tests.products.factories import create_product, product_payload


@pytest.fixture
def tight_products(settings):
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "products": 3}}


def test_product_limit_names_the_limit_and_writes_nothing(tenant_a, manager, tight_products):
    client = manager.client()
    created = [create_product(client) for _ in range(3)]
    refused = client.post("/api/v1/products", product_payload(sku="OVER-1"), format="json")
    assert refused.status_code == 403
    assert refused.json() == {"code": "plan_limit", "limit": "products", "max": 3, "tier": "basic",
                              "message": refused.json()["message"]}
    assert "3 products" in refused.json()["message"]
    assert len(client.get("/api/v1/products").json()["results"]) == 3
    # The SKU was not claimed: once a slot is freed the same SKU can be created.
    assert client.delete(f"/api/v1/products/{created[0]['id']}").status_code == 204
    assert client.post("/api/v1/products", product_payload(sku="OVER-1"), format="json").status_code == 201


def test_the_limit_is_exact_under_concurrent_creation(tenant_a, tight_products):
    outcomes: list[str] = []

    def create(n: int) -> None:
        with tenant_context(tenant_a.id, user_id="u", roles={"admin"}):
            try:
                product_services.create_product(sku=f"RACE-{n}", name="x", price="1.00", currency="USD")
                outcomes.append("created")
            except limits.PlanLimitExceeded:
                outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with tenant_context(tenant_a.id):
        stored = product_services.Product.objects.query(limit=100).items
    assert len(stored) == 3 and outcomes.count("created") == 3 and outcomes.count("refused") == 5


def test_limits_follow_the_tier(make_tenant, settings):
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "products": 1},
                            "premium": {**settings.PLAN_LIMITS["premium"], "products": 2}}
    premium = make_tenant(tier="premium")
    client = premium.admin.client()
    create_product(client)
    create_product(client)
    assert client.post("/api/v1/products", product_payload(), format="json").json()["max"] == 2


def test_usage_is_counted_in_process_and_flushed_in_one_write_per_tenant_day(tenant_a, manager, settings):
    settings.USAGE_FLUSH_SECONDS = 3600  # no flush on the request path during this test
    usage.flush()
    client = manager.client()
    for _ in range(5):
        assert client.get("/api/v1/products").status_code == 200
    product = create_product(client)
    client.post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]}, format="json")
    with tenant_context(tenant_a.id):
        assert UsageDay.objects.query().items == []  # nothing written per request
    assert usage.counter.pending(tenant_a.id)["api_requests"] >= 7
    assert usage.flush() >= 1
    with tenant_context(tenant_a.id):
        row = UsageDay.objects.get(usage.today())
    assert int(row["api_requests"]) >= 7 and int(row["orders_placed"]) == 1

    # Settings -> Usage: admins see the days, and the plan's limits with what is used.
    body = tenant_a.admin.client().get("/api/v1/tenants/current/usage").json()
    today = body["days"][0]
    assert today["day"] == usage.today() and today["orders_placed"] == 1 and today["api_requests"] >= 7
    products_limit = next(item for item in body["limits"] if item["limit"] == "products")
    assert products_limit == {"limit": "products", "max": 100, "used": 1}
    assert manager.client().get("/api/v1/tenants/current/usage").status_code == 403


def test_platform_admins_see_a_tenants_usage(tenant_a, manager, make_user):
    platform_admin = make_user(groups=("system_admin",))
    create_product(manager.client())
    usage.flush()
    response = platform_admin.client().get(f"/api/v1/admin/tenants/{tenant_a.id}/usage")
    assert response.status_code == 200
    assert response.json()["days"][0]["api_requests"] >= 1
    assert tenant_a.admin.client().get(f"/api/v1/admin/tenants/{tenant_a.id}/usage").status_code == 403


def test_member_limit_counts_the_owner_and_frees_a_slot_on_removal(tenant_a, settings, make_user):
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "members": 2}}
    admin = tenant_a.admin.client()
    m1, m2 = make_user(), make_user()
    assert invite_and_accept(tenant_a.admin, m1, "viewer").status_code == 200
    refused = admin.post("/api/v1/tenants/current/members", {"email": m2.email, "role": "viewer"},
                         format="json")
    assert refused.status_code == 403 and refused.json()["limit"] == "members" and refused.json()["max"] == 2
    assert len(admin.get("/api/v1/tenants/current/members").json()["results"]) == 2
    assert admin.delete(f"/api/v1/tenants/current/members/{m1.sub}").status_code == 204
    assert invite_and_accept(tenant_a.admin, m2, "viewer").status_code == 200


def test_settings_usage_shows_the_webhook_subscriptions_in_use(tenant_a):
    from devstack.webhook_receiver import Receiver

    receiver = Receiver()
    try:
        admin = tenant_a.admin.client()
        for event_type in ("order.created", "product.updated"):
            response = admin.post("/api/v1/webhooks/subscriptions", {"event_type": event_type,
                                                                      "url": receiver.url("/hook")}, format="json")
            assert response.status_code == 201, response.content
        limits_shown = {row["limit"]: row for row in admin.get("/api/v1/tenants/current/usage").json()["limits"]}
        assert limits_shown["webhook_subscriptions"]["used"] == 2
    finally:
        receiver.stop()
