"""The one helper for cache, throttle and storage keys: always prefixed by the tenant in context."""
from __future__ import annotations

from .context import get_context, validate_tenant_id


def tenant_key(*parts: str, tenant_id: str | None = None) -> str:
    tenant = validate_tenant_id(tenant_id) if tenant_id is not None else get_context().tenant_id
    return ":".join(("tenant", tenant, *(str(p).replace(":", "_") for p in parts)))


STORAGE_ROOT = "tenants"
# Browser uploads land here until they are checked and attached: one prefix for every tenant, so a
# single bucket lifecycle rule expires what is never attached (see saas.buckets).
UPLOADS_ROOT = "uploads"


def storage_key(*parts: str, root: str = STORAGE_ROOT) -> str:
    """S3 object key under the tenant's prefix: ``tenants/<tenant>/<parts...>`` (``root=UPLOADS_ROOT``:
    ``uploads/<tenant>/<parts...>``, a browser upload not yet attached)."""
    if root not in (STORAGE_ROOT, UPLOADS_ROOT):
        raise ValueError(f"unknown storage root {root!r}")
    tenant = get_context().tenant_id
    clean = [str(p).strip("/").replace("..", "_") for p in parts if str(p).strip("/")]
    return "/".join((root, tenant, *clean))
