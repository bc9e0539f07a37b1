"""Shared budgets (``saas.throttling``): one conditional ``ADD`` per lease."""
from __future__ import annotations

from botocore.exceptions import ClientError
from django.conf import settings

from . import items as wire
from .items import error_code, serialize

THROTTLE_ENTITY = "THROTTLE"


def lease_budget(bucket: str, window: int, *, amount: int, limit: int, expires_at: int) -> bool:
    """Take ``amount`` from a shared budget of ``limit`` per window, atomically: one conditional
    ``ADD`` on ``PK = THROTTLE#<bucket>``, ``SK = <window>`` (expires by TTL). False when fewer than
    ``amount`` are left. ``bucket`` comes from ``saas.tenancy.keys`` (it carries the tenant)."""
    if amount < 1:
        raise ValueError("a lease takes at least one request")
    bucket = bucket.replace("#", "_")  # the key delimiter never comes from a caller's text
    try:
        wire.call("update_item", TableName=settings.DYNAMODB_TABLE,
             Key=serialize({"PK": f"{THROTTLE_ENTITY}#{bucket}", "SK": str(int(window))}),
             UpdateExpression="ADD #used :amount SET #expires = :expires",
             ConditionExpression="attribute_not_exists(#used) OR #used <= :room",
             ExpressionAttributeNames={"#used": "used", "#expires": "expires_at"},
             ExpressionAttributeValues=serialize({":amount": int(amount), ":room": int(limit) - int(amount),
                                                  ":expires": int(expires_at)}))
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
