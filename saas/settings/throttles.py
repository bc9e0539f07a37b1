"""What a tenant may use: request rates (per tenant, per caller), plan limits, usage counters."""
from __future__ import annotations

import os

from saas.settings.environment import env, env_bool

# Requests per tenant (all of its users together), by tier. Per-second windows, so a flooding
# tenant is refused within a second instead of after spending a minute's allowance.
TENANT_THROTTLE_RATES = {
    "basic": env("THROTTLE_RATE_BASIC", "20/s"),
    "standard": env("THROTTLE_RATE_STANDARD", "50/s"),
    "premium": env("THROTTLE_RATE_PREMIUM", "100/s"),
    "platinum": env("THROTTLE_RATE_PLATINUM", "300/s"),
}
# Callers with no tenant context (saas.throttling.CallerThrottleMiddleware): a signed-in user with
# no active tenant (per user), unauthenticated callers incl. /health (per address), and failed bearer
# tokens (per address; over budget -> refused before any signature check).
CALLER_THROTTLE_RATES = {
    "no_tenant": env("THROTTLE_RATE_NO_TENANT", "10/s"),
    "anonymous": env("THROTTLE_RATE_ANONYMOUS", "20/s"),
    "bad_token": env("THROTTLE_RATE_BAD_TOKEN", "30/min"),
}
# Where budgets are kept (saas.throttling): "dynamodb" = one counter per window shared by every
# process/container, leased in slices of ceil(limit / THROTTLE_LEASE_SLICES) growing (doubling while
# the container spends them) up to ceil(limit / THROTTLE_LEASE_MIN_SLICES); "cache" = per cache.
THROTTLE_SHARED_STORE = env("THROTTLE_SHARED_STORE", "dynamodb")
THROTTLE_LEASE_SLICES = int(env("THROTTLE_LEASE_SLICES", "10"))
THROTTLE_LEASE_MIN_SLICES = int(env("THROTTLE_LEASE_MIN_SLICES", "4"))
# After a cache error the throttles allow everything (logged) and leave the cache alone this long.
THROTTLE_CACHE_RETRY_SECONDS = float(env("THROTTLE_CACHE_RETRY_SECONDS", "5"))
# Plan limits: THE table of limits by tier (saas.limits). None = unlimited.
PLAN_LIMITS: dict[str, dict[str, int | None]] = {
    "basic": {"products": 100, "members": 5, "webhook_subscriptions": 5, "webhook_endpoints": 5},
    "standard": {"products": 1_000, "members": 25, "webhook_subscriptions": 20, "webhook_endpoints": 20},
    "premium": {"products": 10_000, "members": 100, "webhook_subscriptions": 50, "webhook_endpoints": 50},
    "platinum": {"products": None, "members": 1_000, "webhook_subscriptions": 200, "webhook_endpoints": 200},
}
# Usage counters (the usage app) are aggregated in process and written at most this often.
USAGE_FLUSH_SECONDS = float(env("USAGE_FLUSH_SECONDS", "60"))
# On Lambda a frozen container may never run again: write the counts before each invocation returns.
USAGE_FLUSH_EACH_INVOCATION = env_bool("USAGE_FLUSH_EACH_INVOCATION", bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")))
