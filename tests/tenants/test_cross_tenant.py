"""Every identity/tenancy endpoint, called by tenant A's admin against tenant B: 404 or 403, never
200 or 500, and B is unchanged afterwards."""
from __future__ import annotations

import pytest

from tests.factories import invite_and_accept


@pytest.fixture
def b_viewer(tenant_b, make_user):
    return tenant_b.add(make_user, "viewer")


def attempts(tenant_b, b_viewer):
    """(method, path, body, expected) for every endpoint that could name tenant B or its members."""
    b, victim, b_admin = tenant_b.id, b_viewer.sub, tenant_b.admin.sub
    return [
        ("patch", f"/api/v1/tenants/current/members/{victim}", {"role": "admin"}, 404),
        ("patch", f"/api/v1/tenants/current/members/{b_admin}", {"role": "viewer"}, 404),
        ("delete", f"/api/v1/tenants/current/members/{victim}", None, 404),
        ("delete", f"/api/v1/tenants/current/members/{b_admin}", None, 404),
        ("put", "/api/v1/me/active-tenant", {"tenant_id": b}, 403),
        ("get", "/api/v1/admin/tenants", None, 403),
        ("get", f"/api/v1/admin/tenants/{b}", None, 403),
        ("patch", f"/api/v1/admin/tenants/{b}", {"tier": "premium"}, 403),
        ("post", f"/api/v1/admin/tenants/{b}/deactivate", None, 403),
        ("post", f"/api/v1/admin/tenants/{b}/activate", None, 403),
    ]


def b_state(tenant_b, b_viewer) -> dict:
    client = tenant_b.admin.client()
    members = client.get("/api/v1/tenants/current/members", {"limit": 100}).json()["results"]
    return {"tenant": {k: v for k, v in client.get("/api/v1/tenants/current").json().items()},
            "members": sorted((m["user_id"], m["role"]) for m in members)}


def test_tenant_a_admin_cannot_touch_tenant_b(tenant_a, tenant_b, b_viewer):
    before = b_state(tenant_b, b_viewer)
    client = tenant_a.admin.client()
    for method, path, body, expected in attempts(tenant_b, b_viewer):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == expected, (method, path, response.status_code, response.content)
        assert response.json()["code"]
    assert b_state(tenant_b, b_viewer) == before
    # and A's own view never shows B
    assert client.get("/api/v1/tenants/current").json()["id"] == tenant_a.id
    members = client.get("/api/v1/tenants/current/members", {"limit": 100}).json()["results"]
    assert {m["user_id"] for m in members} == {tenant_a.admin.sub}
    me = client.get("/api/v1/me").json()
    assert [m["tenant"]["id"] for m in me["memberships"]] == [tenant_a.id]


def test_inviting_b_members_into_a_does_not_give_a_any_hold_over_b(tenant_a, tenant_b, b_viewer):
    """A's admin may invite anyone to A, but that changes nothing in B."""
    client = tenant_a.admin.client()
    before = b_state(tenant_b, b_viewer)
    assert invite_and_accept(tenant_a.admin, b_viewer, "admin").status_code == 200
    assert b_state(tenant_b, b_viewer) == before
    assert b_viewer.client().get("/api/v1/me").json()["active_tenant"]["id"] == tenant_b.id
    # A's admin can now manage that person only inside A
    assert client.patch(f"/api/v1/tenants/current/members/{b_viewer.sub}", {"role": "viewer"},
                        format="json").status_code == 200
    assert b_state(tenant_b, b_viewer) == before


def test_a_cursor_from_tenant_a_is_refused_in_tenant_b(tenant_a, tenant_b, make_user):
    tenant_a.add(make_user, "viewer")
    tenant_b.add(make_user, "viewer")
    cursor = tenant_a.admin.client().get("/api/v1/tenants/current/members", {"limit": 1}).json()["next_cursor"]
    response = tenant_b.admin.client().get("/api/v1/tenants/current/members", {"limit": 1, "cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["fields"]


def test_a_removed_viewer_of_b_sees_nothing_of_b(tenant_b, b_viewer):
    assert tenant_b.admin.client().delete(f"/api/v1/tenants/current/members/{b_viewer.sub}").status_code == 204
    client = b_viewer.client()
    for path in ("/api/v1/tenants/current", "/api/v1/tenants/current/members"):
        response = client.get(path)
        assert response.status_code == 403, response.content
    assert client.put("/api/v1/me/active-tenant", {"tenant_id": tenant_b.id}, format="json").status_code == 403
