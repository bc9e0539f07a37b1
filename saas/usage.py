"""Usage per tenant per day: API requests, orders placed, events published, stored bytes.

Counting must cost nothing per request, so counts are aggregated in process (``add``) and written
by ``flush``: one DynamoDB ``ADD`` per (tenant, day) with pending counts, at most every
``USAGE_FLUSH_SECONDS`` (checked after each request and each job), and on worker shutdown. A
process that dies loses at most that window's unflushed counts — an accepted trade for not doing a
write per request. Items: entity ``USAGE``, id = the UTC day ``YYYY-MM-DD``, in the tenant's own
partition (so export and offboarding cover them).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Callable

from django.conf import settings

from saas.tenancy.context import TenantContext, current_context, tenant_context
from saas.tenancy.store import TenantModel, _transact

logger = logging.getLogger("saas.usage")

METRICS = ("api_requests", "orders_placed", "events_published", "stored_bytes")


class UsageDay(TenantModel):
    entity = "USAGE"
    export_as = "usage"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


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
        if self._clock() - self._last_flush >= settings.USAGE_FLUSH_SECONDS:
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
                    _transact([UsageDay.objects.add_op(day, deltas=deltas)])
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


def daily(*, days: int = 30) -> list[dict]:
    """The current tenant's last ``days`` days, newest first (flushed counts plus this process's
    pending ones for today)."""
    page = UsageDay.objects.query(ascending=False, limit=min(days, 100))
    ctx = current_context()
    rows = {item["id"]: {m: item.get(m, 0) for m in METRICS} for item in page.items}
    oldest = (datetime.now(timezone.utc) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    pending = counter.pending(ctx.tenant_id)
    if pending:
        row = rows.setdefault(today(), {m: 0 for m in METRICS})
        for metric, n in pending.items():
            row[metric] += n
    return [{"day": day, **row} for day, row in sorted(rows.items(), reverse=True) if day >= oldest]


def totals(rows: list[dict]) -> dict[str, int]:
    return {m: sum(r[m] for r in rows) for m in METRICS}


class UsageMiddleware:
    """Counts the tenant's API requests (placed after the tenant middleware) and flushes now and then."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            if request.path.startswith("/api/"):
                counter.add("api_requests")
            counter.maybe_flush()


def _connect_worker_signals() -> None:
    from celery.signals import task_postrun, worker_shutdown

    task_postrun.connect(lambda **kw: counter.maybe_flush(), weak=False, dispatch_uid="saas.usage.postrun")
    worker_shutdown.connect(lambda **kw: counter.flush(), weak=False, dispatch_uid="saas.usage.shutdown")


_connect_worker_signals()
