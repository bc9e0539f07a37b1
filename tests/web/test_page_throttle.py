"""Web pages spend the tenant's request budget like the API does (one budget per tenant, all of
its users and both doors together), and a throttled page says so in the page shell."""
from __future__ import annotations

import pytest

from .test_sessions_and_errors import signed_in

pytestmark = pytest.mark.slow


def test_catalogue_and_audit_pages_are_throttled_with_the_tenants_budget(live_server, browser_settings,
                                                                          oidc_provider, tenant_a, tenant_b, settings):
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    settings.TENANT_THROTTLE_RATES = {**settings.TENANT_THROTTLE_RATES, "basic": "6/min"}
    pages = ["/catalogue/", "/audit/"] * 5
    statuses = [browser.get(f"{live_server.url}{path}", allow_redirects=False).status_code for path in pages]
    assert statuses[:6] == [200] * 6, statuses
    assert statuses[6:] == [429] * 4, statuses
    limited = browser.get(f"{live_server.url}/catalogue/")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many requests" in limited.text and "text/html" in limited.headers["Content-Type"]
    # The API shares the same budget: it is spent.
    assert browser.get(f"{live_server.url}/api/v1/me").status_code == 429
    # Another tenant is not affected.
    other = signed_in(live_server, oidc_provider, tenant_b.admin)
    assert other.get(f"{live_server.url}/catalogue/").status_code == 200
