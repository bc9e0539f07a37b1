"""Usage per tenant per day: API requests, orders placed, events published, stored bytes.

Counts are aggregated in process (``add``) and written by ``flush``: one DynamoDB ``ADD`` per
(tenant, day) with pending counts. A long-lived process (``runserver``, a Celery worker) flushes at
most every ``USAGE_FLUSH_SECONDS`` (checked after each request and each job) and on shutdown, losing
at most that window if it dies. On Lambda (``USAGE_FLUSH_EACH_INVOCATION``, on when
``AWS_LAMBDA_FUNCTION_NAME`` is set) a container is frozen the moment the handler returns and may be
destroyed without being thawed, so every request and job that counted writes its counts before it
returns: one conditional-free ``UpdateItem`` per tenant counted (cost: ``bench/bench_products.py``). Items: entity ``USAGE``, id = the UTC day ``YYYY-MM-DD``, in the tenant's own
partition (so export and offboarding cover them).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Callable

from boto3.dynamodb.conditions import Attr
from django.conf import settings

from saas.tenancy.context import TenantContext, current_context, get_context, tenant_context
from saas.tenancy.store import (
    TENANT_MODELS,
    DoesNotExist,
    TransactionCancelled,
    now_iso,
    transact_write,
)

from .models import METRICS, UsageDay, today

logger = logging.getLogger("saas.usage")  # the name log queries know

class UsageCounter:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._last_flush = clock()

    def add(self, metric: str, amount: int = 1, *, tenant_id: str | None = None) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown usage metric {metric!r}")
        if tenant_id is None:
            ctx = current_context()
            if not isinstance(ctx, TenantContext):
                return  # nothing to attribute it to
            tenant_id = ctx.tenant_id
        with self._lock:
            self._pending[(tenant_id, today())][metric] += int(amount)

    def discard(self, tenant_id: str) -> None:
        """Drop a tenant's unflushed counts (it is being deleted)."""
        with self._lock:
            for key in [k for k in self._pending if k[0] == tenant_id]:
                del self._pending[key]

    def pending(self, tenant_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self._pending.get((tenant_id, today()), {}))

    def maybe_flush(self) -> None:
        if settings.USAGE_FLUSH_EACH_INVOCATION or self._clock() - self._last_flush >= settings.USAGE_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> int:
        """Write every pending count; returns the number of items written. Failed writes are
        put back so the next flush retries them."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: defaultdict(int))
            self._last_flush = self._clock()
        written = 0
        for (tenant_id, day), metrics in pending.items():
            deltas = {m: n for m, n in metrics.items() if n}
            if not deltas:
                continue
            try:
                with tenant_context(tenant_id):
                    transact_write([UsageDay.objects.add_op(day, deltas=deltas)])
                written += 1
            except Exception:
                logger.warning("usage flush failed for %s %s; kept for the next flush", tenant_id, day, exc_info=True)
                with self._lock:
                    for metric, n in deltas.items():
                        self._pending[(tenant_id, day)][metric] += n
        return written


counter = UsageCounter()
add = counter.add
flush = counter.flush


# --- backfill (``manage.py backfill_usage``): tenants that existed before usage counting ----------
def backfill(*, days: int = 30, today_: str | None = None) -> dict:
    """Reconstruct what can be reconstructed for the tenant in context; idempotent (every write is a
    SET of a value read from the data itself, or a conditional correction of a counter).

    * today's baseline, on today's ``USAGE`` item: ``products_baseline`` (products now) and
      ``stored_bytes_baseline`` (bytes under the tenant's S3 prefix now);
    * the plan-limit counters (``QUOTA`` products, members) set to the real counts, on the condition
      that they did not move meanwhile (a concurrent create/delete: read again and retry);
    * ``orders_placed`` for the last ``days`` days *before* counting began (the tenant's earliest
      counted day, else today), from the orders' ``created_at``; those items say ``backfilled``.

    API requests, events published and daily stored bytes leave no record to rebuild them from."""
    import files
    from saas import limits

    day = today_ or today()
    products = _count("PRODUCT")
    stored = files.prefix_bytes(get_context().tenant_id)
    transact_write([UsageDay.objects.add_op(day, deltas={"stored_bytes": 0}, products_baseline=products,
                                       stored_bytes_baseline=stored, baseline_at=now_iso())])
    quotas = {name: _reconcile_quota(limits.Quota, name, entity)
              for name, entity in (("products", "PRODUCT"), ("members", "MEMBER"))}
    orders = _backfill_orders(days=days, today_=day)
    return {"day": day, "products": products, "stored_bytes": stored, "quotas": quotas, "orders_placed": orders}


def _count(entity: str) -> int:
    return sum(1 for _ in TENANT_MODELS[entity].objects.every())


def _reconcile_quota(quota_model, name: str, entity: str, attempts: int = 5) -> dict:
    """Set the ``name`` quota counter to the number of ``entity`` items, unless it moved meanwhile
    (audit-logged as ``limits.reconciled``: it changes what the plan allows)."""
    import audit
    for _ in range(attempts):
        try:
            seen, exists = quota_model.objects.get(name, consistent=True).get("used", 0), True
        except DoesNotExist:
            seen, exists = 0, False
        actual = _count(entity)
        if actual == seen and exists:
            return {"was": seen, "now": actual}
        unchanged = Attr("used").eq(seen) if exists else Attr("used").not_exists()
        try:
            transact_write([quota_model.objects.add_op(name, deltas={"used": actual - seen}, condition=unchanged)],
                           join=audit.records(audit.Entry(action="limits.reconciled", target_type="quota",
                                                          target_id=name, changes={"used": [seen, actual]})))
            return {"was": seen, "now": actual}
        except TransactionCancelled:
            continue  # a product/member was added or removed while we counted
    raise RuntimeError(f"quota {name} kept changing; run the backfill again")


def _backfill_orders(*, days: int, today_: str) -> dict[str, int]:
    counted = [item["id"] for item in UsageDay.objects.query(limit=100).items if not item.get("backfilled")]
    cutoff = min([*counted, today_])  # counting began on the earliest counted day (or began today)
    oldest = (datetime.strptime(today_, "%Y-%m-%d") - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    per_day: dict[str, int] = defaultdict(int)
    for order in TENANT_MODELS["ORDER"].objects.every():
        placed = str(order.get("created_at", ""))[:10]
        if oldest <= placed < cutoff:
            per_day[placed] += 1
    for placed, n in sorted(per_day.items()):
        transact_write([UsageDay.objects.add_op(placed, deltas={"api_requests": 0}, orders_placed=n, backfilled=True)])
    return dict(sorted(per_day.items()))
