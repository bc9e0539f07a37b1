"""Per-tenant request throttling (noisy-neighbour protection), rate by the tenant's tier.

DRF's SimpleRateThrottle does the sliding-window bookkeeping; we only choose the key (one bucket
per tenant, from the tenant-prefixed key helper) and the rate (from the tier in the context).
With ``REDIS_CACHE_URL`` set the window is shared by every process; otherwise it is per process.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from saas.tenancy.context import TenantContext, current_context
from saas.tenancy.keys import tenant_key


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def __init__(self):  # the rate depends on the request's tenant, not on a fixed scope
        pass

    def allow_request(self, request, view):
        ctx = current_context()
        if not isinstance(ctx, TenantContext):
            return True  # unauthenticated or tenant-less requests are refused elsewhere
        self.rate = settings.TENANT_THROTTLE_RATES.get(ctx.tier) or settings.TENANT_THROTTLE_RATES["basic"]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return tenant_key("throttle")
