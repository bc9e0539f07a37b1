"""Tenant directory records and membership items: the building blocks the other service modules share."""
from __future__ import annotations

import hashlib
import secrets
from typing import Any, Sequence

from boto3.dynamodb.conditions import Attr
from django.conf import settings

import audit as audit_trail
from audit import Entry
from saas import limits
from saas.tenancy import system_context, tenant_context
from saas.tenancy.context import ROLES
from saas.tenancy.store import Op, TransactionCancelled, UnitOfWork, VersionConflict

from ..errors import ConcurrentChange
from ..models import TENANT_DIRECTORY, Invitation, InvitationInbox, Member, Tenant, UserMembership


def new_tenant_id() -> str:
    """Random and unguessable (80 bits); only [a-z0-9-] so it can never inject a key delimiter."""
    return "t-" + secrets.token_hex(10)


def silo_table_name(tenant_id: str) -> str:
    return f"{settings.DYNAMODB_SILO_TABLE_PREFIX}{tenant_id}"


def get_tenant(tenant_id: str) -> dict:
    with system_context(reason=f"read tenant {tenant_id}"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)


def replace_tenant(tenant: dict, *, reason: str, audit: Entry | list[Entry] | None = None,
                   extra_ops: Sequence[Op] = (), **changes) -> dict:
    """Version-guarded replace of a tenant directory item (VersionConflict on a concurrent change).
    ``audit``: entries (``audit.Entry``) and ``extra_ops`` written in the same unit of work."""
    with system_context(reason=reason):
        if audit is None and not extra_ops:
            return Tenant.objects.put(TENANT_DIRECTORY, tenant["id"], expected_version=tenant["version"],
                                      **{**tenant, **changes})
        op, item = Tenant.objects.put_op(TENANT_DIRECTORY, tenant["id"], expected_version=tenant["version"],
                                         **{**tenant, **changes})
        tx = UnitOfWork()
        tx.put("tenant", op)
        tx.extend("extra", extra_ops)
        if audit is not None:
            tx.join(audit_trail.records(audit))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            raise VersionConflict("tenant was changed by someone else") from exc
        return item


def tenant_audit(tenant: dict, action: str, *, changes: dict | None = None, detail: dict | None = None,
                 platform: bool = True) -> list[Entry]:
    """The same action on the tenant's own trail and (platform actions) the platform trail."""
    entries = [audit_trail.tenant_entry_for(tenant["id"], action, "tenant", tenant["id"], tier=tenant.get("tier"),
                                            changes=changes, detail=detail)]
    if platform:
        entries.append(audit_trail.platform_entry(action, "tenant", tenant["id"], tenant_id=tenant["id"],
                                                  changes=changes, detail=detail))
    return entries


def membership_item_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None,
                    member_table: str | None = None) -> list[Op]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    fields: dict[str, Any] = {"tenant_id": tenant_id, "user_id": user_id, "email": email, "role": role}
    with system_context(reason=f"membership of {user_id} in {tenant_id}"):
        user_op, _ = UserMembership.objects.put_op(user_id, tenant_id, **fields)
    # A silo tenant's first items are written in the very transaction that records its route, so
    # they are pointed at the silo table explicitly.
    members = Member.objects if member_table is None else Member.objects.on_table(member_table)
    with tenant_context(tenant_id):
        member_op, _ = members.create_op(id=user_id, user_id=user_id, email=email, role=role, invited_by=invited_by)
    return [user_op, member_op]


def membership_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None) -> list[Op]:
    """The pair of items that make one membership, and the member counted in the tenant's ``members``
    quota (what Settings -> Usage shows), all in the caller's transaction. For trusted paths (the
    owner of a new tenant, demo data); invitations check the plan's limit themselves."""
    with tenant_context(tenant_id):
        count_op = limits.Quota.objects.add_op("members", deltas={"used": 1})
    return [*membership_item_ops(tenant_id=tenant_id, user_id=user_id, email=email, role=role, invited_by=invited_by),
            count_op]


def commit_change(operations: list[Op] | UnitOfWork, entry: Entry, *, reason: str) -> None:
    """Write a membership/invitation change (its operations, or a unit of work holding them) with
    its audit record in one unit of work (under system_context: it touches platform items); any
    cancellation is a ``ConcurrentChange``."""
    if isinstance(operations, UnitOfWork):
        tx = operations
    else:
        tx = UnitOfWork()
        tx.extend("change", operations)
    tx.join(audit_trail.records(entry))
    try:
        with system_context(reason=reason):
            tx.commit()
    except TransactionCancelled as exc:
        raise ConcurrentChange() from exc


# --- invitations: the items shared by invitation answers and by removing their writer ----------------
def normalise_email(email: str) -> str:
    return email.strip().lower()


def inbox_partition(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:40]


def invitation_removal_ops(tenant_id: str, invitation: dict) -> list[Op]:
    with tenant_context(tenant_id):
        ops = [Invitation.objects.delete_op(invitation["id"], expected_version=invitation["version"])]
    with system_context(reason="remove invitation"):
        inbox = InvitationInbox.objects.delete_op(inbox_partition(invitation["email"]),
                                                  f"{tenant_id}.{invitation['id']}",
                                                  missing_ok=True)  # the inbox copy may already be gone
    return [*ops, inbox]


# Invitations revoked in the transaction that removes their writer (2 items each; DynamoDB takes
# 100 per transaction). More than that stay listed until revoked, but are void: accepting checks
# that the inviter is still an admin.
REVOKED_WITH_WRITER = 40


def revoke_ops_of_writer(tenant_id: str, user_id: str) -> tuple[list[Op], list[str]]:
    """Items deleting the pending invitations ``user_id`` wrote in ``tenant_id`` (context: that
    tenant), for the caller's transaction, and their ids."""
    ops: list[dict] = []
    ids: list[str] = []
    for item in Invitation.objects.every(filter=Attr("invited_by").eq(user_id)):
        if len(ids) == REVOKED_WITH_WRITER:
            break
        ops += invitation_removal_ops(tenant_id, item)
        ids.append(item["id"])
    return ops, ids
