"""The DynamoDB store: tenant-scoped managers that build every key themselves.

Rules enforced here (docs/ARCHITECTURE.md, "The tenant boundary"):

* every read and write needs a ``TenantContext``; platform items need ``system_context``;
* keys are built by the manager: ``PK = TENANT#<tenant>#<ENTITY>``, ``SK = <id>``, and every GSI
  partition is ``TENANT#<tenant>#<ENTITY>#<index value>``; callers never pass a key;
* every item stores ``tenant_id`` and every item read is checked against the context;
* only GetItem / BatchGetItem / Query / TransactWriteItems are issued – there is no scan;
* every write is conditional: create = ``attribute_not_exists``, update/delete check
  ``tenant_id`` and ``version``; ``tenant_id`` and ``id`` can never change;
* pagination cursors are opaque, signed, and bound to tenant + query.

The physical table comes from ``table_for(tenant_id)``: the pooled table unless the tenant is
routed to a silo table.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

from boto3.dynamodb.conditions import (
    Attr,
    ConditionBase,
    ConditionExpressionBuilder,
    Key,
)
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core import signing

from saas import aws, errors
from saas.cache import TTLCache

from .context import (
    SystemContext,
    TenantContext,
    current_context,
    get_context,
    validate_tenant_id,
)

logger = logging.getLogger("saas.tenancy")

KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")
PROTECTED_FIELDS = frozenset(("id", "tenant_id", "version", "created_at", "entity", *KEY_ATTRIBUTES))
HIDDEN_ATTRIBUTES = frozenset((*KEY_ATTRIBUTES, "entity"))  # stored, never returned
MAX_PAGE = 100
MAX_INDEX_PAGE = 1000  # ``max_page`` for small derived index items read in bulk (the catalogue's word index)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


# --- errors: one exception per failure kind -----------------------------------------------------
# The ones a client may see are also ``saas.errors`` classes: their public ``message`` is the
# class's fixed text, while ``str(exc)`` keeps the internal detail for logs.
class StoreError(Exception):
    pass


class _ClientFacing(StoreError):
    def __init__(self, detail: str = ""):
        super().__init__()  # the AppError side: default (public) message
        self.args = (detail,) if detail else ()


class DoesNotExist(_ClientFacing, errors.NotFound):
    """No such item in the current tenant (another tenant's item also lands here)."""


class ConflictError(StoreError):
    pass


class AlreadyExists(_ClientFacing, ConflictError, errors.Conflict):
    code, default_message = "already_exists", "The item already exists."


class VersionConflict(_ClientFacing, ConflictError, errors.Conflict):
    code, default_message = "version_conflict", "The item was changed by someone else."


class TransactionCancelled(ConflictError):
    """Translated by the service that built the transaction (it knows what each item meant)."""

    def __init__(self, reasons: list[str]):
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


class InvalidCursor(_ClientFacing, errors.InvalidInput):
    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.fields = {"cursor": ["Invalid cursor."]}


class TenantMismatch(_ClientFacing, errors.NotFound):
    """An item read does not belong to the tenant in context. Never returned to callers."""


class StoreUnavailable(StoreError, errors.ServiceUnavailable):
    """DynamoDB could not be reached or is throttling us (503, ``dependency: dynamodb``)."""

    def __init__(self, detail: str = ""):
        errors.ServiceUnavailable.__init__(self, "dynamodb")
        self.args = (detail,) if detail else ()


class ScopeError(StoreError):
    pass


# --- helpers ----------------------------------------------------------------------------------
def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def serialize(item: Mapping[str, Any]) -> dict:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def typed(value: Any, *, money: bool = False) -> Any:
    """DynamoDB numbers come back as ``Decimal``: whole numbers become ``int`` (versions, stock,
    counts, timestamps), other numbers and money (``money=True``) stay ``Decimal``. Recursive."""
    if isinstance(value, Decimal):
        return value if money or value != value.to_integral_value() else int(value)
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if isinstance(value, set):
        return {typed(item) for item in value}
    return value


def deserialize(raw: Mapping[str, Any], *, money_fields: frozenset[str] = frozenset()) -> dict:
    return {k: typed(_deserializer.deserialize(v), money=k in money_fields) for k, v in raw.items()}


def _build(condition: ConditionBase, *, is_key: bool = False) -> dict:
    # A fresh builder per call: its placeholder counters are not thread-safe, and its placeholders
    # (#n0, :v0, ...) must not depend on earlier calls; update_op's own use other prefixes.
    expr = ConditionExpressionBuilder().build_expression(condition, is_key_condition=is_key)
    return {
        "expression": expr.condition_expression,
        "names": expr.attribute_name_placeholders,
        "values": {k: _serializer.serialize(v) for k, v in expr.attribute_value_placeholders.items()},
    }


def _filter_expression(condition: ConditionBase) -> dict:
    """Like ``_build`` but with placeholders (#q, :q) that cannot clash with a key condition's."""
    built = _build(condition)
    expression, names, values = built["expression"], {}, {}
    for old, new in sorted(((k, "#q" + k[2:]) for k in built["names"]), key=lambda kv: -len(kv[0])):
        expression = expression.replace(old, new)
        names[new] = built["names"][old]
    for old, new in sorted(((k, ":q" + k[2:]) for k in built["values"]), key=lambda kv: -len(kv[0])):
        expression = expression.replace(old, new)
        values[new] = built["values"][old]
    return {"expression": expression, "names": names, "values": values}


def _call(operation: str, **kwargs) -> dict:
    """One DynamoDB round trip; transport failures become StoreUnavailable."""
    try:
        return getattr(aws.client("dynamodb"), operation)(**kwargs)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                    "InternalServerError", "ServiceUnavailable"):
            raise StoreUnavailable(code) from exc
        raise
    except BotoCoreError as exc:  # connection refused, timeouts, DNS...
        raise StoreUnavailable(type(exc).__name__) from exc


