"""The role matrix: the API's role table, through our endpoints and through the permission
classes other apps use (a view protected by each class, called by real users of each role)."""
from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.response import Response
from rest_framework.views import APIView

from saas.tenancy.middleware import TenantContextMiddleware
from tenants import permissions

ROLES = ("admin", "manager", "member", "viewer")


@pytest.fixture
def people(tenant_a, make_user):
    users = {"admin": tenant_a.admin}
    for role in ("manager", "member", "viewer"):
        users[role] = tenant_a.add(make_user, role)
    return users


ENDPOINT_MATRIX = [
    # method, path, body, {role: status}
    ("get", "/api/v1/me", None, dict.fromkeys(ROLES, 200)),
    ("get", "/api/v1/tenants/current", None, dict.fromkeys(ROLES, 200)),
    ("patch", "/api/v1/tenants/current", {"name": "Renamed"}, {"admin": 200, "manager": 403, "member": 403, "viewer": 403}),
    ("get", "/api/v1/tenants/current/members", None, {"admin": 200, "manager": 403, "member": 403, "viewer": 403}),
    ("post", "/api/v1/tenants/current/members", {"email": "matrix-{n}@example.test", "role": "viewer"},
     {"admin": 202, "manager": 403, "member": 403, "viewer": 403}),
    ("get", "/api/v1/admin/tenants", None, dict.fromkeys(ROLES, 403)),
]


@pytest.mark.parametrize("method, path, body, expected", ENDPOINT_MATRIX, ids=[f"{m} {p}" for m, p, *_ in ENDPOINT_MATRIX])
def test_endpoint_role_matrix(people, method, path, body, expected, tenant_a):
    for role, user in people.items():
        payload = {k: v.format(n=f"{role}-{tenant_a.id}") if isinstance(v, str) else v for k, v in (body or {}).items()}
        response = getattr(user.client(), method)(path, payload or None, format="json")
        assert response.status_code == expected[role], (role, response.content)
        if response.status_code == 403:
            assert response.json()["code"] in ("role_required", "system_admin_required")


def test_member_management_matrix(people):
    target = people["viewer"].sub
    for role in ("manager", "member", "viewer"):
        client = people[role].client()
        assert client.patch(f"/api/v1/tenants/current/members/{target}", {"role": "member"},
                            format="json").status_code == 403
        assert client.delete(f"/api/v1/tenants/current/members/{target}").status_code == 403
    admin = people["admin"].client()
    assert admin.patch(f"/api/v1/tenants/current/members/{target}", {"role": "member"}, format="json").status_code == 200
    assert admin.delete(f"/api/v1/tenants/current/members/{target}").status_code == 204


# --- the permission classes themselves ---------------------------------------------------------------
CLASS_MATRIX = {
    # class name: (lowest role for GET, lowest role for POST)
    "IsViewer": ("viewer", "viewer"),
    "IsMember": ("member", "member"),
    "IsManager": ("manager", "manager"),
    "IsAdmin": ("admin", "admin"),
    "ReadViewerWriteMember": ("viewer", "member"),
    "ReadViewerWriteManager": ("viewer", "manager"),
    "ReadViewerWriteAdmin": ("viewer", "admin"),
}
RANK = {role: n for n, role in enumerate(reversed(ROLES))}


def protected_view(permission_class):
    class View(APIView):
        permission_classes = [permission_class]

        def get(self, request):
            return Response({"ok": True})

        def post(self, request):
            return Response({"ok": True})

    return TenantContextMiddleware(View.as_view())


@pytest.mark.parametrize("class_name", sorted(CLASS_MATRIX))
def test_permission_class_matrix(people, class_name, rf: RequestFactory):
    view = protected_view(getattr(permissions, class_name))
    read_role, write_role = CLASS_MATRIX[class_name]
    for role, user in people.items():
        for method, needed in (("get", read_role), ("post", write_role)):
            request = getattr(rf, method)("/x", HTTP_AUTHORIZATION=f"Bearer {user.id_token}",
                                          content_type="application/json", data={} if method == "post" else None)
            response = view(request)
            expected = 200 if RANK[role] >= RANK[needed] else 403
            assert response.status_code == expected, (class_name, role, method)
    anonymous = view(rf.get("/x"))
    assert anonymous.status_code == 401


def test_has_role_and_require_role_helpers(tenant_a):
    from saas.tenancy import TenantContext

    ctx = TenantContext(tenant_id=tenant_a.id, user_id="u", roles=frozenset({"manager"}))
    assert permissions.has_role(ctx, "member") and permissions.has_role(ctx, "manager")
    assert not permissions.has_role(ctx, "admin")
    custom = permissions.require_role("member", write_role="admin")
    assert custom.min_role == "member" and custom.write_role == "admin"


def test_system_admin_needs_no_tenant_but_tenant_roles_need_one(platform_admin, rf: RequestFactory):
    assert platform_admin.client().get("/api/v1/admin/tenants").status_code == 200
    response = platform_admin.client().get("/api/v1/tenants/current")
    assert response.status_code == 403 and response.json()["code"] == "no_active_tenant"
    view = protected_view(permissions.IsViewer)
    assert view(rf.get("/x", HTTP_AUTHORIZATION=f"Bearer {platform_admin.id_token}")).status_code == 403
