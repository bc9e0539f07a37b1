"""Per-tenant throttling: a noisy tenant gets 429 with Retry-After; its neighbour is unaffected."""
from __future__ import annotations

import pytest


def _mid_window(monkeypatch) -> None:
    """A fixed time, 10 s into a minute: a test of a per-minute budget must not straddle two windows."""
    from saas.throttling import TenantRateThrottle

    monkeypatch.setattr(TenantRateThrottle, "timer", lambda self: 2_000_000_010.0)


def test_tenant_over_its_rate_gets_429_and_neighbour_does_not(tenant_a, tenant_b, settings, monkeypatch):
    _mid_window(monkeypatch)
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


def test_rate_follows_the_tier(make_tenant, settings, monkeypatch):
    _mid_window(monkeypatch)
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


# --- one budget across processes ----------------------------------------------------------------------
def test_two_processes_share_one_budget(tenant_a):
    """Two throttles with separate in-process caches (two Lambda containers) must together admit
    no more than the tenant's budget in a window."""
    from django.core.cache.backends.locmem import LocMemCache

    from saas.tenancy.keys import tenant_key
    from saas.throttling import hit

    first, second = LocMemCache("container-1", {}), LocMemCache("container-2", {})
    key, now = tenant_key("throttle", tenant_id=tenant_a.id), 2_000_000_000.5
    admitted = [hit(key, "10/min", now=now, cache=cache) is None for _ in range(10) for cache in (first, second)]
    assert sum(admitted) == 10, f"{sum(admitted)} requests admitted against a budget of 10"
    # Either container is refused once the budget is spent, and both are admitted in the next window.
    assert hit(key, "10/min", now=now, cache=first) is not None and hit(key, "10/min", now=now, cache=second) is not None
    assert hit(key, "10/min", now=now + 60, cache=second) is None


@pytest.fixture
def leases_in_line(monkeypatch):
    """Background leases run in line, where they start: which request finds the slice empty would
    otherwise depend on how soon a thread gets a core, and the counts below on that race."""
    from saas import throttling

    monkeypatch.setattr(throttling, "_in_background", lambda work: work())


def test_a_leased_slice_is_spent_locally(tenant_a, settings, leases_in_line):
    """With a large budget a process leases a slice and spends it without a round trip each."""
    from django.core.cache.backends.locmem import LocMemCache

    from saas import aws
    from saas.tenancy.keys import tenant_key
    from saas.throttling import hit

    calls = []
    hook = lambda **kwargs: calls.append(1)  # noqa: E731
    events = aws.client("dynamodb").meta.events  # a client copies the session's hooks when it is made
    events.register("before-call.dynamodb.UpdateItem", hook)
    try:
        cache, key = LocMemCache("container-3", {}), tenant_key("throttle-slice", tenant_id=tenant_a.id)
        assert all(hit(key, "1000/min", now=2_000_000_100.0, cache=cache) is None for _ in range(250))
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", hook)
    # A first slice of 100 (THROTTLE_LEASE_SLICES = 10); half spent, the next (200) is leased; half of
    # that spent, the next (250, a quarter of the budget): 3 round trips for 250 requests.
    assert len(calls) == 3, len(calls)


def test_slices_grow_with_a_containers_demand_but_never_past_the_budget_or_a_quarter_of_it(tenant_a, monkeypatch,
                                                                                          leases_in_line):
    """A busy container leases fewer, larger slices (each at most a quarter of the budget); two
    containers together still admit exactly the budget."""

    from django.core.cache.backends.locmem import LocMemCache

    from saas import throttling
    from saas.tenancy.keys import tenant_key

    leased = []
    real = throttling.lease_budget

    def recording(bucket, window, *, amount, limit, expires_at):
        granted = real(bucket, window, amount=amount, limit=limit, expires_at=expires_at)
        leased.append((amount, granted))
        return granted

    monkeypatch.setattr(throttling, "lease_budget", recording)
    busy, quiet = LocMemCache("container-busy", {}), LocMemCache("container-quiet", {})
    key, now = tenant_key("throttle-grow", tenant_id=tenant_a.id), 2_000_000_220.0
    admitted_busy = sum(throttling.hit(key, "1000/min", now=now, cache=busy) is None for _ in range(900))
    admitted_quiet = sum(throttling.hit(key, "1000/min", now=now, cache=quiet) is None for _ in range(300))

    assert admitted_busy == 900
    assert admitted_busy + admitted_quiet <= 1000  # never past the shared budget
    granted = [amount for amount, ok in leased if ok]
    assert max(granted) <= 250 and sum(granted) <= 1000
    assert len([a for a in granted if a > 100]) >= 2  # slices grew: fewer leases than 9 fixed ones of 100
