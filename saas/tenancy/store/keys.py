"""Keys: which physical table a tenant lives in (``router``) and the GSI projections (``Index``).

Item keys themselves are built by the managers (``TENANT#<tenant>#<ENTITY>`` / ``<id>``)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from django.conf import settings

from saas.cache import TTLCache

from ..context import validate_tenant_id
from . import items as wire
from .items import Op, deserialize, now_iso, serialize


class TableRouter:
    """Resolves a tenant's table. Silo tenants are recorded in the pooled table's routing partition.

    Positive entries never change once written (a silo is never moved), so they are kept until
    evicted; "pooled" answers are cached briefly so a freshly provisioned silo is seen.
    """

    ROUTING_PK = "PLATFORM#ROUTING"
    NEGATIVE_TTL = 30.0
    MAX_ENTRIES = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._cache: TTLCache[str] = TTLCache(
            maxsize=self.MAX_ENTRIES, clock=clock,
            ttl=lambda table: self.NEGATIVE_TTL if table == self.pooled_table else math.inf)

    @property
    def pooled_table(self) -> str:
        return str(settings.DYNAMODB_TABLE)

    def table_for(self, tenant_id: str) -> str:
        return self._cache.get_or_load(tenant_id, lambda: self._load(tenant_id))

    def _load(self, tenant_id: str) -> str:
        raw = wire.call("get_item", TableName=self.pooled_table,
                   Key=serialize({"PK": self.ROUTING_PK, "SK": tenant_id})).get("Item")
        return str(deserialize(raw)["table"]) if raw else self.pooled_table

    def route_op(self, tenant_id: str, table: str) -> Op:
        """A transaction item that records a silo route (used by onboarding)."""
        return {"Put": {"TableName": self.pooled_table,
                        "Item": serialize({"PK": self.ROUTING_PK, "SK": validate_tenant_id(tenant_id),
                                           "tenant_id": tenant_id, "table": table, "created_at": now_iso()}),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def stored_table(self, tenant_id: str) -> str | None:
        """The silo route recorded for the tenant, read now (no cache); None when it has none."""
        raw = wire.call("get_item", TableName=self.pooled_table, ConsistentRead=True,
                   Key=serialize({"PK": self.ROUTING_PK, "SK": tenant_id})).get("Item")
        return str(deserialize(raw)["table"]) if raw else None

    def unroute_op(self, tenant_id: str) -> Op:
        """A transaction item that deletes a recorded route (offboarding); fails if there is none."""
        return {"Delete": {"TableName": self.pooled_table,
                           "Key": serialize({"PK": self.ROUTING_PK, "SK": validate_tenant_id(tenant_id)}),
                           "ConditionExpression": "attribute_exists(PK)"}}

    def forget(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id)


router = TableRouter()


@dataclass(frozen=True)
class Index:
    """A GSI projection: ``key(item) -> (partition value, sort value)`` or None to leave it out."""

    gsi: str  # "GSI1" | "GSI2" | "GSI3" (saas.tenancy.tables.GSIS)
    key: Callable[[Mapping[str, Any]], tuple[str, str] | None]
