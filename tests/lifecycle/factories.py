"""Tenant-lifecycle test helpers: an audit trail read straight from the store."""
from __future__ import annotations

import audit
from saas.tenancy import system_context, tenant_context


def trail(tenant_id: str | None) -> list[dict]:
    """Every record of a trail, oldest first, read straight from the store."""
    records, cursor = [], None
    scope = tenant_context(tenant_id) if tenant_id else system_context(reason="test: read platform trail")
    with scope:
        while True:
            if tenant_id:
                page = audit.AuditRecord.objects.query(cursor=cursor, limit=100)
            else:
                page = audit.PlatformAuditRecord.objects.query(audit.PLATFORM, cursor=cursor, limit=100)
            records += page.items
            cursor = page.next_cursor
            if not cursor:
                return records
