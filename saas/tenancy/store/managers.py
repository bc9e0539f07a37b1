"""Tenant-scoped items: ``TenantModel`` and the ``TenantManager`` that builds every key itself.

Reads check each item's ``tenant_id`` against the context; writes are conditional on tenant and
version; each ``*_op`` returns the operation it would perform, for a ``UnitOfWork``.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, ClassVar, Iterable, Iterator, Mapping, NoReturn, overload

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from ..context import get_context
from . import items as wire
from .cursors import MAX_INDEX_PAGE, MAX_PAGE, Page, decode_cursor, encode_cursor
from .errors import AlreadyExists, DoesNotExist, TenantMismatch, VersionConflict
from .items import (
    HIDDEN_ATTRIBUTES,
    PROTECTED_FIELDS,
    Op,
    apply_filter,
    build,
    deserialize,
    deserialize_value,
    filter_expression,
    new_id,
    now_iso,
    serialize,
    serialize_value,
    set_and_add_clauses,
    typed,
)
from .keys import Index, router

logger = logging.getLogger("saas.tenancy")

#: An item as the store returns it (no key attributes).
Item = dict[str, Any]


class TenantManager:
    """Manager for items that live inside one tenant's partitions."""

    def __init__(self, model: type[TenantModel], *, table: str | None = None) -> None:
        self.model = model
        self._table = table

    def on_table(self, table: str) -> TenantManager:
        """This manager with every operation pointed at ``table``: for a silo tenant's first items,
        written in the very transaction that records its route (so the router cannot know it yet)."""
        return TenantManager(self.model, table=table)

    # context and keys -------------------------------------------------------------------------
    def _scope(self) -> tuple[str, str]:
        ctx = get_context()  # raises NoTenantContext: fail closed
        return ctx.tenant_id, self._table or router.table_for(ctx.tenant_id)

    def _pk(self, tenant_id: str) -> str:
        return f"TENANT#{tenant_id}#{self.model.entity}"

    def _key(self, tenant_id: str, item_id: str) -> Item:
        if not isinstance(item_id, str) or not item_id or len(item_id) > 200:
            raise DoesNotExist(f"{self.model.entity} not found")
        return {"PK": self._pk(tenant_id), "SK": item_id}

    def _index_keys(self, tenant_id: str, item: Mapping[str, Any]) -> Item:
        """GSI key attributes for ``item``; None for an index the item has left (sparse indexes)."""
        keys: dict[str, str | None] = {}
        for index in self.model.indexes.values():
            value = index.key(item)
            part, sort = value if value is not None else (None, None)
            keys[f"{index.gsi}PK"] = f"{self._pk(tenant_id)}#{part}" if value is not None else None
            keys[f"{index.gsi}SK"] = sort
        return keys

    def _check(self, raw: Mapping[str, Any] | None, tenant_id: str) -> Item:
        if not raw:
            raise DoesNotExist(f"{self.model.entity} not found")
        if raw.get("tenant_id", {}).get("S") != tenant_id:
            logger.error("tenant mismatch on read: entity=%s context=%s", self.model.entity, tenant_id)
            raise TenantMismatch("item does not belong to the tenant in context")
        money = self.model.money_fields
        return {k: typed(deserialize_value(v), money=k in money) for k, v in raw.items()
                if k not in HIDDEN_ATTRIBUTES}

    # reads ----------------------------------------------------------------------------------
    def get(self, item_id: str, *, consistent: bool = False) -> Item:
        tenant_id, table = self._scope()
        raw = wire.call("get_item", TableName=table, Key=serialize(self._key(tenant_id, item_id)),
                    ConsistentRead=consistent).get("Item")
        return self._check(raw, tenant_id)

    def batch_get(self, item_ids: Iterable[str]) -> dict[str, Item]:
        tenant_id, table = self._scope()
        ids = list(dict.fromkeys(item_ids))
        found: dict[str, Item] = {}
        for start in range(0, len(ids), 100):
            keys = [serialize(self._key(tenant_id, i)) for i in ids[start:start + 100]]
            request: dict[str, Any] | None = {table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = wire.call("batch_get_item", RequestItems=request)
                for raw in response["Responses"].get(table, []):
                    item = self._check(raw, tenant_id)
                    found[item["id"]] = item
                request = response.get("UnprocessedKeys") or None
        return found

    def every(self, **query: Any) -> Iterator[Item]:
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
        condition = build(key_condition, is_key=True)
        names, values = dict(condition["names"]), dict(condition["values"])
        filter_id = apply_filter(filter, kwargs, names, values)
        query_id = hashlib.sha256(
            f"{table}|{self.model.entity}|{index}|{value}|{ascending}|{filter_id}{f'|{prefix}' if prefix else ''}"
            f"{f'|{between}' if between else ''}".encode()
        ).hexdigest()[:16]
        if cursor:
            kwargs["ExclusiveStartKey"] = serialize(decode_cursor(cursor, tenant=tenant_id, query_id=query_id))
        if consistent and index is None:
            kwargs["ConsistentRead"] = True
        response = wire.call("query", TableName=table, KeyConditionExpression=condition["expression"],
                         ExpressionAttributeNames=names, ExpressionAttributeValues=values, Limit=limit,
                         ScanIndexForward=ascending, **kwargs)
        items = [self._check(raw, tenant_id) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        next_cursor = encode_cursor(deserialize(last), tenant=tenant_id, query_id=query_id) if last else None
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
        condition = build(key_condition, is_key=True)
        total = 0
        while True:
            response = wire.call("query", TableName=table, KeyConditionExpression=condition["expression"],
                             ExpressionAttributeNames=condition["names"],
                             ExpressionAttributeValues=condition["values"], Select="COUNT", **kwargs)
            total += int(response["Count"])
            if not response.get("LastEvaluatedKey"):
                return total
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # writes: each returns the operation it performs so services can compose transactions --------
    def create_op(self, **fields: Any) -> tuple[Op, Item]:
        tenant_id, table = self._scope()
        stamp = now_iso()
        item = {**fields, "id": fields.get("id") or new_id(), "tenant_id": tenant_id, "version": 1,
                "created_at": stamp, "updated_at": stamp}
        raw = {**item, **self._key(tenant_id, item["id"]), **self._index_keys(tenant_id, item),
               "entity": self.model.entity}
        op = {"Put": {"TableName": table, "Item": serialize(raw), "ConditionExpression": "attribute_not_exists(PK)"}}
        return op, self.model.public(item)

    @overload
    def update_op(self, item_id: str, *, expected_version: int, current: Mapping[str, Any],
                  **changes: Any) -> tuple[Op, Item]: ...

    @overload
    def update_op(self, item_id: str, *, expected_version: int, current: None = None,
                  **changes: Any) -> tuple[Op, None]: ...

    def update_op(self, item_id: str, *, expected_version: int, current: Mapping[str, Any] | None = None,
                  **changes: Any) -> tuple[Op, Item | None]:
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
                values[f":c{n}"] = serialize_value(value)
        guard = build(Attr("tenant_id").eq(tenant_id) & Attr("version").eq(int(expected_version)))
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        op = {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                         "UpdateExpression": expression, "ConditionExpression": guard["expression"],
                         "ExpressionAttributeNames": {**names, **guard["names"]},
                         "ExpressionAttributeValues": {**values, **guard["values"]}}}
        return op, (self.model.public(merged) if merged is not None else None)

    def delete_op(self, item_id: str, *, expected_version: int) -> Op:
        tenant_id, table = self._scope()
        guard = build(Attr("tenant_id").eq(tenant_id) & Attr("version").eq(int(expected_version)))
        return {"Delete": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "ConditionExpression": guard["expression"],
                           "ExpressionAttributeNames": guard["names"],
                           "ExpressionAttributeValues": guard["values"]}}

    def increment_op(self, item_id: str, *, deltas: Mapping[str, int], condition: ConditionBase | None = None) -> Op:
        """Atomic counter change (``stock = stock + delta``) guarded by tenant and ``condition``.

        Unlike update_op it needs no expected version, so concurrent reservations of one item do
        not conflict; it still bumps ``version`` so a write based on the old version fails."""
        tenant_id, table = self._scope()
        if not deltas or PROTECTED_FIELDS.intersection(deltas):
            raise ValueError(f"cannot increment {sorted(deltas)}")
        names = {"#version": "version", "#updated_at": "updated_at"}
        values = {":one": serialize_value(1), ":now": serialize_value(now_iso())}
        sets = ["#version = #version + :one", "#updated_at = :now"]
        for n, (name, delta) in enumerate(deltas.items()):
            names[f"#d{n}"] = name
            values[f":d{n}"] = serialize_value(int(delta))
            sets.append(f"#d{n} = #d{n} + :d{n}")
        guard = Attr("tenant_id").eq(tenant_id)
        built = build(guard & condition if condition is not None else guard)
        return {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "UpdateExpression": "SET " + ", ".join(sets),
                           "ConditionExpression": built["expression"],
                           "ExpressionAttributeNames": {**names, **built["names"]},
                           "ExpressionAttributeValues": {**values, **built["values"]}}}

    def add_op(self, item_id: str, *, deltas: Mapping[str, int], condition: ConditionBase | None = None,
               **fields: Any) -> Op:
        """Upsert counters: ``ADD`` each delta (creating the item if needed) and set ``fields``.

        For counters nobody reads-modifies-writes (usage, quotas): no version check, only the tenant
        guard (the item is new, or already this tenant's) and ``condition`` if given (a quota's
        ``used < limit``), so concurrent increments never conflict on a version."""
        tenant_id, table = self._scope()
        if not deltas or PROTECTED_FIELDS.intersection(deltas) or PROTECTED_FIELDS.intersection(fields):
            raise ValueError(f"cannot add to {sorted(deltas)}")
        names = {"#tenant": "tenant_id", "#entity": "entity", "#id": "id", "#updated_at": "updated_at",
                 "#created_at": "created_at", "#version": "version"}
        values = {":tenant": serialize_value(tenant_id), ":entity": serialize_value(self.model.entity),
                  ":id": serialize_value(item_id), ":now": serialize_value(now_iso()),
                  ":zero": serialize_value(0), ":one": serialize_value(1)}
        sets = ["#tenant = if_not_exists(#tenant, :tenant)", "#entity = :entity", "#id = :id", "#updated_at = :now",
                "#created_at = if_not_exists(#created_at, :now)", "#version = if_not_exists(#version, :zero) + :one"]
        adds = set_and_add_clauses(fields, deltas, sets=sets, names=names, values=values)
        guard = "(attribute_not_exists(PK) OR #tenant = :tenant)"
        if condition is not None:
            built = filter_expression(condition)
            guard += f" AND {built['expression']}"  # boto3 parenthesises OR itself
            names.update(built["names"])
            values.update(built["values"])
        return {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "UpdateExpression": "SET " + ", ".join(sets) + " ADD " + ", ".join(adds),
                           "ConditionExpression": guard,
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def annotate_op(self, item_id: str, *, expected_version: int, **fields: Any) -> Op:
        """Set bookkeeping ``fields`` on an item at ``expected_version`` without making a new version
        (a client's ETag stays valid): for derived data such as an index's format, never for data a
        client wrote."""
        tenant_id, table = self._scope()
        if not fields or PROTECTED_FIELDS.intersection(fields):
            raise ValueError(f"cannot annotate {sorted(fields)}")
        names, values, sets = {}, {}, []
        for n, (name, value) in enumerate(fields.items()):
            names[f"#a{n}"], values[f":a{n}"] = name, serialize_value(value)
            sets.append(f"#a{n} = :a{n}")
        built = build(Attr("tenant_id").eq(tenant_id) & Attr("version").eq(expected_version))
        return {"Update": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                           "UpdateExpression": "SET " + ", ".join(sets),
                           "ConditionExpression": built["expression"],
                           "ExpressionAttributeNames": {**names, **built["names"]},
                           "ExpressionAttributeValues": {**values, **built["values"]}}}

    def checkpoint_op(self, item_id: str, *, condition: ConditionBase, **fields: Any) -> Op:
        """Create or replace a small bookkeeping item whole (one Put, cheaper than an update
        expression), if it is new or ``condition`` holds on the stored one (e.g. ``seq < n``, so it
        only moves forward). Tenant-guarded like every write."""
        tenant_id, table = self._scope()
        if PROTECTED_FIELDS.intersection(fields):
            raise ValueError(f"fields cannot be set: {sorted(PROTECTED_FIELDS.intersection(fields))}")
        stamp = now_iso()
        raw = {**fields, **self._key(tenant_id, item_id), "id": item_id, "tenant_id": tenant_id,
               "entity": self.model.entity, "updated_at": stamp, "version": 1, "created_at": stamp}
        built = build(Attr("PK").not_exists() | (Attr("tenant_id").eq(tenant_id) & condition))
        return {"Put": {"TableName": table, "Item": serialize(raw), "ConditionExpression": built["expression"],
                        "ExpressionAttributeNames": built["names"], "ExpressionAttributeValues": built["values"]}}

    def condition_op(self, item_id: str, condition: ConditionBase) -> Op:
        """A transaction-only check on another item of this tenant (e.g. stock >= quantity)."""
        tenant_id, table = self._scope()
        built = build(Attr("tenant_id").eq(tenant_id) & condition)
        return {"ConditionCheck": {"TableName": table, "Key": serialize(self._key(tenant_id, item_id)),
                                   "ConditionExpression": built["expression"],
                                   "ExpressionAttributeNames": built["names"],
                                   "ExpressionAttributeValues": built["values"]}}

    # single-item writes --------------------------------------------------------------------------
    def create(self, **fields: Any) -> Item:
        op, item = self.create_op(**fields)
        try:
            wire.call("put_item", **op["Put"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise AlreadyExists(f"{self.model.entity} already exists") from exc
            raise
        return item

    def update(self, item_id: str, *, expected_version: int, current: Mapping[str, Any] | None = None,
               **changes: Any) -> Item:
        op, _ = self.update_op(item_id, expected_version=expected_version, current=current, **changes)
        try:
            raw = wire.call("update_item", **op["Update"], ReturnValues="ALL_NEW",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")["Attributes"]
        except ClientError as exc:
            self._raise_write_failure(exc)
        return self._check(raw, get_context().tenant_id)

    def delete(self, item_id: str, *, expected_version: int) -> None:
        op = self.delete_op(item_id, expected_version=expected_version)
        try:
            wire.call("delete_item", **op["Delete"], ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            self._raise_write_failure(exc)

    def _raise_write_failure(self, exc: ClientError) -> NoReturn:
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.objects = TenantManager(cls)
        TENANT_MODELS[cls.entity] = cls

    @staticmethod
    def public(item: Mapping[str, Any]) -> Item:
        return {k: v for k, v in item.items() if k not in HIDDEN_ATTRIBUTES}


