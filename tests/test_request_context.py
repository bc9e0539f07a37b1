"""The request boundary: identity -> active tenant -> context, reset after every request."""
from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from saas.tenancy import current_context
from saas.tenancy.middleware import TenantContextMiddleware


def test_me_shows_active_tenant_and_memberships(tenant_a):
    response = tenant_a.admin.client().get("/api/v1/me")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"]["id"] == tenant_a.admin.sub
    assert body["active_tenant"]["id"] == tenant_a.id
    assert body["active_tenant"]["roles"] == ["admin"]
    assert [m["tenant"]["id"] for m in body["memberships"]] == [tenant_a.id]


def test_access_token_is_accepted_too(tenant_a):
    response = tenant_a.admin.client(tenant_a.admin.access_token).get("/api/v1/me")
    assert response.status_code == 200


def test_no_token_is_401_with_bearer_challenge(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_context_is_reset_after_each_request_even_when_the_view_raises(tenant_a, rf: RequestFactory):
    from tenants.identity import verify_token
    seen = []

    def exploding_view(request):
        seen.append(current_context())
        raise RuntimeError("boom")

    middleware = TenantContextMiddleware(exploding_view)
    request = rf.get("/anything", HTTP_AUTHORIZATION=f"Bearer {tenant_a.admin.id_token}")
    with pytest.raises(RuntimeError):
        middleware(request)
    assert seen[0].tenant_id == tenant_a.id
    assert current_context() is None

    ok = TenantContextMiddleware(lambda r: HttpResponse(str(current_context())))
    assert ok(rf.get("/anything")).content == b"None"
    assert current_context() is None
    assert verify_token(tenant_a.admin.id_token).sub == tenant_a.admin.sub
