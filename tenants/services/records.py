"""Tenant directory records and membership items: the building blocks the other service modules share."""
from __future__ import annotations

import secrets

from django.conf import settings

from saas.tenancy import system_context, tenant_context

from ..models import ROLES, TENANT_DIRECTORY, Member, Tenant, UserMembership


def new_tenant_id() -> str:
    """Random and unguessable (80 bits); only [a-z0-9-] so it can never inject a key delimiter."""
    return "t-" + secrets.token_hex(10)


def silo_table_name(tenant_id: str) -> str:
    return f"{settings.DYNAMODB_SILO_TABLE_PREFIX}{tenant_id}"


def get_tenant(tenant_id: str) -> dict:
    with system_context(reason=f"read tenant {tenant_id}"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)


def replace_tenant(tenant: dict, *, reason: str, **changes) -> dict:
    """Version-guarded replace of a tenant directory item (VersionConflict on a concurrent change)."""
    with system_context(reason=reason):
        return Tenant.objects.put(TENANT_DIRECTORY, tenant["id"], expected_version=tenant["version"],
                                  **{**tenant, **changes})


def membership_item_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None,
                    member_table: str | None = None) -> list[dict]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    fields = {"tenant_id": tenant_id, "user_id": user_id, "email": email, "role": role}
    with system_context(reason=f"membership of {user_id} in {tenant_id}"):
        user_op, _ = UserMembership.objects.put_op(user_id, tenant_id, **fields)
    with tenant_context(tenant_id):
        member_op, _ = Member.objects.create_op(id=user_id, user_id=user_id, email=email, role=role,
                                                invited_by=invited_by)
    if member_table is not None:
        # A silo tenant's first items are written in the very transaction that records its route, so
        # the (manager-built) item is pointed at the silo table explicitly.
        member_op["Put"]["TableName"] = member_table
    return [user_op, member_op]


def membership_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None) -> list[dict]:
    """The pair of items that make one membership; both created in the caller's transaction."""
    return membership_item_ops(tenant_id=tenant_id, user_id=user_id, email=email, role=role, invited_by=invited_by)
