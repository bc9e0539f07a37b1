"""Active-tenant resolution: verified identity -> membership record -> TenantContext.

The tenant is never read from a header, the query string or the body. A warm process resolves
from an in-process cache (0 DynamoDB calls); entries live ``MEMBERSHIP_CACHE_TTL_SECONDS`` and are
dropped at once in the process that changes a membership, a profile or a tenant's status
(``cache.invalidate_user`` / ``cache.invalidate_tenant``), so such changes reach every other
process within the TTL. The request side (bearer token or session -> identity) is ``tenants.resolution``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

from django.conf import settings

from saas.cache import TTLCache
from saas.tenancy import TenantContext, system_context
from saas.tenancy.store import AlreadyExists, DoesNotExist, VersionConflict, get_platform_items

from .identity import Identity
from .models import TENANT_DIRECTORY, Tenant, UserMembership, UserProfile


@dataclass(frozen=True)
class Resolution:
    context: TenantContext | None
    # Why there is no context: "no_membership" | "tenant_inactive" | None
    problem: str | None = None
    tenant_status: str | None = None
    tenant_id: str | None = None  # the active tenant, also when it is not usable


class ResolutionCache:
    """User (``sub``) -> Resolution, ``MEMBERSHIP_CACHE_TTL_SECONDS``, at most ``MAX_ENTRIES`` users."""

    MAX_ENTRIES = 50_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._cache: TTLCache[Resolution] = TTLCache(maxsize=self.MAX_ENTRIES, clock=clock,
                                                     ttl=lambda _: settings.MEMBERSHIP_CACHE_TTL_SECONDS)

    def get(self, sub: str) -> Resolution | None:
        return self._cache.get(sub)

    def put(self, sub: str, resolution: Resolution) -> None:
        self._cache.set(sub, resolution)

    def invalidate_user(self, sub: str) -> None:
        self._cache.pop(sub)

    def invalidate_tenant(self, tenant_id: str) -> None:
        self._cache.drop(lambda sub, resolution: resolution.tenant_id == tenant_id)

    def clear(self) -> None:
        self._cache.clear()


cache = ResolutionCache()


def load(identity: Identity) -> Resolution:
    """The identity's active tenant read from the records now (profile, then membership and tenant)."""
    with system_context(reason=f"resolve active tenant for {identity.sub}"):
        try:
            profile = UserProfile.objects.get(identity.sub, "profile", consistent=True)
            active = profile.get("active_tenant_id")
        except DoesNotExist:
            active = None
        membership = tenant = None
        if active and "#" not in active:
            # The membership and the tenant in one round trip (both consistent reads).
            found = get_platform_items([(UserMembership, identity.sub, active), (Tenant, TENANT_DIRECTORY, active)])
            membership = found.get((UserMembership, identity.sub, active))
            tenant = found.get((Tenant, TENANT_DIRECTORY, active)) if membership is not None else None
        if membership is None:
            membership = _seed_active_membership(identity)
        if membership is None:
            return Resolution(context=None, problem="no_membership")
        if tenant is None:
            try:
                tenant = Tenant.objects.get(TENANT_DIRECTORY, membership["tenant_id"], consistent=True)
            except DoesNotExist:
                return Resolution(context=None, problem="no_membership")
    if tenant.get("status") != "active":
        return Resolution(context=None, problem="tenant_inactive", tenant_status=tenant.get("status"),
                          tenant_id=tenant["id"])
    return Resolution(context=TenantContext(tenant_id=tenant["id"], user_id=identity.sub,
                                            roles=frozenset([membership["role"]]), tier=tenant.get("tier", "basic")),
                      tenant_status="active", tenant_id=tenant["id"])


def _seed_active_membership(identity: Identity) -> dict | None:
    """First sign-in (or the active membership is gone): the custom:tenant_id claim if the user is a
    member there, else the user's oldest membership. The choice is stored on the profile."""
    memberships = UserMembership.objects.query(identity.sub, limit=100).items
    if not memberships:
        return None
    by_tenant = {m["tenant_id"]: m for m in memberships}
    chosen = by_tenant.get(identity.seed_tenant_id or "") or min(memberships, key=lambda m: m["created_at"])
    set_active_tenant_record(identity.sub, chosen["tenant_id"])
    return chosen


def set_active_tenant_record(sub: str, tenant_id: str) -> None:
    """Upsert the user's profile (system context required). Concurrent writers: last one wins."""
    for attempt in range(3):
        try:
            try:
                profile = UserProfile.objects.get(sub, "profile", consistent=True)
            except DoesNotExist:
                UserProfile.objects.put(sub, "profile", active_tenant_id=tenant_id)
            else:
                if profile.get("active_tenant_id") != tenant_id:
                    UserProfile.objects.put(sub, "profile", expected_version=profile["version"],
                                            **{**profile, "active_tenant_id": tenant_id})
            break
        except (AlreadyExists, VersionConflict):
            if attempt == 2:
                raise
    cache.invalidate_user(sub)


def fresh_context(ctx: TenantContext) -> TenantContext | None:
    """The caller's role in the context's tenant, read consistently now (privileged actions do not
    trust the cached resolution: a demotion or removal made on another process applies at once).
    None when the membership is gone. Drops this process's cached entry when it is stale."""
    if ctx.user_id is None:  # no user, no membership
        return None
    with system_context(reason=f"re-check membership of {ctx.user_id} in {ctx.tenant_id}"):
        try:
            membership = UserMembership.objects.get(ctx.user_id, ctx.tenant_id, consistent=True)
        except DoesNotExist:
            membership = None
    if membership is None or frozenset([membership["role"]]) != ctx.roles:
        cache.invalidate_user(ctx.user_id)
    if membership is None:
        return None
    return replace(ctx, roles=frozenset([membership["role"]]))


def resolve(identity: Identity, *, fresh: bool = False) -> Resolution:
    """The identity's active tenant; ``fresh`` reads the records again instead of the cache."""
    hit = None if fresh else cache.get(identity.sub)
    if hit is not None:
        return hit
    resolution = load(identity)
    cache.put(identity.sub, resolution)
    return resolution


def recheck(identity: Identity, resolution: Resolution | None) -> Resolution | None:
    """A cached "no membership" may predate a membership (the silo tenant a worker just provisioned,
    which its owner polls for in GET /me): read the records again in that case."""
    if resolution is not None and resolution.problem == "no_membership":
        return resolve(identity, fresh=True)
    return resolution
