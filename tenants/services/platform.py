"""Platform administration (``system_admin``): tenant status and tier, across tenants."""
from __future__ import annotations

import logging

from saas.tenancy.store import now_iso

from .. import active_tenant
from ..errors import InvalidTransition, TierChangeNotSupported
from ..models import SILO_TIERS, TIERS
from .records import get_tenant, replace_tenant, tenant_audit

logger = logging.getLogger("tenants")


# --- platform administration -------------------------------------------------------------------------
_TRANSITIONS = {("active", "deactivated"), ("deactivated", "active")}


def set_tenant_status(*, tenant_id: str, status: str, actor_id: str) -> dict:
    """Deactivate or reactivate a tenant. Takes effect at once in this process, within the
    membership-cache TTL everywhere else."""
    tenant = get_tenant(tenant_id)
    if tenant.get("status") == status:
        return tenant
    if (tenant.get("status"), status) not in _TRANSITIONS:
        raise InvalidTransition(f"A {tenant.get('status')} tenant cannot become {status}.")
    if status == "active" and tenant.get("offboarding"):
        raise InvalidTransition("This tenant is being deleted (offboarding); it cannot be reactivated.")
    updated = replace_tenant(tenant, reason=f"platform admin {actor_id}: {tenant_id} -> {status}", status=status,
                             status_changed_at=now_iso(), status_changed_by=actor_id,
                             audit=tenant_audit(tenant, "tenant.activated" if status == "active" else "tenant.deactivated",
                                                changes={"status": [tenant.get("status"), status]}))
    active_tenant.cache.invalidate_tenant(tenant_id)
    logger.info("tenant %s is now %s (by %s)", tenant_id, status, actor_id)
    return updated


def change_tenant_tier(*, tenant_id: str, tier: str, actor_id: str) -> dict:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    tenant = get_tenant(tenant_id)
    if tenant.get("tier") == tier:
        return tenant
    if tenant.get("deployment") == "silo" or tier in SILO_TIERS:
        raise TierChangeNotSupported()
    if tenant.get("status") not in ("active", "deactivated"):
        raise InvalidTransition(f"A {tenant.get('status')} tenant cannot change tier.")
    updated = replace_tenant(tenant, reason=f"platform admin {actor_id}: tier of {tenant_id}", tier=tier,
                             audit=tenant_audit({**tenant, "tier": tier}, "tenant.tier_changed",
                                                changes={"tier": [tenant.get("tier"), tier]}))
    active_tenant.cache.invalidate_tenant(tenant_id)
    logger.info("tenant %s tier %s -> %s (by %s)", tenant_id, tenant.get("tier"), tier, actor_id)
    return updated

