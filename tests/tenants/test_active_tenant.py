"""Active-tenant resolution: identity -> membership record -> TenantContext, never from the request;
switching; the membership cache (0 DynamoDB calls warm; removal felt within the TTL)."""
from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from saas import aws
from saas.tenancy import current_context, system_context, tenant_context
from saas.tenancy.middleware import TenantContextMiddleware
from saas.tenancy.store import transact_write
from tenants import active_tenant, services
from tenants.models import Member, UserMembership
from tests.factories import Clock, invite_and_accept


@pytest.fixture
def two_tenant_user(tenant_a, tenant_b):
    """tenant_a's admin, also a viewer of tenant_b (added second, so A stays their first tenant)."""
    with system_context(reason="test: second membership"):
        transact_write(services.membership_ops(tenant_id=tenant_b.id, user_id=tenant_a.admin.sub,
                                               email=tenant_a.admin.email, role="viewer"))
    return tenant_a.admin


def test_switching_changes_what_the_next_request_sees(two_tenant_user, tenant_a, tenant_b):
    client = two_tenant_user.client()
    assert client.get("/api/v1/tenants/current").json()["name"] == "Tenant A"
    assert client.get("/api/v1/tenants/current/members").status_code == 200  # admin in A
    response = client.put("/api/v1/me/active-tenant", {"tenant_id": tenant_b.id}, format="json")
    assert response.status_code == 200
    assert response.json()["active_tenant"]["id"] == tenant_b.id
    assert response.json()["active_tenant"]["roles"] == ["viewer"]
    current = client.get("/api/v1/tenants/current").json()
    assert current["id"] == tenant_b.id and current["name"] == "Tenant B"
    assert client.get("/api/v1/tenants/current/members").status_code == 403  # only a viewer in B
    # the choice is stored server-side: another token of the same person sees it too
    other = two_tenant_user.client(two_tenant_user.access_token)
    assert other.get("/api/v1/tenants/current").json()["id"] == tenant_b.id
    assert client.put("/api/v1/me/active-tenant", {"tenant_id": tenant_a.id}, format="json").status_code == 200
    assert client.get("/api/v1/tenants/current").json()["id"] == tenant_a.id


def test_after_switching_the_next_request_sees_the_new_tenants_catalogue(two_tenant_user, tenant_a, tenant_b):
    product = {"sku": "B-ONLY-1", "name": "Only in B", "price": "9.99", "currency": "USD", "stock": 3}
    created = tenant_b.admin.client().post("/api/v1/products", product, format="json")
    assert created.status_code == 201, created.content
    client = two_tenant_user.client()
    assert client.get("/api/v1/products").json()["results"] == []  # A's catalogue
    assert client.get(f"/api/v1/products/{created.json()['id']}").status_code == 404  # B's object from A
    assert client.put("/api/v1/me/active-tenant", {"tenant_id": tenant_b.id}, format="json").status_code == 200
    assert [p["sku"] for p in client.get("/api/v1/products").json()["results"]] == ["B-ONLY-1"]
    assert client.get(f"/api/v1/products/{created.json()['id']}").status_code == 200


def test_switching_to_a_tenant_you_are_not_in_is_403_and_reveals_nothing(tenant_a, tenant_b):
    client = tenant_a.admin.client()
    real = client.put("/api/v1/me/active-tenant", {"tenant_id": tenant_b.id}, format="json")
    fake = client.put("/api/v1/me/active-tenant", {"tenant_id": "t-00000000000000000000"}, format="json")
    assert real.status_code == fake.status_code == 403
    assert real.json() == fake.json() and real.json()["code"] == "not_a_member"
    assert client.get("/api/v1/tenants/current").json()["id"] == tenant_a.id


@pytest.mark.parametrize("body", [{}, {"tenant_id": ""}, {"tenant_id": "A#B"}, {"tenant_id": ["x"]},
                                  {"tenant_id": "../../etc"}])
def test_malformed_switch_is_400(tenant_a, body):
    response = tenant_a.admin.client().put("/api/v1/me/active-tenant", body, format="json")
    assert response.status_code == 400 and "tenant_id" in response.json()["fields"]


def test_the_tenant_is_never_taken_from_headers_query_or_body(two_tenant_user, tenant_a, tenant_b):
    client = two_tenant_user.client()
    for kwargs in ({"HTTP_X_TENANT_ID": tenant_b.id}, {"HTTP_TENANT": tenant_b.id},
                   {"HTTP_X_FORWARDED_TENANT": tenant_b.id}):
        assert client.get("/api/v1/tenants/current", **kwargs).json()["id"] == tenant_a.id
    assert client.get("/api/v1/tenants/current", {"tenant_id": tenant_b.id, "tenant": tenant_b.id}).json()["id"] == tenant_a.id
    response = client.patch("/api/v1/tenants/current", {"name": "Renamed A", "tenant_id": tenant_b.id, "id": tenant_b.id},
                            format="json")
    assert response.status_code == 200 and response.json()["id"] == tenant_a.id
    assert tenant_b.admin.client().get("/api/v1/tenants/current").json()["name"] == "Tenant B"


