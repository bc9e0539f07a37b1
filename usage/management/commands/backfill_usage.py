"""Usage for tenants that existed before usage counting: today's baseline and what can be rebuilt."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from audit import acting_for
from saas.hooks import hooks
from saas.tenancy import system_context, tenant_context, validate_tenant_id
from usage import services as usage

WITH_DATA = ("active", "deactivated")  # other tenants (being set up, failed, rejected) hold no items


class Command(BaseCommand):
    help = ("Record today's usage baseline (products, stored bytes) for every tenant, set the plan-limit "
            "counters (products, members) to the real counts and rebuild orders placed per day before "
            "counting began. Idempotent: run it again at will. API requests, events published and past "
            "stored bytes cannot be rebuilt.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant id")
        parser.add_argument("--days", type=int, default=30, help="how far back to rebuild orders placed (days)")

    def handle(self, *args, tenant=None, days=30, **options):
        done = 0
        with acting_for("manage.py backfill_usage"):
            for record in self._tenants(tenant):
                if record.get("status") not in WITH_DATA or record.get("offboarding"):
                    continue
                with tenant_context(record["id"], tier=record.get("tier") or "basic"):
                    result = usage.backfill(days=days)
                self.stdout.write(json.dumps({"tenant": record["id"], **result}, sort_keys=True))
                done += 1
        self.stdout.write(f"backfilled {done} tenant(s)")

    def _tenants(self, only: str | None):
        if only:
            with system_context(reason="backfill_usage: read one tenant"):
                record = hooks.require("get_tenant")(validate_tenant_id(only))
            yield from [record] if record else []
            return
        cursor = None
        while True:
            with system_context(reason="backfill_usage: list tenants"):
                page = hooks.require("tenant_pages")(cursor)
            yield from page.items
            cursor = page.next_cursor
            if not cursor:
                return
