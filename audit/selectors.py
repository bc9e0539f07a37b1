"""Reading the trail: a tenant's records (its own trail) and the platform's, filtered, newest first."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Mapping

from boto3.dynamodb.conditions import Attr, ConditionBase

from saas.tenancy.store import Page

from .models import PLATFORM, AuditRecord, PlatformAuditRecord


def _filters(*, actor: str | None = None, action: str | None = None, target_type: str | None = None,
             target_id: str | None = None, since: str | None = None, until: str | None = None,
             tenant_id: str | None = None) -> ConditionBase | None:
    condition: ConditionBase | None = None

    def both(c: ConditionBase) -> None:
        nonlocal condition
        condition = c if condition is None else condition & c

    if actor:
        both(Attr("actor_id").eq(actor) | Attr("actor_email").eq(actor))
    if action:
        both(Attr("action").begins_with(action[:-1]) if action.endswith("*") else Attr("action").eq(action))
    if target_type:
        both(Attr("target_type").eq(target_type))
    if target_id:
        both(Attr("target_id").eq(target_id))
    if since:
        both(Attr("at").gte(since))
    if until:
        both(Attr("at").lt(until))
    if tenant_id:
        both(Attr("tenant_id").eq(tenant_id))
    return condition


PUBLIC_FIELDS = ("seq", "at", "actor_type", "actor_id", "actor_email", "actor_detail", "action", "target_type",
                 "target_id", "changes", "request_id", "source_ip", "tenant_id", "hash", "prev_hash")


def public_record(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: item.get(name) for name in PUBLIC_FIELDS}
    out["seq"] = int(item["seq"])
    plain: dict[str, Any] = _plain(out)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def list_records(*, cursor: str | None = None, limit: int = 20, **filters: Any) -> Page:
    """The current tenant's trail, newest first. Filtering is done by DynamoDB on the page read;
    to keep pages useful we read on (at most a few round trips) until ``limit`` items are found."""
    return _fill(lambda c, n: AuditRecord.objects.query(ascending=False, filter=_filters(**filters), cursor=c,
                                                        limit=n), cursor=cursor, limit=limit)


def list_platform_records(*, cursor: str | None = None, limit: int = 20, **filters: Any) -> Page:
    """The platform trail, newest first (system context)."""
    return _fill(lambda c, n: PlatformAuditRecord.objects.query(PLATFORM, ascending=False, filter=_filters(**filters),
                                                                cursor=c, limit=n), cursor=cursor, limit=limit)


def _fill(read: Callable[[str | None, int], Page], *, cursor: str | None, limit: int, max_reads: int = 5) -> Page:
    items: list[dict[str, Any]] = []
    for _ in range(max_reads):
        page = read(cursor, limit - len(items) if items else limit)
        items.extend(page.items)
        cursor = page.next_cursor
        if len(items) >= limit or not cursor:
            break
    return Page(items=items[:limit], next_cursor=cursor)

