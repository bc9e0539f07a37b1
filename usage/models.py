"""Usage items: one per tenant per UTC day (entity ``USAGE``, id ``YYYY-MM-DD``) in the tenant's own
partition, so export and offboarding cover them."""
from __future__ import annotations

from datetime import datetime, timezone

from saas.tenancy.store import TenantModel

METRICS = ("api_requests", "orders_placed", "events_published", "stored_bytes")


class UsageDay(TenantModel):
    entity = "USAGE"
    export_as = "usage"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")
