"""Reads for tenants and memberships."""
from __future__ import annotations

import functools
import operator
import time

from boto3.dynamodb.conditions import Attr

from saas.tenancy import get_context, system_context
from saas.tenancy.store import DoesNotExist, Page

from .models import TENANT_DIRECTORY, Member, Tenant, TenantRegistration, UserMembership

TENANT_FIELDS = ("id", "name", "tier", "status", "deployment", "created_at", "updated_at", "version")
ADMIN_TENANT_FIELDS = TENANT_FIELDS + ("failure_reason", "created_by", "owner_email", "status_changed_at")
PENDING_TENANT_FIELDS = ("id", "name", "tier", "status", "failure_reason", "created_at")
MEMBER_FIELDS = ("user_id", "email", "role", "invited_by", "created_at", "updated_at", "version")


def _pick(item: dict, fields: tuple[str, ...]) -> dict:
    return {f: item.get(f) for f in fields}


def get_tenant(tenant_id: str) -> dict:
    """The tenant's directory record; raises DoesNotExist."""
    with system_context(reason=f"read tenant {tenant_id}"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id)


def directory_record(tenant_id: str) -> dict | None:
    """The tenant's directory record read consistently, or None (the job runner's check)."""
    with system_context(reason=f"job: check tenant {tenant_id} is active"):
        try:
            return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        except DoesNotExist:
            return None


def directory_page(cursor: str | None = None) -> Page:
    """The whole tenant directory, 100 records a page (the periodic sweep; system context)."""
    with system_context(reason="sweep: list tenants"):
        return Tenant.objects.query(TENANT_DIRECTORY, cursor=cursor, limit=100)


def _summary(tenant: dict) -> dict:
    return {"id": tenant["id"], "name": tenant["name"], "tier": tenant["tier"], "status": tenant["status"]}


def tenant_summary(tenant_id: str) -> dict | None:
    try:
        tenant = get_tenant(tenant_id)
    except DoesNotExist:
        return None
    return _summary(tenant)


def current_tenant() -> dict:
    """The tenant in context, as its members see it."""
    return _pick(get_tenant(get_context().tenant_id), TENANT_FIELDS)


def memberships_of(user_id: str) -> list[dict]:
    """The user's memberships with their tenants' summaries, in two round trips (one Query, one
    BatchGetItem). A membership whose tenant record is gone keeps only the tenant's id."""
    with system_context(reason=f"list memberships of {user_id}"):
        items = UserMembership.objects.query(user_id, limit=100).items
        tenants = Tenant.objects.batch_get((TENANT_DIRECTORY, m["tenant_id"]) for m in items)
    result = []
    for membership in items:
        tenant = tenants.get((TENANT_DIRECTORY, membership["tenant_id"]))
        summary = _summary(tenant) if tenant else {"id": membership["tenant_id"]}
        result.append({"tenant": summary, "role": membership["role"]})
    return result


def switchable_tenants_of(user_id: str) -> list[dict]:
    """The tenant switcher's entries: each membership with its tenant's name, tier and status, in
    two round trips (one Query, one BatchGetItem), ordered by name."""
    with system_context(reason=f"tenant switcher for {user_id}"):
        items = UserMembership.objects.query(user_id, limit=100).items
        tenants = Tenant.objects.batch_get((TENANT_DIRECTORY, m["tenant_id"]) for m in items)
    entries = []
    for membership in items:
        tenant = tenants.get((TENANT_DIRECTORY, membership["tenant_id"]))
        if tenant is None:
            continue
        entries.append({"id": tenant["id"], "name": tenant["name"], "tier": tenant["tier"],
                        "status": tenant["status"], "role": membership["role"]})
    return sorted(entries, key=lambda e: (e["name"].casefold(), e["id"]))


def pending_tenants_of(user_id: str) -> list[dict]:
    """Silo tenants the user registered that are not usable yet (``provisioning``) or could not be
    made (``failed``, with ``failure_reason``), oldest first. Once active they are memberships."""
    with system_context(reason=f"list pending tenants of {user_id}"):
        registrations = TenantRegistration.objects.query(user_id, limit=100).items
    pending = []
    for registration in registrations:
        if registration["expires_at"] <= time.time():  # TTL deletion is lazy
            continue
        try:
            tenant = get_tenant(registration["id"])
        except DoesNotExist:
            continue
        if tenant["status"] in ("pending_approval", "provisioning", "failed", "rejected"):
            pending.append(_pick(tenant, PENDING_TENANT_FIELDS))
    return sorted(pending, key=lambda tenant: tenant["created_at"])


def list_members(*, cursor: str | None = None, limit: int = 20) -> Page:
    page = Member.objects.query(cursor=cursor, limit=limit)
    return Page(items=[_pick(m, MEMBER_FIELDS) for m in page.items], next_cursor=page.next_cursor)


def get_member(user_id: str) -> dict:
    return _pick(Member.objects.get(user_id), MEMBER_FIELDS)


def public_member(member: dict) -> dict:
    return _pick(member, MEMBER_FIELDS)


def list_tenants(*, cursor: str | None = None, limit: int = 20, status: str | None = None,
                 tier: str | None = None) -> Page:
    """Every tenant on the platform, a page at a time (platform admins only), optionally only those
    with the given status and/or tier (a filtered page may hold fewer than ``limit``)."""
    with system_context(reason="platform admin: list tenants"):
        conditions = [Attr(name).eq(value) for name, value in (("status", status), ("tier", tier)) if value]
        page = Tenant.objects.query(TENANT_DIRECTORY, cursor=cursor, limit=limit,
                                    filter=functools.reduce(operator.and_, conditions) if conditions else None)
    return Page(items=[admin_tenant(t) for t in page.items], next_cursor=page.next_cursor)


def admin_tenant(tenant: dict) -> dict:
    return _pick(tenant, ADMIN_TENANT_FIELDS)


def public_tenant(tenant: dict) -> dict:
    return _pick(tenant, TENANT_FIELDS)


def me(*, identity, resolution) -> dict:
    """GET /me: the person, their active tenant (also when it is not usable, with its status), every
    membership, and the silo tenants they registered that are still being (or failed to be) made:
    POST /tenants answers 202 with ``Location`` pointing here for those."""
    memberships = memberships_of(identity.sub)
    active = None
    if resolution is not None and resolution.tenant_id:
        found = next((m for m in memberships if m["tenant"]["id"] == resolution.tenant_id), None)
        if found is not None:
            roles = sorted(resolution.context.roles) if resolution.context is not None else [found["role"]]
            active = {**found["tenant"], "roles": roles}
    return {
        "user": {"id": identity.sub, "email": identity.email, "system_admin": identity.is_system_admin},
        "active_tenant": active,
        "memberships": memberships,
        "pending_tenants": pending_tenants_of(identity.sub),
    }


def email_of(identity) -> str:
    """The person's *verified* email: from the identity (which keeps only a verified address), else
    from her user-pool record, found by the username (or ``sub``) of her verified token, and only
    while the pool says ``email_verified`` (Cognito clears it when a user changes her own address).
    "" when there is none: invitations and records then match nobody."""
    if identity.email:
        return identity.email
    from . import cognito

    try:
        user = cognito.find_user(identity.username or identity.sub)
    except cognito.CognitoUnavailable:
        user = None
    if user is None or user.sub != identity.sub or user.attributes.get("email_verified") != "true":
        return ""
    return user.email