def _apply_filter(condition: ConditionBase | None, kwargs: dict, names: dict, values: dict) -> str:
    """Add ``condition`` as the query's FilterExpression (placeholders into ``names``/``values``);
    returns its identity for the cursor's query id ("" without a filter)."""
    if condition is None:
        return ""
    built = _filter_expression(condition)
    kwargs["FilterExpression"] = built["expression"]
    names.update(built["names"])
    values.update(built["values"])
    return repr((built["expression"], sorted(built["names"].items()), sorted(map(str, built["values"].items()))))


def _set_and_add_clauses(fields: Mapping[str, Any], deltas: Mapping[str, int], *, sets: list[str],
                         names: dict[str, str], values: dict[str, Any]) -> list[str]:
    """Append ``#f = :v`` for each field to ``sets`` and return the ``ADD`` clauses of ``deltas``
    (placeholders added to ``names``/``values``): the body of an upsert-counter update."""
    for n, (name, value) in enumerate(fields.items()):
        names[f"#s{n}"] = name
        values[f":s{n}"] = _serializer.serialize(value)
        sets.append(f"#s{n} = :s{n}")
    adds = []
    for n, (name, delta) in enumerate(deltas.items()):
        names[f"#d{n}"] = name
        values[f":d{n}"] = _serializer.serialize(int(delta))
        adds.append(f"#d{n} :d{n}")
    return adds