def test_custom_tenant_id_claim_seeds_the_first_active_tenant_only_if_a_member(make_user, tenant_a, tenant_b):
    seeded = make_user(tenant_id=tenant_b.id)
    with system_context(reason="test: memberships"):
        for tenant in (tenant_a, tenant_b):  # A is the older membership
            transact_write(services.membership_ops(tenant_id=tenant.id, user_id=seeded.sub, email=seeded.email,
                                                   role="member"))
    assert seeded.client().get("/api/v1/me").json()["active_tenant"]["id"] == tenant_b.id
    stranger = make_user(tenant_id=tenant_b.id)  # claim names B, but membership only in A
    with system_context(reason="test: membership"):
        transact_write(services.membership_ops(tenant_id=tenant_a.id, user_id=stranger.sub, email=stranger.email,
                                               role="member"))
    assert stranger.client().get("/api/v1/me").json()["active_tenant"]["id"] == tenant_a.id
    nobody = make_user(tenant_id=tenant_a.id)  # a claim alone grants nothing
    me = nobody.client().get("/api/v1/me").json()
    assert me["active_tenant"] is None and me["memberships"] == []
    assert nobody.client().get("/api/v1/tenants/current").status_code == 403


class DynamoCalls:
    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, model, **kwargs):
        self.calls.append(model.name)


@pytest.fixture
def dynamodb_calls():
    counter = DynamoCalls()
    session = aws.botocore_session()
    session.register("before-call.dynamodb", counter)
    aws.reset_clients()  # clients copy the session's handlers when created
    yield counter
    session.unregister("before-call.dynamodb", counter)
    aws.reset_clients()


def test_a_warm_request_resolves_its_tenant_with_zero_dynamodb_calls(tenant_a, rf: RequestFactory, dynamodb_calls):
    seen = []
    middleware = TenantContextMiddleware(lambda request: seen.append(current_context()) or HttpResponse("ok"))
    request = lambda: rf.get("/anything", HTTP_AUTHORIZATION=f"Bearer {tenant_a.admin.id_token}")  # noqa: E731
    middleware(request())
    cold = list(dynamodb_calls.calls)
    assert cold and "Scan" not in cold  # profile, membership, tenant: get-items
    for _ in range(25):
        middleware(request())
    assert dynamodb_calls.calls == cold  # nothing more
    assert all(ctx.tenant_id == tenant_a.id for ctx in seen) and current_context() is None


def test_member_removed_in_this_process_is_refused_at_once(tenant_a, make_user):
    member = tenant_a.add(make_user, "member")
    assert member.client().get("/api/v1/tenants/current").status_code == 200
    with tenant_context(tenant_a.id, user_id=tenant_a.admin.sub, roles={"admin"}):
        services.remove_member(user_id=member.sub)
    assert member.client().get("/api/v1/tenants/current").status_code == 403


def test_member_removed_by_another_process_is_refused_within_the_ttl(tenant_a, make_user, settings, monkeypatch):
    """The cache's clock is ours: the removal is still unseen just before the TTL runs out and is
    felt as soon as it has (no wall-clock race with a loaded machine)."""
    clock = Clock()
    monkeypatch.setattr(active_tenant, "cache", active_tenant.ResolutionCache(clock=clock))
    settings.MEMBERSHIP_CACHE_TTL_SECONDS = 1.0
    member = tenant_a.add(make_user, "member")
    client = member.client()
    assert client.get("/api/v1/tenants/current").status_code == 200  # cached here
    # Another process removes the membership: same writes as the service, but no invalidation here.
    with tenant_context(tenant_a.id):
        stored = Member.objects.get(member.sub, consistent=True)
        ops = [Member.objects.delete_op(member.sub, expected_version=stored["version"])]
    with system_context(reason="test: removal elsewhere"):
        ops.append(UserMembership.objects.delete_op(member.sub, tenant_a.id))
        transact_write(ops)
    clock.now += 0.9
    assert client.get("/api/v1/tenants/current").status_code == 200  # within the TTL: the cached answer
    clock.now += 0.2
    response = client.get("/api/v1/tenants/current")
    assert response.status_code == 403 and response.json()["code"] == "no_active_tenant"


def test_switching_to_a_deactivated_tenant_is_refused(two_tenant_user, tenant_b, platform_admin):
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_b.id}/deactivate").status_code == 200
    response = two_tenant_user.client().put("/api/v1/me/active-tenant", {"tenant_id": tenant_b.id}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "tenant_inactive"


READS = ("GetItem", "BatchGetItem", "Query", "Scan")


def test_me_lists_every_membership_with_its_tenant_in_the_same_number_of_reads(make_tenant, make_user,
                                                                              dynamodb_calls):
    """/me reads a user's tenants in one batch, however many they belong to (no read per tenant).
    Only reads are compared: the request may also flush usage counters or lease a throttle slice,
    writes whose timing depends on the clock and on earlier requests, not on the memberships."""
    person = make_user()
    names = [f"Shop {n}" for n in range(4)]
    tenants = [make_tenant(name=name) for name in names]
    calls_by_count = {}
    for joined, tenant in enumerate(tenants, start=1):
        assert invite_and_accept(tenant.admin, person, "member").status_code == 200
        person.client().get("/api/v1/me")  # warm the caller's own caches
        dynamodb_calls.calls.clear()
        me = person.client().get("/api/v1/me").json()
        assert {m["tenant"]["id"]: m["tenant"]["name"] for m in me["memberships"]} == {
            t.id: name for t, name in zip(tenants[:joined], names[:joined], strict=True)}
        calls_by_count[joined] = [call for call in dynamodb_calls.calls if call in READS]
    assert calls_by_count[4] == calls_by_count[1]
    assert calls_by_count[4].count("BatchGetItem") >= 1
