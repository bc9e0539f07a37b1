"""Reads: the current tenant's usage by day (Settings -> Usage, the API)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from saas.tenancy.context import get_context

from .models import METRICS, UsageDay, today
from .services import counter


def daily(*, days: int = 30) -> list[dict]:
    """The current tenant's last ``days`` days, newest first (flushed counts plus this process's
    pending ones for today)."""
    page = UsageDay.objects.query(ascending=False, limit=min(days, 100))
    ctx = get_context()
    rows = {item["id"]: {**{m: item.get(m, 0) for m in METRICS}, **_baseline(item)} for item in page.items}
    oldest = (datetime.now(timezone.utc) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    pending = counter.pending(ctx.tenant_id)
    if pending:
        row = rows.setdefault(today(), {m: 0 for m in METRICS})
        for metric, n in pending.items():
            row[metric] += n
    return [{"day": day, **row} for day, row in sorted(rows.items(), reverse=True) if day >= oldest]


def _baseline(item: dict) -> dict:
    """What ``backfill`` recorded on that day (tenants older than usage counting), if anything."""
    if "products_baseline" not in item:
        return {}
    return {"baseline": {"products": item["products_baseline"], "stored_bytes": item["stored_bytes_baseline"]}}


def totals(rows: list[dict]) -> dict[str, int]:
    return {m: sum(r[m] for r in rows) for m in METRICS}
