"""Writes for tenants, memberships and the active tenant. Keyword-only, typed.

Tenant-scoped operations (members, the current tenant's settings) act on the tenant in context:
the request's ``TenantContext`` is the only authority on which tenant is being changed. Platform
operations (tenant status and tier) run under an explicit ``system_context``. Every change that
affects who may act where drops the resolution cache entries it makes stale in this process.

The writes live by concern: ``onboarding`` (registration, silo provisioning), ``members`` (the
tenant in context and its members, the active tenant), ``platform`` (status and tier, for operators),
on the shared ``records``. Import them from here; their failure kinds from ``tenants.errors``.
"""
from __future__ import annotations

from .invitations import (
    accept_invitation,
    decline_invitation,
    invite_member,
    leave_tenant,
    list_invitations,
    my_invitations,
    public_invitation,
    revoke_invitation,
)
from .members import (
    change_member_role,
    remove_member,
    switch_active_tenant,
    update_current_tenant,
)
from .onboarding import (
    REGISTRATION_RETENTION_SECONDS,
    TableNotReady,
    approve_silo_tenant,
    create_pooled_tenant,
    provision_silo_tenant,
    provisioning_is_stuck,
    register_tenant,
    reject_silo_tenant,
    request_tenant,
    start_silo_tenant,
)
from .platform import change_tenant_tier, set_tenant_status
from .records import membership_ops, new_tenant_id, silo_table_name

__all__ = [
    "request_tenant", "register_tenant",
    "create_pooled_tenant", "start_silo_tenant", "provisioning_is_stuck", "provision_silo_tenant", "membership_ops",
    "new_tenant_id", "silo_table_name", "update_current_tenant",
    "invite_member", "change_member_role", "remove_member", "switch_active_tenant", "set_tenant_status",
    "change_tenant_tier", "REGISTRATION_RETENTION_SECONDS", "TableNotReady",
    "accept_invitation", "decline_invitation", "leave_tenant", "list_invitations", "my_invitations",
    "public_invitation", "revoke_invitation", "approve_silo_tenant", "reject_silo_tenant",
]
