"""Role changes apply at once. They used to lag: resolution caches roles for 30 s per process, so on
Lambda a removed or demoted admin kept admin rights on other containers for that window (e.g. to invite a
second admin account). Privileged actions now re-read the membership consistently.

"Another container" is this process with the demoted user's stale cache entry put back after the
change (the change's own process drops it at once)."""
from __future__ import annotations

import pytest

from tenants import active_tenant


@pytest.fixture
def second_admin(tenant_a, make_user):
    return tenant_a.add(make_user, "admin")


def _stale_after(user, change):
    """Warm ``user``'s entry, run ``change``, then put the stale entry back (another container)."""
    assert user.client().get("/api/v1/tenants/current/members").status_code == 200
    stale = active_tenant.cache.get(user.sub)
    assert stale is not None and "admin" in stale.context.roles
    change()
    active_tenant.cache.put(user.sub, stale)


def test_a_demoted_admin_cannot_act_as_admin_anywhere(tenant_a, second_admin):
    owner = tenant_a.admin.client()
    _stale_after(second_admin, lambda: owner.patch(f"/api/v1/tenants/current/members/{second_admin.sub}",
                                                   {"role": "viewer"}, format="json"))
    api = second_admin.client()
    assert api.post("/api/v1/tenants/current/members", {"email": "accomplice@example.test", "role": "admin"},
                    format="json").status_code == 403
    assert api.patch("/api/v1/tenants/current", {"name": "Hijacked"}, format="json").status_code == 403
    assert api.patch(f"/api/v1/tenants/current/members/{tenant_a.admin.sub}", {"role": "viewer"},
                     format="json").status_code == 403
    assert api.get("/api/v1/tenants/current/members").status_code == 403
    assert api.get("/api/v1/tenants/current").status_code == 200  # still a viewer


def test_a_removed_admin_cannot_act_at_all(tenant_a, second_admin):
    owner = tenant_a.admin.client()
    _stale_after(second_admin, lambda: owner.delete(f"/api/v1/tenants/current/members/{second_admin.sub}"))
    api = second_admin.client()
    response = api.post("/api/v1/tenants/current/members", {"email": "accomplice2@example.test", "role": "admin"},
                        format="json")
    assert response.status_code == 403
    assert api.post("/api/v1/products", {"sku": "X-1", "name": "x", "price": "1.00", "currency": "USD",
                                         "stock": 1}, format="json").status_code == 403


def test_a_promotion_also_takes_effect_at_once(tenant_a, make_user):
    manager = tenant_a.add(make_user, "manager")
    api = manager.client()
    assert api.get("/api/v1/products").status_code == 200  # warm: manager
    stale = active_tenant.cache.get(manager.sub)
    assert tenant_a.admin.client().patch(f"/api/v1/tenants/current/members/{manager.sub}", {"role": "admin"},
                                         format="json").status_code == 200
    active_tenant.cache.put(manager.sub, stale)
    assert api.patch("/api/v1/tenants/current", {"name": "Renamed by new admin"}, format="json").status_code == 200
