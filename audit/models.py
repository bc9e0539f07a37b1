"""The audit trail's items and the ``Entry`` a service records."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from saas.tenancy.store import PlatformModel, TenantModel

PLATFORM = "PLATFORM"  # partition of the platform trail
HEAD_ID = "head"
GENESIS = "0" * 64


class AuditRecord(TenantModel):
    entity = "AUDIT"  # id = zero-padded seq, so the partition is in chain order
    export_as = "audit"


class AuditHead(TenantModel):
    entity = "AUDITHEAD"  # id = "head"


class PlatformAuditRecord(PlatformModel):
    entity = "PAUDIT"  # partition PLATFORM, id = zero-padded seq


class PlatformAuditHead(PlatformModel):
    entity = "PAUDITHEAD"


# Fields covered by a record's hash (anything else on the item is bookkeeping).
HASHED_FIELDS = ("seq", "prev_hash", "prev_expires_at", "at", "trail", "tenant_id", "actor_type", "actor_id",
                 "actor_email", "actor_detail", "action", "target_type", "target_id", "changes", "request_id",
                 "source_ip", "expires_at")


@dataclass(frozen=True)
class Entry:
    """One auditable action. ``tenant_id`` targets a specific tenant's trail from platform work
    (under system_context); ``platform=True`` writes to the platform trail instead."""

    action: str
    target_type: str
    target_id: str
    changes: Mapping[str, Any] | None = None
    tenant_id: str | None = None
    tier: str | None = None
    platform: bool = False
    detail: Mapping[str, Any] | None = None


def platform_entry(action: str, target_type: str, target_id: str, **kwargs: Any) -> Entry:
    return Entry(action=action, target_type=target_type, target_id=target_id, platform=True, **kwargs)


def tenant_entry_for(tenant_id: str, action: str, target_type: str, target_id: str, **kwargs: Any) -> Entry:
    return Entry(action=action, target_type=target_type, target_id=target_id, tenant_id=tenant_id, **kwargs)
