"""Items on the wire: serialisation, typed numbers, condition expressions and the one DynamoDB call."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping, TypedDict

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from saas import aws

from .errors import StoreUnavailable

KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")
PROTECTED_FIELDS = frozenset(("id", "tenant_id", "version", "created_at", "entity", *KEY_ATTRIBUTES))
HIDDEN_ATTRIBUTES = frozenset((*KEY_ATTRIBUTES, "entity"))  # stored, never returned

#: A DynamoDB item or request parameter in wire format (``{"S": ...}`` values).
Wire = dict[str, Any]
#: One transaction operation as the managers build it (``{"Put": {...}}``, ``{"Update": {...}}``,
#: ``{"Delete": {...}}`` or ``{"ConditionCheck": {...}}``); services pass it to a unit of work as is.
Op = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class Built(TypedDict):
    expression: str
    names: dict[str, str]
    values: dict[str, Any]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def serialize(item: Mapping[str, Any]) -> Wire:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def serialize_value(value: Any) -> Any:
    return _serializer.serialize(value)


def deserialize_value(raw: Any) -> Any:
    return _deserializer.deserialize(raw)


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


def deserialize(raw: Mapping[str, Any], *, money_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {k: typed(_deserializer.deserialize(v), money=k in money_fields) for k, v in raw.items()}


def build(condition: ConditionBase, *, is_key: bool = False) -> Built:
    # A fresh builder per call: its placeholder counters are not thread-safe, and its placeholders
    # (#n0, :v0, ...) must not depend on earlier calls; update_op's own use other prefixes.
    expr = ConditionExpressionBuilder().build_expression(condition, is_key_condition=is_key)
    return {
        "expression": expr.condition_expression,
        "names": expr.attribute_name_placeholders,
        "values": {k: _serializer.serialize(v) for k, v in expr.attribute_value_placeholders.items()},
    }


def filter_expression(condition: ConditionBase) -> Built:
    """Like ``build`` but with placeholders (#q, :q) that cannot clash with a key condition's."""
    built = build(condition)
    expression, names, values = built["expression"], {}, {}
    for old, new in sorted(((k, "#q" + k[2:]) for k in built["names"]), key=lambda kv: -len(kv[0])):
        expression = expression.replace(old, new)
        names[new] = built["names"][old]
    for old, new in sorted(((k, ":q" + k[2:]) for k in built["values"]), key=lambda kv: -len(kv[0])):
        expression = expression.replace(old, new)
        values[new] = built["values"][old]
    return {"expression": expression, "names": names, "values": values}


def call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """One DynamoDB round trip; transport failures become StoreUnavailable."""
    try:
        response: dict[str, Any] = getattr(aws.client("dynamodb"), operation)(**kwargs)
        return response
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                    "InternalServerError", "ServiceUnavailable"):
            raise StoreUnavailable(code) from exc
        raise
    except BotoCoreError as exc:  # connection refused, timeouts, DNS...
        raise StoreUnavailable(type(exc).__name__) from exc


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def apply_filter(condition: ConditionBase | None, kwargs: dict[str, Any], names: dict[str, str],
                 values: dict[str, Any]) -> str:
    """Add ``condition`` as the query's FilterExpression (placeholders into ``names``/``values``);
    returns its identity for the cursor's query id ("" without a filter)."""
    if condition is None:
        return ""
    built = filter_expression(condition)
    kwargs["FilterExpression"] = built["expression"]
    names.update(built["names"])
    values.update(built["values"])
    return repr((built["expression"], sorted(built["names"].items()), sorted(map(str, built["values"].items()))))


def set_and_add_clauses(fields: Mapping[str, Any], deltas: Mapping[str, int], *, sets: list[str],
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
