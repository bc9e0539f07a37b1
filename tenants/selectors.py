"""Reads for tenants and memberships."""
from __future__ import annotations

from saas.tenancy import system_context
from saas.tenancy.store import DoesNotExist

from .models import TENANT_DIRECTORY, Tenant, UserMembership


def tenant_summary(tenant_id: str) -> dict | None:
    with system_context(reason=f"read tenant {tenant_id}"):
        try:
            tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_id)
        except DoesNotExist:
            return None
    return {"id": tenant["id"], "name": tenant["name"], "tier": tenant["tier"], "status": tenant["status"]}


def memberships_of(user_id: str) -> list[dict]:
    with system_context(reason=f"list memberships of {user_id}"):
        items = UserMembership.objects.query(user_id, limit=100).items
    result = []
    for membership in items:
        summary = tenant_summary(membership["tenant_id"]) or {"id": membership["tenant_id"]}
        result.append({"tenant": summary, "role": membership["role"]})
    return result
