"""Request throttling: per tenant by tier, and per caller for requests without a tenant.

* ``TenantRateThrottle`` (DRF): one bucket per tenant (all of its users together), keyed by the
  tenant-prefixed key helper, rate by the tenant's tier (noisy-neighbour protection).
* ``CallerThrottleMiddleware``: callers that have no tenant context get their own budgets
  (``CALLER_THROTTLE_RATES``): a signed-in user with no active tenant per user, an unauthenticated
  caller per client address (``/health`` included). Failed bearer tokens are counted per address
  and, once over budget, refused *before* any signature is verified (``bad_token_refused``, called
  by the identity resolver).

All buckets are fixed-window counters (``cache.incr``, ``cache.add`` once per window): the same cost
on every request however busy the caller is. A window boundary can admit up to twice the rate for
an instant, which is acceptable here. With ``REDIS_CACHE_URL`` set the windows are shared by every
process. The throttle fails open: if the cache errors, the request is allowed, the outage is logged,
and the cache is left alone for ``THROTTLE_CACHE_RETRY_SECONDS`` (no request pays a timeout each).
"""
from __future__ import annotations

import logging
import math
import threading
import time

from django.conf import settings
from django.core.cache import cache as default_cache
from django.http import JsonResponse
from rest_framework.throttling import SimpleRateThrottle

from saas.tenancy.context import TenantContext, current_context
from saas.tenancy.keys import tenant_key

logger = logging.getLogger("saas.throttling")


class _CacheBreaker:
    """After a cache error, skip the cache (allow everything) for a short while."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._down_until = float("-inf")
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        return self._down_until > self._clock()

    def trip(self, exc: Exception) -> None:
        with self._lock:
            if not self.is_open():
                logger.warning("throttle cache unavailable, failing open for %.0fs: %r",
                               settings.THROTTLE_CACHE_RETRY_SECONDS, exc)
            self._down_until = self._clock() + settings.THROTTLE_CACHE_RETRY_SECONDS

    def reset(self) -> None:
        self._down_until = float("-inf")


breaker = _CacheBreaker()


def parse_rate(rate: str) -> tuple[int, int]:
    return SimpleRateThrottle.parse_rate(None, rate)


def hit(key: str, rate: str, *, now: float | None = None, cache=default_cache) -> float | None:
    """Count one request against ``key``'s current window. None if allowed, else the seconds until
    the next window. Fails open (None) when the cache is down."""
    limit, duration = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // duration)
    key = f"{key}:{rate}:{window}"
    if breaker.is_open():
        return None
    try:
        try:
            count = cache.incr(key)  # the common case: this window already has a counter
        except ValueError:  # first request of the window (or a racing one created it meanwhile)
            count = 1 if cache.add(key, 1, timeout=duration + 1) else cache.incr(key)
    except Exception as exc:  # cache down or frozen: throttling must never take the API down
        breaker.trip(exc)
        return None
    if count <= limit:
        return None
    return (window + 1) * duration - now


def over_budget(key: str, rate: str, *, now: float | None = None, cache=default_cache) -> float | None:
    """Is ``key`` already over its budget in this window? (Reads only; fails open.)"""
    limit, duration = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // duration)
    if breaker.is_open():
        return None
    try:
        count = cache.get(f"{key}:{rate}:{window}") or 0
    except Exception as exc:
        breaker.trip(exc)
        return None
    return (window + 1) * duration - now if count >= limit else None


def throttled_response(wait: float | None) -> JsonResponse:
    seconds = max(1, math.ceil(wait or 1))
    return JsonResponse({"code": "throttled", "message": f"Request was throttled. Expected available in {seconds} "
                                                         f"seconds."}, status=429, headers={"Retry-After": str(seconds)})


def client_address(request) -> str:
    """The caller's address. On Lambda, Zappa sets REMOTE_ADDR from API Gateway's sourceIp."""
    return request.META.get("REMOTE_ADDR") or "unknown"


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def __init__(self):  # the rate depends on the request's tenant, not on a fixed scope
        self.wait_seconds: float | None = None

    def allow_request(self, request, view):
        ctx = current_context()
        if not isinstance(ctx, TenantContext):
            return True  # callers without a tenant: CallerThrottleMiddleware
        rate = settings.TENANT_THROTTLE_RATES.get(ctx.tier) or settings.TENANT_THROTTLE_RATES["basic"]
        self.wait_seconds = hit(tenant_key("throttle"), rate, now=self.timer(), cache=self.cache)
        return self.wait_seconds is None

    def wait(self):
        return math.ceil(self.wait_seconds) if self.wait_seconds else None


# --- callers without a tenant ------------------------------------------------------------------------
def _bad_token_key(request) -> str:
    return f"throttle:bad-token:{client_address(request)}"


def bad_token_refused(request) -> float | None:
    """Before verifying a bearer token: is this address over its failed-token budget?"""
    return over_budget(_bad_token_key(request), settings.CALLER_THROTTLE_RATES["bad_token"])


def record_bad_token(request) -> None:
    hit(_bad_token_key(request), settings.CALLER_THROTTLE_RATES["bad_token"])


class CallerThrottleMiddleware:
    """Runs inside TenantContextMiddleware, so the identity and the tenant context are known."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = getattr(request, "throttle_wait", None)
        if refused is not None:
            return throttled_response(refused)
        if not isinstance(current_context(), TenantContext):
            identity = getattr(request, "identity", None)
            if identity is not None:
                key, rate = f"throttle:no-tenant:{identity.sub}", settings.CALLER_THROTTLE_RATES["no_tenant"]
            else:
                key, rate = f"throttle:anonymous:{client_address(request)}", settings.CALLER_THROTTLE_RATES["anonymous"]
            wait = hit(key, rate)
            if wait is not None:
                return throttled_response(wait)
        return self.get_response(request)
