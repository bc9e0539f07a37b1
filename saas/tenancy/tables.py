"""Table declarations and the idempotent create/update used by ``manage.py ensure_tables``."""
from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from saas import aws

GSIS = ("GSI1", "GSI2", "GSI3")  # overloaded, tenant-prefixed partitions (see store.Index)
TTL_ATTRIBUTE = "expires_at"


def table_spec(name: str) -> dict[str, Any]:
    """Every table (pooled or silo) has the same shape: PK/SK, three overloaded GSIs, TTL."""
    attributes = ["PK", "SK"] + [f"{g}{k}" for g in GSIS for k in ("PK", "SK")]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": g,
             "KeySchema": [{"AttributeName": f"{g}PK", "KeyType": "HASH"},
                           {"AttributeName": f"{g}SK", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}}
            for g in GSIS
        ],
    }


def ensure_table(name: str, *, wait: bool = True) -> list[str]:
    """Create the table or add missing GSIs / TTL. Returns a line per action taken."""
    ddb = aws.client("dynamodb")
    spec = table_spec(name)
    actions: list[str] = []
    try:
        existing = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        ddb.create_table(**spec)
        if wait:
            ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        actions.append(f"created table {name}")
        existing = None
    if existing is not None:
        present = {g["IndexName"] for g in existing.get("GlobalSecondaryIndexes", [])}
        for gsi in spec["GlobalSecondaryIndexes"]:
            if gsi["IndexName"] not in present:
                ddb.update_table(TableName=name, AttributeDefinitions=spec["AttributeDefinitions"],
                                 GlobalSecondaryIndexUpdates=[{"Create": gsi}])
                actions.append(f"added index {gsi['IndexName']} to {name}")
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                        "AttributeName": TTL_ATTRIBUTE})
        actions.append(f"enabled TTL on {name}.{TTL_ATTRIBUTE}")
    return actions or [f"table {name} is up to date"]


def wait_until_active(name: str, *, timeout: float, poll: float = 1.0) -> bool:
    """True once the table and its indexes are ACTIVE; False if that takes longer than ``timeout``
    (a worker hands the rest to a follow-up job instead of outliving its function timeout)."""
    ddb = aws.client("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        table = ddb.describe_table(TableName=name)["Table"]
        if table["TableStatus"] == "ACTIVE" and all(
                g.get("IndexStatus") == "ACTIVE" for g in table.get("GlobalSecondaryIndexes", [])):
            return True
        if time.monotonic() + poll > deadline:
            return False
        time.sleep(poll)


def delete_table(name: str) -> None:
    ddb = aws.client("dynamodb")
    try:
        ddb.delete_table(TableName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise


def ensure_all() -> list[str]:
    return ensure_table(settings.DYNAMODB_TABLE)
