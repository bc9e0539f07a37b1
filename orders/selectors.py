"""Order reads. Members (and viewers) see only their own orders; managers and admins see all.
Someone else's order is a 404, exactly like another tenant's."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from boto3.dynamodb.conditions import Attr

from saas.tenancy import get_context
from saas.tenancy.store import DoesNotExist, Page

from .models import Order


def sees_all_orders() -> bool:
    return get_context().at_least("manager")


def get_order(order_id: str, *, consistent: bool = False) -> dict:
    """Raises DoesNotExist (-> 404) when missing, another tenant's, or another user's for a member."""
    order = Order.objects.get(order_id, consistent=consistent)
    if not sees_all_orders() and order["user_id"] != get_context().user_id:
        raise DoesNotExist("order not found")
    return order


@dataclass(frozen=True)
class OrderFilter:
    """What an order list shows: a status (or all), placed on or after ``since`` and on or before
    ``until`` (whole UTC days), newest or oldest first."""

    status: str | None = None
    since: date | None = None
    until: date | None = None
    newest_first: bool = True

    def id_range(self) -> tuple[str, str] | None:
        """Order ids start with their creation time in milliseconds, so a date range is a key range."""
        if not self.since and not self.until:
            return None
        low = _millis(self.since) if self.since else 0
        high = _millis(self.until + timedelta(days=1)) - 1 if self.until else 10**13 - 1
        return f"{low:013d}", f"{high:013d}~"  # "~" sorts after the id's random hex tail


def _millis(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=timezone.utc).timestamp() * 1000)


MAX_READS_PER_PAGE = 5  # a status filter may leave pages short: read on, a bounded number of times


def list_orders(*, cursor: str | None = None, limit: int = 20, where: OrderFilter = OrderFilter()) -> Page:
    """One page of orders. Everyone's (managers, admins) is a query of the tenant's order partition;
    a member's is a query of the by-user index, never a filtered read of everyone's. The date range is
    part of the key condition; a status is a filter, so a page is filled by up to
    ``MAX_READS_PER_PAGE`` reads (each asks only for what is still missing, so the cursor stays exact)."""
    query: dict[str, Any] = {} if sees_all_orders() else {"index": "by_user", "value": f"USER#{get_context().user_id}"}
    found: list[dict] = []
    for _ in range(MAX_READS_PER_PAGE):
        page = Order.objects.query(**query, cursor=cursor, limit=limit - len(found), ascending=not where.newest_first,
                                   between=where.id_range(),
                                   filter=Attr("status").eq(where.status) if where.status else None)
        found += page.items
        cursor = page.next_cursor
        if not cursor or len(found) >= limit:
            break
    return Page(items=found, next_cursor=cursor)
