"""Per-tenant throttling: a noisy tenant gets 429 with Retry-After; its neighbour is unaffected."""
from __future__ import annotations


def test_tenant_over_its_rate_gets_429_and_neighbour_does_not(tenant_a, tenant_b, settings):
    settings.TENANT_THROTTLE_RATES = {**settings.TENANT_THROTTLE_RATES, "basic": "5/min"}
    noisy, quiet = tenant_b.admin.client(), tenant_a.admin.client()
    statuses = [noisy.get("/api/v1/me").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3
    limited = noisy.get("/api/v1/me")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["code"] == "throttled"
    assert quiet.get("/api/v1/me").status_code == 200


def test_rate_follows_the_tier(make_tenant, settings):
    settings.TENANT_THROTTLE_RATES = {**settings.TENANT_THROTTLE_RATES, "basic": "2/min", "premium": "6/min"}
    premium = make_tenant(tier="premium").admin.client()
    assert [premium.get("/api/v1/me").status_code for _ in range(6)] == [200] * 6
    assert premium.get("/api/v1/me").status_code == 429


def test_a_new_window_admits_the_tenant_again(tenant_a, settings, monkeypatch):
    from saas.throttling import TenantRateThrottle

    now = [1_000_000.2]
    monkeypatch.setattr(TenantRateThrottle, "timer", lambda self: now[0])
    settings.TENANT_THROTTLE_RATES = {**settings.TENANT_THROTTLE_RATES, "basic": "3/s"}
    api = tenant_a.admin.client()
    assert [api.get("/api/v1/me").status_code for _ in range(4)] == [200, 200, 200, 429]
    now[0] += 1.0  # the next one-second window
    assert api.get("/api/v1/me").status_code == 200
