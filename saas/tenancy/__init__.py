"""The tenant boundary.

Everything that touches tenant data goes through this package:

* ``context``  – the immutable ``TenantContext`` held in a ``ContextVar`` (fail-closed).
* ``store``    – the DynamoDB store: tenant-scoped managers that build every key.
* ``keys``     – tenant-prefixed keys for caches, throttles and storage.
* ``middleware`` – sets the context per request and always resets it.
"""
from .context import (
    NoTenantContext,
    TenantContext,
    current_context,
    current_tenant_id,
    get_context,
    system_context,
    tenant_context,
    validate_tenant_id,
)

__all__ = [
    "NoTenantContext",
    "TenantContext",
    "current_context",
    "current_tenant_id",
    "get_context",
    "system_context",
    "tenant_context",
    "validate_tenant_id",
]
