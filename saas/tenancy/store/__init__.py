"""The DynamoDB store: tenant-scoped managers that build every key themselves.

Rules enforced here (docs/ARCHITECTURE.md, "The tenant boundary"):

* every read and write needs a ``TenantContext``; platform items need ``system_context``;
* keys are built by the manager: ``PK = TENANT#<tenant>#<ENTITY>``, ``SK = <id>``, and every GSI
  partition is ``TENANT#<tenant>#<ENTITY>#<index value>``; callers never pass a key;
* every item stores ``tenant_id`` and every item read is checked against the context;
* only GetItem / BatchGetItem / Query / TransactWriteItems are issued – there is no scan;
* every write is conditional: create = ``attribute_not_exists``, update/delete check
  ``tenant_id`` and ``version``; ``tenant_id`` and ``id`` can never change;
* writes that belong together are one ``UnitOfWork`` of *labelled* operations, and a cancellation
  names the operations that failed by label;
* pagination cursors are opaque, signed, and bound to tenant + query.

The physical table comes from ``router.table_for(tenant_id)``: the pooled table unless the tenant
is routed to a silo table.

Modules: ``errors`` (one exception per failure kind), ``items`` (serialisation, expressions, the
DynamoDB call), ``keys`` (table routing, GSI projections), ``cursors`` (pages), ``managers``
(tenant items), ``platform`` (platform items), ``transactions`` (units of work), ``budgets``
(shared throttle budgets). Callers import from this package: ``from saas.tenancy import store``.
"""
from .budgets import THROTTLE_ENTITY, lease_budget
from .cursors import MAX_INDEX_PAGE, MAX_PAGE, Page
from .errors import (
    CONDITION_FAILED,
    AlreadyExists,
    CancellationReason,
    ConflictError,
    DoesNotExist,
    InvalidCursor,
    ScopeError,
    StoreError,
    StoreUnavailable,
    TenantMismatch,
    TransactionCancelled,
    VersionConflict,
)
from .items import (
    HIDDEN_ATTRIBUTES,
    KEY_ATTRIBUTES,
    PROTECTED_FIELDS,
    Op,
    deserialize,
    new_id,
    now_iso,
    serialize,
    typed,
)
from .keys import Index, TableRouter, router
from .managers import TENANT_MODELS, Item, TenantManager, TenantModel
from .platform import PlatformManager, PlatformModel, get_platform_items
from .transactions import Contributor, UnitOfWork, transact_write

__all__ = [
    "CONDITION_FAILED",
    "HIDDEN_ATTRIBUTES",
    "KEY_ATTRIBUTES",
    "MAX_INDEX_PAGE",
    "MAX_PAGE",
    "PROTECTED_FIELDS",
    "TENANT_MODELS",
    "THROTTLE_ENTITY",
    "AlreadyExists",
    "CancellationReason",
    "ConflictError",
    "Contributor",
    "DoesNotExist",
    "Index",
    "InvalidCursor",
    "Item",
    "Op",
    "Page",
    "PlatformManager",
    "PlatformModel",
    "ScopeError",
    "StoreError",
    "StoreUnavailable",
    "TableRouter",
    "TenantManager",
    "TenantMismatch",
    "TenantModel",
    "TransactionCancelled",
    "UnitOfWork",
    "VersionConflict",
    "deserialize",
    "get_platform_items",
    "lease_budget",
    "new_id",
    "now_iso",
    "router",
    "serialize",
    "transact_write",
    "typed",
]
