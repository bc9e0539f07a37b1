"""The one helper for cache, throttle and storage keys: always prefixed by the tenant in context."""
from __future__ import annotations

from .context import get_context, validate_tenant_id


def tenant_key(*parts: str, tenant_id: str | None = None) -> str:
    tenant = validate_tenant_id(tenant_id) if tenant_id is not None else get_context().tenant_id
    return ":".join(("tenant", tenant, *(str(p).replace(":", "_") for p in parts)))


def storage_key(*parts: str) -> str:
    """S3 object key under the tenant's prefix: ``tenants/<tenant>/<parts...>``."""
    tenant = get_context().tenant_id
    clean = [str(p).strip("/").replace("..", "_") for p in parts if str(p).strip("/")]
    return "/".join(("tenants", tenant, *clean))
