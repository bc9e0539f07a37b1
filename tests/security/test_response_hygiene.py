"""Response hygiene, decided and fixed:

* Pages and API answers carried no ``Cache-Control: no-store``: a shared computer's Back button or a
  proxy could show a person's data to the next one. Now every page and API answer says ``no-store``.
* Unknown ``/api/`` paths answered POST/DELETE from a browser with 403 ``csrf_failed`` (the CSRF check
  ran before the 404); they change nothing, so they answer 404 whatever the method.
"""
from __future__ import annotations

import pytest
from django.test import Client


def test_pages_and_api_answers_may_not_be_stored(tenant_a):
    for response in (Client().get("/login/"), tenant_a.admin.client().get("/api/v1/me"),
                     tenant_a.admin.client().get("/api/v1/products")):
        assert response.status_code == 200
        assert "no-store" in response.get("Cache-Control", ""), f"Cache-Control: {response.get('Cache-Control')}"


@pytest.mark.parametrize("method", ["post", "delete", "put", "patch"])
def test_unknown_api_paths_are_404_for_browsers_too(method):
    browser = Client(enforce_csrf_checks=True)  # as a real browser: Django's CSRF check is on
    response = getattr(browser, method)("/api/v1/no-such-thing")
    assert response.status_code == 404, f"{method.upper()} answered {response.status_code}: {response.content[:80]}"
    assert response.json()["code"] == "not_found"


def test_tenants_see_a_platform_operator_not_who_it_was(tenant_a, platform_admin):
    """Platform operators' id, email and address appeared in the trails (and exports) of the tenants
    they acted on. The tenant's trail now says "platform operator"; the platform trail keeps who."""
    response = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_a.id}/deactivate",
                                            REMOTE_ADDR="192.0.2.77")
    assert response.status_code == 200
    platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_a.id}/activate", REMOTE_ADDR="192.0.2.77")
    records = tenant_a.admin.client().get("/api/v1/audit", {"action": "tenant.deactivated"}).json()["results"]
    shown = str(records)
    assert records and platform_admin.sub not in shown and platform_admin.email not in shown \
        and "192.0.2.77" not in shown, f"the tenant's trail names the operator: {records}"
    assert records[0]["actor_type"] == "operator"
    platform = platform_admin.client().get("/api/v1/admin/audit", {"action": "tenant.deactivated",
                                                                   "target_id": tenant_a.id}).json()["results"]
    assert platform[0]["actor_id"] == platform_admin.sub
