"""Request throttling: per tenant by tier, and per caller for requests without a tenant.

* ``TenantRateThrottle`` (DRF): one bucket per tenant (all of its users together), keyed by the
  tenant-prefixed key helper, rate by the tenant's tier (noisy-neighbour protection).
* ``CallerThrottleMiddleware``: callers that have no tenant context get their own budgets
  (``CALLER_THROTTLE_RATES``): a signed-in user with no active tenant per user, an unauthenticated
  caller per client address (``/health`` included). Failed bearer tokens are counted per address
  and, once over budget, refused *before* any signature is verified (``bad_token_refused``, called
  by the identity resolver).

* Web pages (not only the API) draw from the tenant's budget: ``CallerThrottleMiddleware`` counts
  every non-API request made in a tenant context against the same bucket as ``TenantRateThrottle``.

All buckets are fixed-window budgets. A window boundary can admit up to twice the rate for an
instant, which is acceptable here.

Shared across processes (``THROTTLE_SHARED_STORE = "dynamodb"``, the default): every Lambda container
is a separate process, so a per-process count would give N containers N times every budget. The
budget of a window lives in one DynamoDB item (``store.lease_budget``: a conditional ``ADD``, TTL'd);
a process *leases* a slice of it and spends the slice locally (``cache.decr``), so most requests cost
no round trip and the whole deployment never admits more than the limit (the conditional ``ADD``
grants nothing beyond it, whatever the slice sizes). Slices adapt to the container's demand: the
first is ``ceil(limit / THROTTLE_LEASE_SLICES)``, each further lease in a window is twice the last,
up to ``ceil(limit / THROTTLE_LEASE_MIN_SLICES)`` (a quarter of the budget by default), and the next
window starts at the size of the last lease; the next slice is leased in the background once half of
the one in hand is spent, and the next window's first slice late in the current one, so a busy
container leases a few times per window and rarely on a request's path. The price is the other way:
a slice leased by one container and not spent is not available to another in that window (at most
``containers x (its last slice - 1)`` requests refused early; only a container that spent its
previous slices gets larger ones). ``"cache"``: the old per-cache counter (shared only when the cache is, e.g. ``REDIS_CACHE_URL``).
The throttle fails open: if the store or the cache errors, the request is allowed, the outage is
logged, and both are left alone for ``THROTTLE_CACHE_RETRY_SECONDS`` (no request pays a timeout each).
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
from saas.tenancy.store import lease_budget

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
    # DRF's parser, which reads no state of the throttle; (None, None) only for a None rate.
    requests, duration = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]  # no instance needed
    assert requests is not None and duration is not None
    return requests, duration


def _slice(limit: int) -> int:
    return max(1, math.ceil(limit / max(1, int(settings.THROTTLE_LEASE_SLICES))))


def _largest_slice(limit: int) -> int:
    return max(_slice(limit), math.ceil(limit / max(1, int(settings.THROTTLE_LEASE_MIN_SLICES))))


class _Lease:
    """This process's leasing state for one bucket (per cache, i.e. per container in tests): the
    window it is about, the size of the next lease, and the local count at which the next one is
    leased in the background (half of the last lease). Read on each request as a plain attribute
    lookup: no lock, no cache round trip."""

    __slots__ = ("window", "size", "last", "refill_at", "prefetched")

    def __init__(self, window: int, size: int):
        self.window, self.size, self.last, self.refill_at, self.prefetched = window, size, 0, size // 2, False

    def next_window_size(self, limit: int) -> int:
        """The next window starts with a slice as large as this one's last lease: a busy container
        stays busy; one that leased nothing this window starts small again."""
        return min(_largest_slice(limit), max(_slice(limit), self.last))


_leases: dict[tuple[int, str], _Lease] = {}
MAX_LEASE_STATES = 10_000  # buckets remembered per process (then forgotten: they restart small)


def _lease_state(bucket: str, limit: int, window: int, cache) -> _Lease:
    key = (id(cache), bucket)
    state = _leases.get(key)
    if state is None or state.window != window:
        if len(_leases) >= MAX_LEASE_STATES:
            _leases.clear()
        size = state.next_window_size(limit) if state is not None and state.window == window - 1 else _slice(limit)
        state = _leases[key] = _Lease(window, size)
    return state


def _grown(state: _Lease, granted: int, limit: int) -> None:
    """After a lease of ``granted``: the next one is twice as large (at most the largest slice), and
    it is leased in the background once half of this one is spent."""
    state.last, state.refill_at = granted, granted // 2
    state.size = min(_largest_slice(limit), max(state.size, granted * 2))


def _take_leased(bucket: str, limit: int, duration: int, window: int, cache, *, late: bool = False) -> bool:
    """Spend one request of this process's slice of the shared budget, leasing a new slice when it
    is used up. False once the window's whole budget is leased (remembered locally). ``late`` (the
    window is nearly over): the next window's first slice is leased in the background, so a busy
    tenant's requests do not wait for a lease at each window's start."""
    state = _lease_state(bucket, limit, window, cache)
    if late and not state.prefetched:
        state.prefetched = True
        _prefetch(bucket, limit, duration, window + 1, cache, state.next_window_size(limit))
    local = f"{bucket}:{window}:slice"
    try:
        remaining = cache.decr(local)
        if remaining >= 0:
            # Half spent: lease the next slice off the request path; not in the window's last fifth
            # (the half left usually lasts, and the next window's slice is being leased already).
            if remaining == state.refill_at and not late:
                state.refill_at = -1
                _prefetch(bucket, limit, duration, window, cache, state.size, state=state)
            return True
        fresh = False  # the slice ran out (this request's decr left it negative)
    except ValueError:
        fresh = True
    spent = f"{bucket}:{window}:spent"
    if cache.get(spent):
        return False
    expires_at = int((window + 1) * duration) + 60
    granted = 0
    # The size this process has grown to, else a first-size slice, else whatever single one is left.
    for amount in dict.fromkeys((state.size, _slice(limit), 1)):
        if lease_budget(bucket, window, amount=amount, limit=limit, expires_at=expires_at):
            granted = amount
            break
    if not granted:
        cache.set(spent, 1, timeout=duration + 1)
        return False
    _grown(state, granted, limit)
    if fresh and cache.add(local, granted - 1, timeout=duration + 1):
        return True
    cache.incr(local, granted if not fresh else granted - 1)  # undo our own decr, add the rest
    return True


def _prefetch(bucket: str, limit: int, duration: int, window: int, cache, amount: int, *,
              state: _Lease | None = None) -> None:
    """Lease ``amount`` in a background thread; it is added to the local slice when granted (on
    Lambda the thread may finish in the container's next invocation: no harm, the lease is only
    ever spent within its window)."""
    def lease() -> None:
        try:
            if lease_budget(bucket, window, amount=amount, limit=limit, expires_at=int((window + 1) * duration) + 60):
                local = f"{bucket}:{window}:slice"
                if not cache.add(local, amount, timeout=duration + 1):
                    cache.incr(local, amount)
                if state is not None:
                    _grown(state, amount, limit)
        except Exception:  # the synchronous path will lease (or fail open) when the slice runs out
            logger.debug("throttle slice prefetch failed", exc_info=True)

    _in_background(lease)


def _in_background(work) -> None:
    threading.Thread(target=work, name="throttle-prefetch", daemon=True).start()


def hit(key: str, rate: str, *, now: float | None = None, cache=default_cache, shared: bool = True) -> float | None:
    """Count one request against ``key``'s current window. None if allowed, else the seconds until
    the next window. Fails open (None) when the store or the cache is down. ``shared=False``: this
    cache only (per-address budgets of unauthenticated callers: a shared counter per address would
    let anyone with many addresses buy DynamoDB writes; WAF's rate rules are the deployment-wide
    per-address limit)."""
    limit, duration = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // duration)
    if breaker.is_open():
        return None
    try:
        if shared and settings.THROTTLE_SHARED_STORE == "dynamodb":
            late = now - window * duration >= 0.8 * duration
            allowed = _take_leased(f"{key}:{rate}", limit, duration, window, cache, late=late)
        else:
            allowed = _count_in_cache(f"{key}:{rate}:{window}", limit, duration, cache)
    except Exception as exc:  # store or cache down or frozen: throttling must never take the API down
        breaker.trip(exc)
        return None
    return None if allowed else (window + 1) * duration - now


def _count_in_cache(key: str, limit: int, duration: int, cache) -> bool:
    try:
        count = cache.incr(key)  # the common case: this window already has a counter
    except ValueError:  # first request of the window (or a racing one created it meanwhile)
        count = 1 if cache.add(key, 1, timeout=duration + 1) else cache.incr(key)
    return count <= limit


def over_budget(key: str, rate: str, *, now: float | None = None, cache=default_cache,
                shared: bool = True) -> float | None:
    """Is ``key`` already over its budget in this window? (Reads only this process's view; fails open.)"""
    limit, duration = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // duration)
    if breaker.is_open():
        return None
    try:
        if shared and settings.THROTTLE_SHARED_STORE == "dynamodb":
            exhausted = bool(cache.get(f"{key}:{rate}:{window}:spent")) and (cache.get(f"{key}:{rate}:{window}:slice")
                                                                             or 0) <= 0
        else:
            exhausted = (cache.get(f"{key}:{rate}:{window}") or 0) >= limit
    except Exception as exc:
        breaker.trip(exc)
        return None
    return (window + 1) * duration - now if exhausted else None


def tenant_rate(tier: str | None) -> str:
    return settings.TENANT_THROTTLE_RATES.get(tier or "basic") or settings.TENANT_THROTTLE_RATES["basic"]


def throttled_response(wait: float | None) -> JsonResponse:
    seconds = max(1, math.ceil(wait or 1))
    return JsonResponse({"code": "throttled", "message": f"Request was throttled. Expected available in {seconds} "
                                                         f"seconds."}, status=429, headers={"Retry-After": str(seconds)})


def throttled_page(request, wait: float | None):
    from saas.web import error_page

    seconds = max(1, math.ceil(wait or 1))
    response = error_page(request, 429, f"Your organisation is making too many requests right now. "
                                        f"Try again in {seconds} second{'s' if seconds != 1 else ''}.")
    response["Retry-After"] = str(seconds)
    return response


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
        self.wait_seconds = hit(tenant_key("throttle"), tenant_rate(ctx.tier), now=self.timer(), cache=self.cache)
        return self.wait_seconds is None

    def wait(self):
        return math.ceil(self.wait_seconds) if self.wait_seconds else None


# --- callers without a tenant ------------------------------------------------------------------------
def _bad_token_key(request) -> str:
    return f"throttle:bad-token:{client_address(request)}"


def bad_token_refused(request) -> float | None:
    """Before verifying a bearer token: is this address over its failed-token budget?"""
    return over_budget(_bad_token_key(request), settings.CALLER_THROTTLE_RATES["bad_token"], shared=False)


def record_bad_token(request) -> None:
    hit(_bad_token_key(request), settings.CALLER_THROTTLE_RATES["bad_token"], shared=False)


class CallerThrottleMiddleware:
    """Runs inside TenantContextMiddleware, so the identity and the tenant context are known."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = getattr(request, "throttle_wait", None)
        if refused is not None:
            return throttled_response(refused)
        ctx = current_context()
        if isinstance(ctx, TenantContext):
            if not request.path.startswith("/api/"):
                # Web pages spend the tenant's budget too (the API's is counted by TenantRateThrottle).
                wait = hit(tenant_key("throttle"), tenant_rate(ctx.tier))
                if wait is not None:
                    return throttled_page(request, wait)
        else:
            identity = getattr(request, "identity", None)
            if identity is not None:  # a verified user: shared like the tenants' budgets
                key, rate, shared = (f"throttle:no-tenant:{identity.sub}", settings.CALLER_THROTTLE_RATES["no_tenant"],
                                     True)
            else:
                key, rate, shared = (f"throttle:anonymous:{client_address(request)}",
                                     settings.CALLER_THROTTLE_RATES["anonymous"], False)
            wait = hit(key, rate, shared=shared)
            if wait is not None:
                return throttled_response(wait)
        return self.get_response(request)