# --- routing: tenant -> physical table ----------------------------------------------------------
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
        return settings.DYNAMODB_TABLE

    def table_for(self, tenant_id: str) -> str:
        return self._cache.get_or_load(tenant_id, lambda: self._load(tenant_id))

    def _load(self, tenant_id: str) -> str:
        raw = _call("get_item", TableName=self.pooled_table,
                    Key=serialize({"PK": self.ROUTING_PK, "SK": tenant_id})).get("Item")
        return deserialize(raw)["table"] if raw else self.pooled_table

    def route_op(self, tenant_id: str, table: str) -> dict:
        """A transaction item that records a silo route (used by onboarding)."""
        return {"Put": {"TableName": self.pooled_table,
                        "Item": serialize({"PK": self.ROUTING_PK, "SK": validate_tenant_id(tenant_id),
                                           "tenant_id": tenant_id, "table": table, "created_at": now_iso()}),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def forget(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id)


router = TableRouter()


# --- cursors --------------------------------------------------------------------------------------
_CURSOR_SALT = "saas.tenancy.cursor"


def _encode_cursor(last_key: dict, *, tenant: str, query_id: str) -> str:
    return signing.dumps({"t": tenant, "q": query_id, "k": last_key}, salt=_CURSOR_SALT)  # uncompressed: zlib costs more than it saves on a key


def _decode_cursor(cursor: str, *, tenant: str, query_id: str) -> dict:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is invalid") from exc
    if data.get("t") != tenant or data.get("q") != query_id:
        raise InvalidCursor("cursor does not belong to this query")
    return data["k"]


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None


# --- indexes and models --------------------------------------------------------------------------
@dataclass(frozen=True)
class Index:
    """A GSI projection: ``key(item) -> (partition value, sort value)`` or None to leave it out."""

    gsi: str  # "GSI1" | "GSI2" | "GSI3" (saas.tenancy.tables.GSIS)
    key: Callable[[Mapping[str, Any]], tuple[str, str] | None]


class TenantManager:
    """Manager for items that live inside one tenant's partitions."""

    def __init__(self) -> None:
        self.model: type[TenantModel] | None = None  # set by TenantModel.__init_subclass__

    # context and keys -------------------------------------------------------------------------
    def _scope(self) -> tuple[str, str]:
        ctx = get_context()  # raises NoTenantContext: fail closed
        return ctx.tenant_id, router.table_for(ctx.tenant_id)

    def _pk(self, tenant_id: str) -> str:
        return f"TENANT#{tenant_id}#{self.model.entity}"

    def _key(self, tenant_id: str, item_id: str) -> dict:
        if not isinstance(item_id, str) or not item_id or len(item_id) > 200:
            raise DoesNotExist(f"{self.model.entity} not found")
        return {"PK": self._pk(tenant_id), "SK": item_id}

    def _index_keys(self, tenant_id: str, item: Mapping[str, Any]) -> dict:
        """GSI key attributes for ``item``; None for an index the item has left (sparse indexes)."""
        keys: dict[str, str | None] = {}
        for index in self.model.indexes.values():
            value = index.key(item)
            part, sort = value if value is not None else (None, None)
            keys[f"{index.gsi}PK"] = f"{self._pk(tenant_id)}#{part}" if value is not None else None
            keys[f"{index.gsi}SK"] = sort
        return keys

    def _check(self, raw: Mapping[str, Any] | None, tenant_id: str) -> dict:
        if not raw:
            raise DoesNotExist(f"{self.model.entity} not found")
        if raw.get("tenant_id", {}).get("S") != tenant_id:
            logger.error("tenant mismatch on read: entity=%s context=%s", self.model.entity, tenant_id)
            raise TenantMismatch("item does not belong to the tenant in context")
        money = self.model.money_fields
        return {k: typed(_deserializer.deserialize(v), money=k in money) for k, v in raw.items()
                if k not in HIDDEN_ATTRIBUTES}

    # reads ----------------------------------------------------------------------------------
    def get(self, item_id: str, *, consistent: bool = False) -> dict:
        tenant_id, table = self._scope()
        raw = _call("get_item", TableName=table, Key=serialize(self._key(tenant_id, item_id)),
                    ConsistentRead=consistent).get("Item")
        return self._check(raw, tenant_id)

    def batch_get(self, item_ids: Iterable[str]) -> dict[str, dict]:
        tenant_id, table = self._scope()
        ids = list(dict.fromkeys(item_ids))
        found: dict[str, dict] = {}
        for start in range(0, len(ids), 100):
            keys = [serialize(self._key(tenant_id, i)) for i in ids[start:start + 100]]
            request = {table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = _call("batch_get_item", RequestItems=request)
                for raw in response["Responses"].get(table, []):
                    item = self._check(raw, tenant_id)
                    found[item["id"]] = item
                request = response.get("UnprocessedKeys") or None
        return found

    def every(self, **query: Any) -> Iterator[dict]:
        """Every item of the tenant's partition (or of ``query``'s index partition), read page by
        page with ``query``; for jobs that must see all of it (export, offboarding, backfill)."""
        cursor = None
        while True:
            page = self.query(**query, cursor=cursor, limit=MAX_PAGE)
            yield from page.items
            cursor = page.next_cursor
            if not cursor:
                return

    def query(self, *, index: str | None = None, value: str | None = None, cursor: str | None = None,
              limit: int = 20, ascending: bool = True, filter: ConditionBase | None = None,
              prefix: str | None = None, consistent: bool = False, between: tuple[str, str] | None = None,
              max_page: int = 100) -> Page:
        """One page of the tenant's partition (or one index partition). ``filter`` is applied by
        DynamoDB after the key condition, so a page may hold fewer than ``limit`` items. ``prefix``
        keeps the items whose sort key begins with it, ``between`` those whose sort key lies in the
        inclusive range (both in the key condition, so nothing else is read). ``max_page`` raises the
        page size above ``MAX_PAGE`` (at most ``MAX_INDEX_PAGE``) for callers reading small index items."""
        tenant_id, table = self._scope()
        limit = max(1, min(int(limit), max(MAX_PAGE, min(int(max_page), MAX_INDEX_PAGE))))
        if index is None:
            key_name, partition = "PK", self._pk(tenant_id)
            kwargs: dict[str, Any] = {}
        else:
            spec = self.model.indexes[index]
            key_name, partition = f"{spec.gsi}PK", f"{self._pk(tenant_id)}#{value}"
            kwargs = {"IndexName": spec.gsi}
        key_condition = Key(key_name).eq(partition)
        sort_name = "SK" if index is None else f"{self.model.indexes[index].gsi}SK"
        if prefix:
            key_condition = key_condition & Key(sort_name).begins_with(prefix)
        elif between:
            key_condition = key_condition & Key(sort_name).between(*between)
        condition = _build(key_condition, is_key=True)
        names, values = dict(condition["names"]), dict(condition["values"])
        filter_id = _apply_filter(filter, kwargs, names, values)
        query_id = hashlib.sha256(
            f"{table}|{self.model.entity}|{index}|{value}|{ascending}|{filter_id}{f'|{prefix}' if prefix else ''}"
            f"{f'|{between}' if between else ''}".encode()
        ).hexdigest()[:16]
        if cursor:
            kwargs["ExclusiveStartKey"] = serialize(_decode_cursor(cursor, tenant=tenant_id, query_id=query_id))
        if consistent and index is None:
            kwargs["ConsistentRead"] = True
        response = _call("query", TableName=table, KeyConditionExpression=condition["expression"],
                         ExpressionAttributeNames=names, ExpressionAttributeValues=values, Limit=limit,
                         ScanIndexForward=ascending, **kwargs)
        items = [self._check(raw, tenant_id) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        next_cursor = _encode_cursor(deserialize(last), tenant=tenant_id, query_id=query_id) if last else None
        return Page(items=items, next_cursor=next_cursor)

    def count(self, *, index: str | None = None, value: str | None = None, prefix: str | None = None) -> int:
        """How many items ``query(index=, value=, prefix=)`` would list: Queries with
        ``Select=COUNT`` page by page (DynamoDB reads the items, but none is sent back or parsed)."""
        tenant_id, table = self._scope()
        if index is None:
            key_name, partition, kwargs = "PK", self._pk(tenant_id), {}
        else:
            spec = self.model.indexes[index]
            key_name, partition, kwargs = f"{spec.gsi}PK", f"{self._pk(tenant_id)}#{value}", {"IndexName": spec.gsi}
        key_condition = Key(key_name).eq(partition)
        if prefix:
            key_condition = key_condition & Key("SK" if index is None else f"{spec.gsi}SK").begins_with(prefix)
        condition = _build(key_condition, is_key=True)
        total = 0
        while True:
            response = _call("query", TableName=table, KeyConditionExpression=condition["expression"],
                             ExpressionAttributeNames=condition["names"],
                             ExpressionAttributeValues=condition["values"], Select="COUNT", **kwargs)
            total += response["Count"]
            if not response.get("LastEvaluatedKey"):
                return total
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # writes: each returns the operation it performs so services can compose transactions --------
    def create_op(self, **fields: Any) -> tuple[dict, dict]:
        tenant_id, table = self._scope()
        stamp = now_iso()
        item = {**fields, "id": fields.get("id") or new_id(), "tenant_id": tenant_id, "version": 1,
                "created_at": stamp, "updated_at": stamp}
        raw = {**item, **self._key(tenant_id, item["id"]), **self._index_keys(tenant_id, item),
               "entity": self.model.entity}
        op = {"Put": {"TableName": table, "Item": serialize(raw), "ConditionExpression": "attribute_not_exists(PK)"}}
        return op, self.model.public(item)

    def update_op(self, item_id: str, *, expected_version: int, current: Mapping[str, Any] | None = None,
                  **changes: Any) -> tuple[dict, dict | None]:
        """An update guarded by tenant and version. Pass ``current`` to also refresh index keys."""
        tenant_id, table = self._scope()
        bad = PROTECTED_FIELDS.intersection(changes)
        if bad:
            raise ValueError(f"fields cannot be changed: {sorted(bad)}")
        changes = {**changes, "updated_at": now_iso(), "version": int(expected_version) + 1}
        merged = None
        if current is not None:
            merged = {**current, **changes}
            changes.update(self._index_keys(tenant_id, merged))
        sets, removes, names, values = [], [], {}, {}
        for n, (name, value) in enumerate(changes.items()):
            names[f"#f{n}"] = name
            if value is None:
                removes.append(f"#f{n}")
            else:
                sets.append(f"#f{n} = :c{n}")
                values[f":c{n}"] = _serializer.serialize(value)
        guard = _build(Attr("tenant_id").eq(tenant_id) & Attr("version").eq(int(expected_version)))
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        op = {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                         "UpdateExpression": expression, "ConditionExpression": guard["expression"],
                         "ExpressionAttributeNames": {**names, **guard["names"]},
                         "ExpressionAttributeValues": {**values, **guard["values"]}}}
        return op, (self.model.public(merged) if merged is not None else None)

    def delete_op(self, item_id: str, *, expected_version: int) -> dict:
        tenant_id, table = self._scope()
        guard = _build(Attr("tenant_id").eq(tenant_id) & Attr("version").eq(int(expected_version)))
        return {"Delete": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "ConditionExpression": guard["expression"],
                           "ExpressionAttributeNames": guard["names"],
                           "ExpressionAttributeValues": guard["values"]}}

    def increment_op(self, item_id: str, *, deltas: Mapping[str, int], condition: ConditionBase | None = None) -> dict:
        """Atomic counter change (``stock = stock + delta``) guarded by tenant and ``condition``.

        Unlike update_op it needs no expected version, so concurrent reservations of one item do
        not conflict; it still bumps ``version`` so a write based on the old version fails."""
        tenant_id, table = self._scope()
        if not deltas or PROTECTED_FIELDS.intersection(deltas):
            raise ValueError(f"cannot increment {sorted(deltas)}")
        names = {"#version": "version", "#updated_at": "updated_at"}
        values = {":one": _serializer.serialize(1), ":now": _serializer.serialize(now_iso())}
        sets = ["#version = #version + :one", "#updated_at = :now"]
        for n, (name, delta) in enumerate(deltas.items()):
            names[f"#d{n}"] = name
            values[f":d{n}"] = _serializer.serialize(int(delta))
            sets.append(f"#d{n} = #d{n} + :d{n}")
        guard = Attr("tenant_id").eq(tenant_id)
        built = _build(guard & condition if condition is not None else guard)
        return {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "UpdateExpression": "SET " + ", ".join(sets),
                           "ConditionExpression": built["expression"],
                           "ExpressionAttributeNames": {**names, **built["names"]},
                           "ExpressionAttributeValues": {**values, **built["values"]}}}

    def add_op(self, item_id: str, *, deltas: Mapping[str, int], condition: ConditionBase | None = None,
               **fields: Any) -> dict:
        """Upsert counters: ``ADD`` each delta (creating the item if needed) and set ``fields``.

        For counters nobody reads-modifies-writes (usage, quotas): no version check, only the tenant
        guard (the item is new, or already this tenant's) and ``condition`` if given (a quota's
        ``used < limit``), so concurrent increments never conflict on a version."""
        tenant_id, table = self._scope()
        if not deltas or PROTECTED_FIELDS.intersection(deltas) or PROTECTED_FIELDS.intersection(fields):
            raise ValueError(f"cannot add to {sorted(deltas)}")
        names = {"#tenant": "tenant_id", "#entity": "entity", "#id": "id", "#updated_at": "updated_at",
                 "#created_at": "created_at", "#version": "version"}
        values = {":tenant": _serializer.serialize(tenant_id), ":entity": _serializer.serialize(self.model.entity),
                  ":id": _serializer.serialize(item_id), ":now": _serializer.serialize(now_iso()),
                  ":zero": _serializer.serialize(0), ":one": _serializer.serialize(1)}
        sets = ["#tenant = if_not_exists(#tenant, :tenant)", "#entity = :entity", "#id = :id", "#updated_at = :now",
                "#created_at = if_not_exists(#created_at, :now)", "#version = if_not_exists(#version, :zero) + :one"]
        adds = _set_and_add_clauses(fields, deltas, sets=sets, names=names, values=values)
        guard = "(attribute_not_exists(PK) OR #tenant = :tenant)"
        if condition is not None:
            built = _filter_expression(condition)
            guard += f" AND {built['expression']}"  # boto3 parenthesises OR itself
            names.update(built["names"])
            values.update(built["values"])
        return {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "UpdateExpression": "SET " + ", ".join(sets) + " ADD " + ", ".join(adds),
                           "ConditionExpression": guard,
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def annotate_op(self, item_id: str, *, expected_version: int, **fields: Any) -> dict:
        """Set bookkeeping ``fields`` on an item at ``expected_version`` without making a new version
        (a client's ETag stays valid): for derived data such as an index's format, never for data a
        client wrote."""
        tenant_id, table = self._scope()
        if not fields or PROTECTED_FIELDS.intersection(fields):
            raise ValueError(f"cannot annotate {sorted(fields)}")
        names, values, sets = {}, {}, []
        for n, (name, value) in enumerate(fields.items()):
            names[f"#a{n}"], values[f":a{n}"] = name, _serializer.serialize(value)
            sets.append(f"#a{n} = :a{n}")
        built = _build(Attr("tenant_id").eq(tenant_id) & Attr("version").eq(expected_version))
        return {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "UpdateExpression": "SET " + ", ".join(sets),
                           "ConditionExpression": built["expression"],
                           "ExpressionAttributeNames": {**names, **built["names"]},
                           "ExpressionAttributeValues": {**values, **built["values"]}}}

    def checkpoint_op(self, item_id: str, *, condition: ConditionBase, **fields: Any) -> dict:
        """Create or replace a small bookkeeping item whole (one Put, cheaper than an update
        expression), if it is new or ``condition`` holds on the stored one (e.g. ``seq < n``, so it
        only moves forward). Tenant-guarded like every write."""
        tenant_id, table = self._scope()
        if PROTECTED_FIELDS.intersection(fields):
            raise ValueError(f"fields cannot be set: {sorted(PROTECTED_FIELDS.intersection(fields))}")
        stamp = now_iso()
        raw = {**fields, **self._key(tenant_id, item_id), "id": item_id, "tenant_id": tenant_id,
               "entity": self.model.entity, "updated_at": stamp, "version": 1, "created_at": stamp}
        built = _build(Attr("PK").not_exists() | (Attr("tenant_id").eq(tenant_id) & condition))
        return {"Put": {"TableName": table, "Item": serialize(raw), "ConditionExpression": built["expression"],
                        "ExpressionAttributeNames": built["names"], "ExpressionAttributeValues": built["values"]}}

    def condition_op(self, item_id: str, condition: ConditionBase) -> dict:
        """A transaction-only check on another item of this tenant (e.g. stock >= quantity)."""
        tenant_id, table = self._scope()
        built = _build(Attr("tenant_id").eq(tenant_id) & condition)
        return {"ConditionCheck": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                                   "ConditionExpression": built["expression"],
                                   "ExpressionAttributeNames": built["names"],
                                   "ExpressionAttributeValues": built["values"]}}

    # single-item writes --------------------------------------------------------------------------
    def create(self, **fields: Any) -> dict:
        op, item = self.create_op(**fields)
        try:
            _call("put_item", **op["Put"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise AlreadyExists(f"{self.model.entity} already exists") from exc
            raise
        return item

    def update(self, item_id: str, *, expected_version: int, current: Mapping[str, Any] | None = None,
               **changes: Any) -> dict:
        op, _ = self.update_op(item_id, expected_version=expected_version, current=current, **changes)
        try:
            raw = _call("update_item", **op["Update"], ReturnValues="ALL_NEW",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")["Attributes"]
        except ClientError as exc:
            self._raise_write_failure(exc)
        return self._check(raw, get_context().tenant_id)

    def delete(self, item_id: str, *, expected_version: int) -> None:
        op = self.delete_op(item_id, expected_version=expected_version)
        try:
            _call("delete_item", **op["Delete"], ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            self._raise_write_failure(exc)

    def _raise_write_failure(self, exc: ClientError):
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise exc
        old = exc.response.get("Item")
        if not old or deserialize(old).get("tenant_id") != get_context().tenant_id:
            raise DoesNotExist(f"{self.model.entity} not found") from exc
        raise VersionConflict(f"{self.model.entity} was changed by someone else") from exc


# Every tenant-scoped entity the store knows, by entity name: export and offboarding walk these
# partitions (``TENANT#<tenant>#<ENTITY>``), so a new model is covered the moment it is declared.
TENANT_MODELS: dict[str, type["TenantModel"]] = {}


class TenantModel:
    """Base for tenant-scoped item types. Subclasses set ``entity`` and optionally ``indexes``;
    ``export_as`` names the NDJSON file the tenant's data export writes them to (None: internal
    bookkeeping, not exported, still deleted at offboarding)."""

    entity: ClassVar[str]
    indexes: ClassVar[dict[str, Index]] = {}
    #: Top-level number fields that are money: read back as ``Decimal`` (every other whole number is an int).
    money_fields: ClassVar[frozenset[str]] = frozenset()
    export_as: ClassVar[str | None] = None
    objects: ClassVar[TenantManager]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.objects = TenantManager()
        cls.objects.model = cls
        TENANT_MODELS[cls.entity] = cls

    @staticmethod
    def public(item: Mapping[str, Any]) -> dict:
        return {k: v for k, v in item.items() if k not in HIDDEN_ATTRIBUTES}


# --- platform items (tenant directory, user memberships): system context only ------------------
class PlatformManager:
    """Items outside any tenant: readable and writable only inside ``system_context``.

    Keys are ``PK = <ENTITY>#<partition>``, ``SK = <id>``; partitions are validated like tenant ids
    or are fixed names, so no caller text can reach a key delimiter.
    """

    def __init__(self) -> None:
        self.model: type[PlatformModel] | None = None

    def _table(self) -> str:
        if not isinstance(current_context(), SystemContext):
            raise ScopeError(f"{self.model.entity} items need system_context")
        return settings.DYNAMODB_TABLE

    def _key(self, partition: str, item_id: str) -> dict:
        if "#" in partition or "#" in item_id or not item_id:
            raise DoesNotExist(f"{self.model.entity} not found")
        return {"PK": f"{self.model.entity}#{partition}", "SK": item_id}

    def get(self, partition: str, item_id: str, *, consistent: bool = False) -> dict:
        raw = _call("get_item", TableName=self._table(), Key=serialize(self._key(partition, item_id)),
                    ConsistentRead=consistent).get("Item")
        if not raw:
            raise DoesNotExist(f"{self.model.entity} not found")
        return TenantModel.public(deserialize(raw))

    def batch_get(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """Several items by (partition, id), 100 per round trip; missing ones are absent."""
        found = get_platform_items([(self.model, p, i) for p, i in dict.fromkeys(keys)])
        return {(p, i): item for (_, p, i), item in found.items()}

    def query(self, partition: str, *, cursor: str | None = None, limit: int = 20, ascending: bool = True,
              filter: ConditionBase | None = None,
              ) -> Page:
        table = self._table()
        limit = max(1, min(int(limit), MAX_PAGE))
        kwargs: dict[str, Any] = {}
        condition = _build(Key("PK").eq(f"{self.model.entity}#{partition}"), is_key=True)
        names, values = dict(condition["names"]), dict(condition["values"])
        filter_id = _apply_filter(filter, kwargs, names, values)
        query_id = f"{self.model.entity}|{partition}|{ascending}|" + hashlib.sha256(filter_id.encode()).hexdigest()[:16]
        if cursor:
            kwargs["ExclusiveStartKey"] = serialize(_decode_cursor(cursor, tenant="*platform*", query_id=query_id))
        response = _call("query", TableName=table, KeyConditionExpression=condition["expression"],
                         ExpressionAttributeNames=names, ExpressionAttributeValues=values, Limit=limit,
                         ScanIndexForward=ascending, **kwargs)
        last = response.get("LastEvaluatedKey")
        return Page(items=[TenantModel.public(deserialize(r)) for r in response.get("Items", [])],
                    next_cursor=_encode_cursor(deserialize(last), tenant="*platform*", query_id=query_id)
                    if last else None)

    def put_op(self, partition: str, item_id: str, *, expected_version: int | None = None,
               must_exist: bool = False, overwrite: bool = False, **fields: Any) -> tuple[dict, dict]:
        """Create (expected_version=None) or replace a platform item, conditionally.

        ``must_exist`` replaces whatever version is there but never re-creates a deleted item;
        ``overwrite`` writes unconditionally (only for items nothing else updates, e.g. index rows)."""
        stamp = now_iso()
        item = {**fields, "id": item_id, "version": (expected_version or 0) + 1, "updated_at": stamp,
                "created_at": fields.get("created_at") or stamp}
        raw = {**item, **self._key(partition, item_id), "entity": self.model.entity}
        if overwrite:
            guard = {}
        elif must_exist:
            guard = {"ConditionExpression": "attribute_exists(PK)"}
        elif expected_version is None:
            guard = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            built = _build(Attr("version").eq(int(expected_version)))
            guard = {"ConditionExpression": built["expression"], "ExpressionAttributeNames": built["names"],
                     "ExpressionAttributeValues": built["values"]}
        return {"Put": {"TableName": self._table(), "Item": serialize(raw), **guard}}, TenantModel.public(item)

    def delete_op(self, partition: str, item_id: str) -> dict:
        return {"Delete": {"TableName": self._table(), "Key": serialize(self._key(partition, item_id)),
                           "ConditionExpression": "attribute_exists(PK)"}}

    def condition_op(self, partition: str, item_id: str, condition: ConditionBase) -> dict:
        """A transaction-only check on a platform item (e.g. the tenant is still active)."""
        built = _build(condition)
        return {"ConditionCheck": {"TableName": self._table(), "Key": serialize(self._key(partition, item_id)),
                                   "ConditionExpression": built["expression"],
                                   "ExpressionAttributeNames": built["names"],
                                   "ExpressionAttributeValues": built["values"]}}

    def add_op(self, partition: str, item_id: str, *, deltas: Mapping[str, int], **fields: Any) -> dict:
        """``ADD`` counters to (and set ``fields`` on) an existing platform item, without a version
        check: for progress counters that only ever grow, written alongside the work they count."""
        names = {"#updated_at": "updated_at"}
        values = {":now": _serializer.serialize(now_iso())}
        sets = ["#updated_at = :now"]
        adds = _set_and_add_clauses(fields, deltas, sets=sets, names=names, values=values)
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        return {"Update": {"TableName": self._table(), "Key": serialize(self._key(partition, item_id)),
                           "UpdateExpression": expression, "ConditionExpression": "attribute_exists(PK)",
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def put(self, partition: str, item_id: str, *, expected_version: int | None = None, must_exist: bool = False,
            overwrite: bool = False, **fields: Any) -> dict:
        op, item = self.put_op(partition, item_id, expected_version=expected_version, must_exist=must_exist,
                               overwrite=overwrite, **fields)
        try:
            _call("put_item", **op["Put"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                if must_exist:
                    raise DoesNotExist(self.model.entity) from exc
                raise (AlreadyExists if expected_version is None else VersionConflict)(self.model.entity) from exc
            raise
        return item

    def delete(self, partition: str, item_id: str) -> None:
        """Delete if present (idempotent)."""
        _call("delete_item", TableName=self._table(), Key=serialize(self._key(partition, item_id)))


def get_platform_items(keys: Iterable[tuple[type, str, str]]) -> dict[tuple[type, str, str], dict]:
    """Platform items of any models by (model, partition, id), consistently, in one BatchGetItem per
    100 keys (system context required); missing ones are absent."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    table = wanted[0][0].objects._table()
    by_key = {(f"{model.entity}#{partition}", item_id): (model, partition, item_id)
              for model, partition, item_id in wanted}
    found: dict[tuple[type, str, str], dict] = {}
    for start in range(0, len(wanted), 100):
        chunk = wanted[start:start + 100]
        request = {table: {"Keys": [serialize(model.objects._key(p, i)) for model, p, i in chunk],
                           "ConsistentRead": True}}
        while request:
            response = _call("batch_get_item", RequestItems=request)
            for raw in response["Responses"].get(table, []):
                item = deserialize(raw)
                found[by_key[(item["PK"], item["SK"])]] = TenantModel.public(item)
            request = response.get("UnprocessedKeys") or None
    return found


class PlatformModel:
    entity: ClassVar[str]
    objects: ClassVar[PlatformManager]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.objects = PlatformManager()
        cls.objects.model = cls


# --- transactions ---------------------------------------------------------------------------------
def transact_write(operations: list[dict], *, token: str | None = None, audit: Any = None) -> None:
    """All or nothing. Cancelled transactions raise TransactionCancelled with one reason per item.

    ``audit``: one ``saas.audit.Entry`` or a list of them. Their records (and the chain heads they
    advance) join the same transaction, so the change never exists without its audit record; see
    ``saas.audit.commit``. Cancellation reasons then cover only ``operations``.
    """
    if audit:
        if audit_writer is None:
            raise RuntimeError("audit entries given but saas.audit is not loaded")
        audit_writer(operations, audit, token=token)
        return
    _transact(operations, token=token)


# ``saas.audit.commit``, set when that module loads (it builds on this store, so the store does not
# import it). Whoever passes ``audit=`` built its entries with ``saas.audit``, so it is loaded.
audit_writer: Callable[..., None] | None = None


def _transact(operations: list[dict], *, token: str | None = None) -> None:
    if not operations:
        return
    if not isinstance(current_context(), (TenantContext, SystemContext)):
        get_context()  # raises NoTenantContext
    kwargs = {"ClientRequestToken": token} if token else {}
    try:
        _call("transact_write_items", TransactItems=operations, **kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise TransactionCancelled(reasons) from exc
        raise


# --- shared budgets (saas.throttling) -----------------------------------------------------------
THROTTLE_ENTITY = "THROTTLE"


def lease_budget(bucket: str, window: int, *, amount: int, limit: int, expires_at: int) -> bool:
    """Take ``amount`` from a shared budget of ``limit`` per window, atomically: one conditional
    ``ADD`` on ``PK = THROTTLE#<bucket>``, ``SK = <window>`` (expires by TTL). False when fewer than
    ``amount`` are left. ``bucket`` comes from ``saas.tenancy.keys`` (it carries the tenant)."""
    if amount < 1:
        raise ValueError("a lease takes at least one request")
    bucket = bucket.replace("#", "_")  # the key delimiter never comes from a caller's text
    try:
        _call("update_item", TableName=settings.DYNAMODB_TABLE,
              Key=serialize({"PK": f"{THROTTLE_ENTITY}#{bucket}", "SK": str(int(window))}),
              UpdateExpression="ADD #used :amount SET #expires = :expires",
              ConditionExpression="attribute_not_exists(#used) OR #used <= :room",
              ExpressionAttributeNames={"#used": "used", "#expires": "expires_at"},
              ExpressionAttributeValues=serialize({":amount": int(amount), ":room": int(limit) - int(amount),
                                                   ":expires": int(expires_at)}))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True
