"""Writes for tenants, memberships and the active tenant. Keyword-only, typed."""
from __future__ import annotations

import logging
import secrets

from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import DoesNotExist, transact_write

from . import resolution
from .models import POOLED_TIERS, ROLES, TENANT_DIRECTORY, TIERS, Member, Tenant, UserMembership

logger = logging.getLogger("tenants")


class NotAMember(Exception):
    pass


def new_tenant_id() -> str:
    """Random and unguessable; only [a-z0-9-] so it can never inject a key delimiter."""
    return "t-" + secrets.token_hex(10)


def membership_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None) -> list[dict]:
    """The pair of items that make one membership; both created in the caller's transaction."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    fields = {"tenant_id": tenant_id, "user_id": user_id, "email": email, "role": role}
    with system_context(reason=f"membership of {user_id} in {tenant_id}"):
        user_op, _ = UserMembership.objects.put_op(user_id, tenant_id, **fields)
    with tenant_context(tenant_id):
        member_op, _ = Member.objects.create_op(id=user_id, user_id=user_id, email=email, role=role,
                                                invited_by=invited_by)
    return [user_op, member_op]


def create_pooled_tenant(*, name: str, tier: str, owner_id: str, owner_email: str) -> dict:
    """Tenant record + the owner's admin membership, all in one transaction."""
    if tier not in POOLED_TIERS:
        raise ValueError(f"tier {tier!r} is not pooled")
    tenant_id = new_tenant_id()
    with system_context(reason=f"create tenant {tenant_id}"):
        tenant_op, tenant = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, name=name, tier=tier, status="active", deployment="pooled",
            created_by=owner_id)
    ops = [tenant_op, *membership_ops(tenant_id=tenant_id, user_id=owner_id, email=owner_email, role="admin")]
    with system_context(reason=f"create tenant {tenant_id}"):
        transact_write(ops)
    resolution.cache.invalidate_user(owner_id)
    logger.info("tenant created: %s tier=%s owner=%s", tenant_id, tier, owner_id)
    return tenant


def switch_active_tenant(*, user_id: str, tenant_id: str) -> dict:
    """Raises NotAMember when the user has no membership there (callers answer 403, no leak)."""
    with system_context(reason=f"switch active tenant for {user_id}"):
        try:
            membership = UserMembership.objects.get(user_id, tenant_id, consistent=True)
        except DoesNotExist:
            raise NotAMember(tenant_id) from None
        resolution.set_active_tenant_record(user_id, tenant_id)
    return membership


__all__ = ["TIERS", "NotAMember", "create_pooled_tenant", "membership_ops", "new_tenant_id", "switch_active_tenant"]
