"""Plan limits by tier, enforced exactly.

The limits live in one settings table, ``PLAN_LIMITS[tier][name]`` (None = unlimited). A limited
resource keeps a per-tenant quota counter (entity ``QUOTA``, id = the limit's name, ``used``).
Creating one adds ``reserve_op(name)`` to the creating transaction: ``used + 1`` on the condition
``used < limit``, so two concurrent creations can never both take the last slot and a refused
creation writes nothing. Deleting adds ``release_op(name)`` (``used - 1``). A cancelled
transaction whose reserve failed is reported as ``PlanLimitExceeded`` (HTTP 403, code
``plan_limit``, naming the limit).
"""
from __future__ import annotations

from boto3.dynamodb.conditions import Attr
from django.conf import settings

from saas.errors import Forbidden
from saas.tenancy.context import get_context
from saas.tenancy.store import TenantModel

LIMIT_NAMES = ("products", "members", "webhook_subscriptions", "webhook_endpoints", "tenants_per_user")
LIMIT_LABELS = {"products": "Products", "members": "Members", "webhook_subscriptions": "Webhook subscriptions",
               "webhook_endpoints": "Webhook endpoints",
                "tenants_per_user": "Tenants a user may create"}  # as people read them (Settings -> Usage)


class Quota(TenantModel):
    entity = "QUOTA"  # id = limit name; ``used``


class PlanLimitExceeded(Forbidden):
    """403 ``plan_limit``: the body names the ``limit``, its ``max`` and the ``tier``."""

    code = "plan_limit"

    def __init__(self, limit: str, *, maximum: int, tier: str):
        self.limit, self.maximum, self.tier = limit, maximum, tier
        super().__init__(f"Your {tier} plan allows at most {maximum} {limit.replace('_', ' ')}; "
                         f"upgrade the plan or remove some first.",
                         extra={"limit": limit, "max": maximum, "tier": tier})


def limit_for(name: str, *, tier: str | None = None) -> int | None:
    if name not in LIMIT_NAMES:
        raise ValueError(f"unknown plan limit {name!r}")
    tier = tier or get_context().tier
    value = settings.PLAN_LIMITS.get(tier, settings.PLAN_LIMITS["basic"]).get(name)
    return None if value is None else int(value)


def reserve_op(name: str, *, count: int = 1) -> dict:
    """The transaction item that takes ``count`` slots of ``name`` (counted also when the plan is
    unlimited, so a later downgrade knows the usage)."""
    limit = limit_for(name)
    if limit is None:
        return Quota.objects.add_op(name, deltas={"used": count})
    if count > limit:
        return Quota.objects.add_op(name, deltas={"used": count}, condition=Attr("used").lt(0))  # never true
    return Quota.objects.add_op(name, deltas={"used": count},
                                condition=Attr("used").not_exists() | Attr("used").lte(limit - count))


def release_op(name: str) -> dict:
    return Quota.objects.add_op(name, deltas={"used": -1})


def exceeded(name: str) -> PlanLimitExceeded:
    ctx = get_context()
    return PlanLimitExceeded(name, maximum=limit_for(name) or 0, tier=ctx.tier)


def usage_of(name: str) -> int:
    from saas.tenancy.store import DoesNotExist

    try:
        return Quota.objects.get(name, consistent=True).get("used", 0)
    except DoesNotExist:
        return 0


def overview() -> list[dict]:
    """Every tenant-level limit of the current tenant's plan with what is used (Settings -> Usage)."""
    from saas.hooks import hooks

    ctx = get_context()
    return [{"limit": name, "max": limit_for(name, tier=ctx.tier),
             "used": hooks.limit_usage[name]() if name in hooks.limit_usage else usage_of(name)}
            for name in LIMIT_NAMES if name != "tenants_per_user"]
