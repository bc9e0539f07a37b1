"""The tenant in context: its settings, its members and roles; and a user's active tenant."""
from __future__ import annotations

import logging

from boto3.dynamodb.conditions import Attr

from audit import Entry
from saas import limits
from saas.tenancy import get_context, system_context
from saas.tenancy.context import ROLE_RANK, ROLES
from saas.tenancy.store import (
    DoesNotExist,
)

from .. import active_tenant, notifications
from ..errors import (
    CannotRaiseOwnRole,
    LastAdmin,
    NotAllowed,
    NotAMember,
    TenantInactive,
)
from ..models import TENANT_DIRECTORY, Member, Tenant, UserMembership
from .records import commit_change, get_tenant, replace_tenant, revoke_ops_of_writer, tenant_audit

logger = logging.getLogger("tenants")


# --- the current tenant -------------------------------------------------------------------------
def update_current_tenant(*, name: str) -> dict:
    ctx = get_context()
    tenant = get_tenant(ctx.tenant_id)
    if tenant.get("name") == name:
        return tenant
    updated = replace_tenant(tenant, reason=f"rename tenant {ctx.tenant_id}", name=name,
                             audit=tenant_audit(tenant, "tenant.renamed", changes={"name": [tenant.get("name"), name]},
                                                platform=False))
    logger.info("tenant %s renamed by %s", ctx.tenant_id, ctx.user_id)
    return updated


# --- memberships (the tenant in context) ----------------------------------------------------------
def require_admin() -> None:
    ctx = get_context()
    if not ctx.at_least("admin"):
        raise NotAllowed("Only admins manage members.")


def other_admin_guard(*, leaving: str) -> dict:
    """A transaction check that some admin other than ``leaving`` still is one.

    The role index is read to find a candidate (it may lag); the ConditionCheck inside the
    transaction is what guarantees it: two admins demoting each other at the same time conflict,
    so a tenant can never end up without an admin."""
    page = Member.objects.query(index="by_role", value="ROLE#admin", limit=10)
    for candidate in page.items:
        if candidate["id"] != leaving and candidate.get("role") == "admin":
            return Member.objects.condition_op(candidate["id"], Attr("role").eq("admin"))
    raise LastAdmin()


def change_member_role(*, user_id: str, role: str) -> dict:
    require_admin()
    ctx = get_context()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    member = Member.objects.get(user_id, consistent=True)  # another tenant's user: DoesNotExist -> 404
    if member["role"] == role:
        return member
    if user_id == ctx.user_id and ROLE_RANK[role] > ROLE_RANK.get(member["role"], -1):
        raise CannotRaiseOwnRole()
    member_op, updated = Member.objects.update_op(user_id, expected_version=member["version"], current=member,
                                                  role=role)
    with system_context(reason=f"role of {user_id} in {ctx.tenant_id}"):
        mirror = UserMembership.objects.get(user_id, ctx.tenant_id, consistent=True)
        mirror_op, _ = UserMembership.objects.put_op(user_id, ctx.tenant_id, expected_version=mirror["version"],
                                                     **{**mirror, "role": role})
    ops = [member_op, mirror_op]
    revoked: list[str] = []
    if member["role"] == "admin":
        ops.append(other_admin_guard(leaving=user_id))
        # An admin no more: the invitations he wrote lose their authority (and go, in this transaction).
        revoke, revoked = revoke_ops_of_writer(ctx.tenant_id, user_id)
        ops += revoke
    entry = Entry(action="member.role_changed", target_type="member", target_id=user_id, tenant_id=ctx.tenant_id,
                  tier=ctx.tier, changes={"role": [member["role"], role]},
                  detail={"invitations_revoked": revoked} if revoked else None)
    commit_change(ops, entry, reason=f"change role of {user_id} in {ctx.tenant_id}")
    active_tenant.cache.invalidate_user(user_id)
    logger.info("member %s of %s is now %s (by %s)", user_id, ctx.tenant_id, role, ctx.user_id)
    return Member.objects.get(user_id, consistent=True)


def remove_member(*, user_id: str) -> None:
    require_admin()
    ctx = get_context()
    member = Member.objects.get(user_id, consistent=True)
    ops = [Member.objects.delete_op(user_id, expected_version=member["version"]), limits.release_op("members")]
    with system_context(reason=f"remove {user_id} from {ctx.tenant_id}"):
        ops.append(UserMembership.objects.delete_op(user_id, ctx.tenant_id))
    if member["role"] == "admin":
        ops.append(other_admin_guard(leaving=user_id))
    # Removal is final: the invitations this member wrote go with him, in the same transaction.
    revoke, revoked = revoke_ops_of_writer(ctx.tenant_id, user_id)
    entry = Entry(action="member.removed", target_type="member", target_id=user_id, tenant_id=ctx.tenant_id,
                  tier=ctx.tier, changes={"role": [member["role"], None], "email": [member.get("email"), None]},
                  detail={"invitations_revoked": revoked} if revoked else None)
    commit_change(ops + revoke, entry, reason=f"remove {user_id} from {ctx.tenant_id}")
    active_tenant.cache.invalidate_user(user_id)
    logger.info("member %s removed from %s by %s", user_id, ctx.tenant_id, ctx.user_id)
    tenant_name = get_tenant(ctx.tenant_id).get("name", "")
    notifications.notify_member_removed(tenant_id=ctx.tenant_id, tenant_name=tenant_name, email=member.get("email"))


# --- the active tenant ------------------------------------------------------------------------------
def switch_active_tenant(*, user_id: str, tenant_id: str) -> dict:
    """Raises NotAMember when the user has no membership there (callers answer 403, no leak)."""
    with system_context(reason=f"switch active tenant for {user_id}"):
        try:
            membership = UserMembership.objects.get(user_id, tenant_id, consistent=True)
        except DoesNotExist:
            raise NotAMember() from None
        try:
            tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        except DoesNotExist:
            raise NotAMember() from None
        if tenant.get("status") != "active":
            raise TenantInactive(f"That tenant is {tenant.get('status')}.")
        active_tenant.set_active_tenant_record(user_id, tenant_id)
    return membership
