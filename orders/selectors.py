"""Order reads. Members (and viewers) see only their own orders; managers and admins see all.
Someone else's order is a 404, exactly like another tenant's."""
from __future__ import annotations

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


def list_orders(*, cursor: str | None = None, limit: int = 20) -> Page:
    """Newest first. A member's list is one query of the by-user index, never a filtered read."""
    if sees_all_orders():
        return Order.objects.query(cursor=cursor, limit=limit, ascending=False)
    return Order.objects.query(index="by_user", value=f"USER#{get_context().user_id}", cursor=cursor,
                               limit=limit, ascending=False)
