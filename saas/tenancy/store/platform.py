"""Platform items (tenant directory, user memberships): readable and writable only inside
``system_context``."""
from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Iterable, Mapping

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError
from django.conf import settings

from ..context import SystemContext, current_context
from . import items as wire
from .cursors import MAX_PAGE, Page, decode_cursor, encode_cursor
from .errors import AlreadyExists, DoesNotExist, ScopeError, VersionConflict
from .items import Op, apply_filter, build, deserialize, now_iso, serialize, serialize_value, set_and_add_clauses
from .managers import Item, TenantModel

#: A platform item's address: (model, partition, id).
PlatformKey = tuple["type[PlatformModel]", str, str]


class PlatformManager:
    """Items outside any tenant: readable and writable only inside ``system_context``.

    Keys are ``PK = <ENTITY>#<partition>``, ``SK = <id>``; partitions are validated like tenant ids
    or are fixed names, so no caller text can reach a key delimiter.
    """

    def __init__(self, model: type[PlatformModel]) -> None:
        self.model = model

    def _table(self) -> str:
        if not isinstance(current_context(), SystemContext):
            raise ScopeError(f"{self.model.entity} items need system_context")
        return str(settings.DYNAMODB_TABLE)

    def _key(self, partition: str, item_id: str) -> Item:
        if "#" in partition or "#" in item_id or not item_id:
            raise DoesNotExist(f"{self.model.entity} not found")
        return {"PK": f"{self.model.entity}#{partition}", "SK": item_id}

    def get(self, partition: str, item_id: str, *, consistent: bool = False) -> Item:
        raw = wire.call("get_item", TableName=self._table(), Key=serialize(self._key(partition, item_id)),
                    ConsistentRead=consistent).get("Item")
        if not raw:
            raise DoesNotExist(f"{self.model.entity} not found")
        return TenantModel.public(deserialize(raw))

    def batch_get(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Item]:
        """Several items by (partition, id), 100 per round trip; missing ones are absent."""
        found = get_platform_items([(self.model, p, i) for p, i in dict.fromkeys(keys)])
        return {(p, i): item for (_, p, i), item in found.items()}

    def query(self, partition: str, *, cursor: str | None = None, limit: int = 20, ascending: bool = True,
              filter: ConditionBase | None = None,
              ) -> Page:
        table = self._table()
        limit = max(1, min(int(limit), MAX_PAGE))
        kwargs: dict[str, Any] = {}
        condition = build(Key("PK").eq(f"{self.model.entity}#{partition}"), is_key=True)
        names, values = dict(condition["names"]), dict(condition["values"])
        filter_id = apply_filter(filter, kwargs, names, values)
        query_id = f"{self.model.entity}|{partition}|{ascending}|" + hashlib.sha256(filter_id.encode()).hexdigest()[:16]
        if cursor:
            kwargs["ExclusiveStartKey"] = serialize(decode_cursor(cursor, tenant="*platform*", query_id=query_id))
        response = wire.call("query", TableName=table, KeyConditionExpression=condition["expression"],
                         ExpressionAttributeNames=names, ExpressionAttributeValues=values, Limit=limit,
                         ScanIndexForward=ascending, **kwargs)
        last = response.get("LastEvaluatedKey")
        return Page(items=[TenantModel.public(deserialize(r)) for r in response.get("Items", [])],
                    next_cursor=encode_cursor(deserialize(last), tenant="*platform*", query_id=query_id)
                    if last else None)

    def put_op(self, partition: str, item_id: str, *, expected_version: int | None = None,
               must_exist: bool = False, **fields: Any) -> tuple[Op, Item]:
        """Create (expected_version=None) or replace a platform item, conditionally.

        ``must_exist`` replaces whatever version is there but never re-creates a deleted item.
        (``replace_op`` writes unconditionally.)"""
        return self._put_op(partition, item_id, fields, expected_version=expected_version, must_exist=must_exist)

    def replace_op(self, partition: str, item_id: str, **fields: Any) -> tuple[Op, Item]:
        """Write a platform item unconditionally (only for items nothing else updates, e.g. index rows)."""
        return self._put_op(partition, item_id, fields, unconditional=True)

    def _put_op(self, partition: str, item_id: str, fields: Mapping[str, Any], *, expected_version: int | None = None,
                must_exist: bool = False, unconditional: bool = False) -> tuple[Op, Item]:
        stamp = now_iso()
        item = {**fields, "id": item_id, "version": (expected_version or 0) + 1, "updated_at": stamp,
                "created_at": fields.get("created_at") or stamp}
        raw = {**item, **self._key(partition, item_id), "entity": self.model.entity}
        guard: dict[str, Any]
        if unconditional:
            guard = {}
        elif must_exist:
            guard = {"ConditionExpression": "attribute_exists(PK)"}
        elif expected_version is None:
            guard = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            built = build(Attr("version").eq(int(expected_version)))
            guard = {"ConditionExpression": built["expression"], "ExpressionAttributeNames": built["names"],
                     "ExpressionAttributeValues": built["values"]}
        return {"Put": {"TableName": self._table(), "Item": serialize(raw), **guard}}, TenantModel.public(item)

    def delete_op(self, partition: str, item_id: str, *, condition: ConditionBase | None = None,
                  missing_ok: bool = False) -> Op:
        """Delete a platform item that exists (and meets ``condition``); ``missing_ok``: whether
        or not it is still there (nothing else is checked)."""
        delete: dict[str, Any] = {"TableName": self._table(), "Key": serialize(self._key(partition, item_id))}
        if missing_ok:
            if condition is not None:
                raise ValueError("a condition needs the item to exist")
            return {"Delete": delete}
        built = build(Attr("PK").exists() & condition if condition is not None else Attr("PK").exists())
        delete.update(ConditionExpression=built["expression"], ExpressionAttributeNames=built["names"])
        if built["values"]:
            delete["ExpressionAttributeValues"] = built["values"]
        return {"Delete": delete}

    def condition_op(self, partition: str, item_id: str, condition: ConditionBase) -> Op:
        """A transaction-only check on a platform item (e.g. the tenant is still active)."""
        built = build(condition)
        return {"ConditionCheck": {"TableName": self._table(), "Key": serialize(self._key(partition, item_id)),
                                   "ConditionExpression": built["expression"],
                                   "ExpressionAttributeNames": built["names"],
                                   "ExpressionAttributeValues": built["values"]}}

    def add_op(self, partition: str, item_id: str, *, deltas: Mapping[str, int], **fields: Any) -> Op:
        """``ADD`` counters to (and set ``fields`` on) an existing platform item, without a version
        check: for progress counters that only ever grow, written alongside the work they count."""
        names = {"#updated_at": "updated_at"}
        values = {":now": serialize_value(now_iso())}
        sets = ["#updated_at = :now"]
        adds = set_and_add_clauses(fields, deltas, sets=sets, names=names, values=values)
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        return {"Update": {"TableName": self._table(), "Key": serialize(self._key(partition, item_id)),
                           "UpdateExpression": expression, "ConditionExpression": "attribute_exists(PK)",
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def put(self, partition: str, item_id: str, *, expected_version: int | None = None, must_exist: bool = False,
            **fields: Any) -> Item:
        op, item = self.put_op(partition, item_id, expected_version=expected_version, must_exist=must_exist, **fields)
        try:
            wire.call("put_item", **op["Put"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                if must_exist:
                    raise DoesNotExist(self.model.entity) from exc
                raise (AlreadyExists if expected_version is None else VersionConflict)(self.model.entity) from exc
            raise
        return item

    def replace(self, partition: str, item_id: str, **fields: Any) -> Item:
        """Write a platform item unconditionally (see ``replace_op``)."""
        op, item = self.replace_op(partition, item_id, **fields)
        wire.call("put_item", **op["Put"])
        return item

    def delete(self, partition: str, item_id: str) -> None:
        """Delete if present (idempotent)."""
        wire.call("delete_item", TableName=self._table(), Key=serialize(self._key(partition, item_id)))


def get_platform_items(keys: Iterable[PlatformKey]) -> dict[PlatformKey, Item]:
    """Platform items of any models by (model, partition, id), consistently, in one BatchGetItem per
    100 keys (system context required); missing ones are absent."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    table = wanted[0][0].objects._table()
    by_key = {(f"{model.entity}#{partition}", item_id): (model, partition, item_id)
              for model, partition, item_id in wanted}
    found: dict[PlatformKey, Item] = {}
    for start in range(0, len(wanted), 100):
        chunk = wanted[start:start + 100]
        request: dict[str, Any] | None = {table: {"Keys": [serialize(model.objects._key(p, i)) for model, p, i in chunk],
                           "ConsistentRead": True}}
        while request:
            response = wire.call("batch_get_item", RequestItems=request)
            for raw in response["Responses"].get(table, []):
                item = deserialize(raw)
                found[by_key[(item["PK"], item["SK"])]] = TenantModel.public(item)
            request = response.get("UnprocessedKeys") or None
    return found


class PlatformModel:
    entity: ClassVar[str]
    objects: ClassVar[PlatformManager]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.objects = PlatformManager(cls)

