"""Platform operators (Cognito group system_admin): list tenants, change tier, deactivate/reactivate."""
from __future__ import annotations

import time

import pytest

from saas.tenancy import system_context
from tenants.models import TENANT_DIRECTORY, Tenant


def admin_url(tenant_id: str, action: str = "") -> str:
    return f"/api/v1/admin/tenants/{tenant_id}" + (f"/{action}" if action else "")


def test_platform_admin_pages_through_every_tenant(platform_admin, make_tenant):
    made = {make_tenant().id for _ in range(3)}
    client = platform_admin.client()
    first = client.get("/api/v1/admin/tenants", {"limit": 2})
    assert first.status_code == 200
    assert len(first.json()["results"]) == 2 and first.json()["next_cursor"]
    second = client.get("/api/v1/admin/tenants", {"limit": 2, "cursor": first.json()["next_cursor"]}).json()
    assert not {t["id"] for t in first.json()["results"]} & {t["id"] for t in second["results"]}
    for made_id in made:
        tenant = client.get(admin_url(made_id)).json()
        assert tenant["status"] == "active" and tenant["deployment"] == "pooled"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1000}, {"limit": "ten"}, {"cursor": "tampered"}])
def test_bad_paging_is_400(platform_admin, params):
    response = platform_admin.client().get("/api/v1/admin/tenants", params)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_a_members_cursor_is_not_a_tenant_list_cursor(platform_admin, tenant_a, make_user):
    tenant_a.add(make_user, "viewer")
    cursor = tenant_a.admin.client().get("/api/v1/tenants/current/members", {"limit": 1}).json()["next_cursor"]
    assert platform_admin.client().get("/api/v1/admin/tenants", {"cursor": cursor}).status_code == 400


def test_non_operators_are_refused_even_tenant_admins(tenant_a, tenant_b, client):
    for path, method, body in (("/api/v1/admin/tenants", "get", None),
                               (admin_url(tenant_b.id), "get", None),
                               (admin_url(tenant_b.id), "patch", {"tier": "premium"}),
                               (admin_url(tenant_b.id, "deactivate"), "post", None),
                               (admin_url(tenant_a.id, "deactivate"), "post", None),
                               (admin_url(tenant_b.id, "activate"), "post", None)):
        response = getattr(tenant_a.admin.client(), method)(path, body, format="json")
        assert response.status_code == 403, (path, response.content)
        assert response.json()["code"] == "system_admin_required"
        assert getattr(client, method)(path).status_code == 401
    assert tenant_b.admin.client().get("/api/v1/tenants/current").json()["tier"] == "basic"


def test_deactivation_locks_the_tenant_out_at_once_and_reactivation_lets_it_back(platform_admin, tenant_a, make_user):
    viewer = tenant_a.add(make_user, "viewer")
    assert viewer.client().get("/api/v1/tenants/current").status_code == 200
    response = platform_admin.client().post(admin_url(tenant_a.id, "deactivate"))
    assert response.status_code == 200 and response.json()["status"] == "deactivated"
    for user in (tenant_a.admin, viewer):
        refused = user.client().get("/api/v1/tenants/current")
        assert refused.status_code == 403 and refused.json()["code"] == "tenant_inactive"
        assert "deactivated" in refused.json()["message"]
        assert user.client().get("/api/v1/tenants/current/members").status_code == 403
        me = user.client().get("/api/v1/me")
        assert me.status_code == 200 and me.json()["active_tenant"]["status"] == "deactivated"
    # idempotent
    assert platform_admin.client().post(admin_url(tenant_a.id, "deactivate")).status_code == 200
    assert platform_admin.client().post(admin_url(tenant_a.id, "activate")).json()["status"] == "active"
    assert viewer.client().get("/api/v1/tenants/current").status_code == 200


def test_deactivation_done_by_another_process_takes_effect_within_the_ttl(tenant_a, settings):
    settings.MEMBERSHIP_CACHE_TTL_SECONDS = 1.0
    client = tenant_a.admin.client()
    assert client.get("/api/v1/tenants/current").status_code == 200  # cached now
    with system_context(reason="test: another process deactivates (no invalidation reaches us)"):
        tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_a.id, consistent=True)
        Tenant.objects.put(TENANT_DIRECTORY, tenant_a.id, expected_version=tenant["version"],
                           **{**tenant, "status": "deactivated"})
    deadline = time.monotonic() + 1.0 + 0.5
    while True:
        started = time.monotonic()  # judged by when the request began: a slow machine is no stale cache
        if client.get("/api/v1/tenants/current").status_code != 200:
            break
        assert started < deadline, "a request made after the TTL still saw the tenant active"
        time.sleep(0.1)
    assert client.get("/api/v1/tenants/current").json()["code"] == "tenant_inactive"


def test_tier_changes_between_pooled_tiers_and_members_see_it(platform_admin, tenant_a):
    response = platform_admin.client().patch(admin_url(tenant_a.id), {"tier": "premium"}, format="json")
    assert response.status_code == 200 and response.json()["tier"] == "premium"
    assert tenant_a.admin.client().get("/api/v1/me").json()["active_tenant"]["tier"] == "premium"
    assert tenant_a.admin.client().get("/api/v1/tenants/current").json()["tier"] == "premium"


def test_moving_to_or_from_the_silo_tier_needs_a_migration(platform_admin, tenant_a):
    response = platform_admin.client().patch(admin_url(tenant_a.id), {"tier": "platinum"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "tier_change_requires_migration"
    bad = platform_admin.client().patch(admin_url(tenant_a.id), {"tier": "gold"}, format="json")
    assert bad.status_code == 400 and "tier" in bad.json()["fields"]


@pytest.mark.parametrize("tenant_id", ["t-doesnotexist0000000", "NOT-VALID", "a%23b", "x" * 80])
def test_unknown_or_malformed_tenant_ids_are_404(platform_admin, tenant_id):
    client = platform_admin.client()
    assert client.get(admin_url(tenant_id)).status_code == 404
    assert client.post(admin_url(tenant_id, "deactivate")).status_code == 404
    assert client.patch(admin_url(tenant_id), {"tier": "basic"}, format="json").status_code == 404


def test_a_failed_or_provisioning_tenant_cannot_be_activated(platform_admin, make_user):
    from tenants import services

    owner = make_user()
    tenant = services.start_silo_tenant(name="Pending", owner_id=owner.sub, owner_email=owner.email)
    response = platform_admin.client().post(admin_url(tenant["id"], "activate"))
    assert response.status_code == 409 and response.json()["code"] == "invalid_status"
    assert platform_admin.client().get(admin_url(tenant["id"])).json()["status"] == "provisioning"
