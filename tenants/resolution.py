"""Active-tenant resolution: verified identity -> membership record -> TenantContext.

The tenant is never read from a header, the query string or the body. A warm process resolves
from an in-process cache (0 DynamoDB calls); entries live ``MEMBERSHIP_CACHE_TTL_SECONDS`` and are
dropped at once in the process that changes a membership, a profile or a tenant's status
(``cache.invalidate_user`` / ``cache.invalidate_tenant``), so such changes reach every other
process within the TTL.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from django.conf import settings

from saas import throttling
from saas.sessions import USER_KEY
from saas.tenancy import TenantContext, system_context
from saas.tenancy.store import AlreadyExists, DoesNotExist, VersionConflict, get_platform_items

from .identity import Identity, InvalidToken, verify_token
from .models import TENANT_DIRECTORY, Tenant, UserMembership, UserProfile

logger = logging.getLogger("tenants.resolution")
audit = logging.getLogger("saas.audit")  # security events: kept at any production log level

# Keys of the server-side session written by the browser sign-in (tenants.backends).
SESSION_SUB = USER_KEY  # the session backend lists sessions by this user id ("sign out everywhere")
SESSION_EMAIL, SESSION_GROUPS, SESSION_SEED = ("identity_email", "identity_groups", "identity_seed_tenant")


@dataclass(frozen=True)
class Resolution:
    context: TenantContext | None
    # Why there is no context: "no_membership" | "tenant_inactive" | None
    problem: str | None = None
    tenant_status: str | None = None
    tenant_id: str | None = None  # the active tenant, also when it is not usable


class ResolutionCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._entries: dict[str, tuple[Resolution, float]] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, sub: str) -> Resolution | None:
        entry = self._entries.get(sub)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def put(self, sub: str, resolution: Resolution) -> None:
        with self._lock:
            self._entries[sub] = (resolution, self._clock() + settings.MEMBERSHIP_CACHE_TTL_SECONDS)

    def invalidate_user(self, sub: str) -> None:
        with self._lock:
            self._entries.pop(sub, None)

    def invalidate_tenant(self, tenant_id: str) -> None:
        with self._lock:
            for sub in [s for s, (r, _) in self._entries.items() if r.tenant_id == tenant_id]:
                self._entries.pop(sub, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


cache = ResolutionCache()


def _load(identity: Identity) -> Resolution:
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


def resolve(identity: Identity) -> Resolution:
    hit = cache.get(identity.sub)
    if hit is not None:
        return hit
    resolution = _load(identity)
    cache.put(identity.sub, resolution)
    return resolution


def identity_from_session(session) -> Identity | None:
    if session is None or not session.get(SESSION_SUB):
        return None
    return Identity(sub=session[SESSION_SUB], email=session.get(SESSION_EMAIL, ""),
                    groups=frozenset(session.get(SESSION_GROUPS, [])),
                    seed_tenant_id=session.get(SESSION_SEED), source="session")


def identity_from_request(request) -> Identity | None:
    """Bearer token if present, else the browser session. Records a bearer failure for DRF (401)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            request.auth_error = "Authorization header must be 'Bearer <token>'."
            return None
        # An address that keeps sending bad tokens is refused before any (RSA) verification.
        request.throttle_wait = throttling.bad_token_refused(request)
        if request.throttle_wait is not None:
            request.auth_error = "Too many invalid tokens."
            return None
        try:
            return verify_token(token.strip())
        except InvalidToken as exc:
            throttling.record_bad_token(request)
            request.auth_error = str(exc)
            audit.warning("bearer token rejected: %s", exc, extra={"event": "auth.token_rejected",
                                                                   "path": request.path})
            return None
    return identity_from_session(getattr(request, "session", None))


# Paths where a session's platform-admin group is re-checked with the user pool on every request.
PLATFORM_PATHS = ("/platform", "/api/v1/admin")


def _current_groups(request, identity: Identity) -> Identity:
    """A browser session keeps the groups of its sign-in; whoever holds (or asks for) platform powers
    is re-checked against the user pool on each request, so a group change takes effect at once.
    If the pool cannot be asked, platform powers are withheld (fail closed)."""
    if not (identity.is_system_admin or request.path.startswith(PLATFORM_PATHS)):
        return identity
    from . import cognito

    try:
        groups = frozenset(cognito.groups_of(identity.email or identity.sub))
    except Exception:  # pool unreachable or user gone: no platform powers for this request
        logger.warning("could not re-check groups of %s; platform access withheld", identity.sub, exc_info=True)
        groups = identity.groups - {settings.COGNITO_SYSTEM_ADMIN_GROUP}
    if groups == identity.groups:
        return identity
    request.session[SESSION_GROUPS] = sorted(groups)
    logger.info("groups of %s changed since sign-in: %s", identity.sub, sorted(groups))
    return Identity(sub=identity.sub, email=identity.email, groups=groups, seed_tenant_id=identity.seed_tenant_id,
                    source="session")


def resolve_request(request) -> TenantContext | None:
    """The TENANT_RESOLVER used by saas.tenancy.middleware."""
    request.auth_error = None
    request.identity = identity = identity_from_request(request)
    request.resolution = None
    if identity is None:
        return None
    if identity.source == "session":
        identity = request.identity = _current_groups(request, identity)
        # Django views and templates see the signed-in browser user (no database user exists).
        from .authentication import ApiUser

        request.user = ApiUser(identity=identity)
        # People in a browser see membership changes made by any process on their next request:
        # the membership is read afresh (three consistent reads), not from the in-process cache.
        request.resolution = _load(identity)
        cache.put(identity.sub, request.resolution)
    else:
        request.resolution = resolve(identity)
    return request.resolution.context
