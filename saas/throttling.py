"""Per-tenant request throttling (noisy-neighbour protection), rate by the tenant's tier.

One bucket per tenant (all of its users together), keyed by the tenant-prefixed key helper.
A fixed-window counter (``cache.incr``, ``cache.add`` once per window) costs the same on every request however
busy the tenant is; DRF's sliding-window history would re-serialise every recent timestamp per
request. A window boundary can admit up to twice the rate for an instant, which is acceptable for
noisy-neighbour protection. With ``REDIS_CACHE_URL`` set the windows are shared by every process.
"""
from __future__ import annotations

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from saas.tenancy.context import TenantContext, current_context
from saas.tenancy.keys import tenant_key


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def __init__(self):  # the rate depends on the request's tenant, not on a fixed scope
        self.wait_seconds: float | None = None

    def allow_request(self, request, view):
        ctx = current_context()
        if not isinstance(ctx, TenantContext):
            return True  # unauthenticated or tenant-less requests are refused elsewhere
        rate = settings.TENANT_THROTTLE_RATES.get(ctx.tier) or settings.TENANT_THROTTLE_RATES["basic"]
        limit, duration = self.parse_rate(rate)
        now = self.timer()
        window = int(now // duration)
        key = tenant_key("throttle", rate, str(window))
        try:
            count = self.cache.incr(key)  # the common case: this window already has a counter
        except ValueError:  # first request of the window (or a racing one created it meanwhile)
            count = 1 if self.cache.add(key, 1, timeout=duration + 1) else self.cache.incr(key)
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * duration - now
        return False

    def wait(self):
        return math.ceil(self.wait_seconds) if self.wait_seconds else None
