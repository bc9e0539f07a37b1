from django.core.management.base import BaseCommand

from saas.hooks import hooks
from saas.tenancy import system_context, tenant_context


class Command(BaseCommand):
    help = ("Move SNS-HTTPS webhook subscriptions to endpoints (one per URL, with all its event types; signed "
            "Standard Webhooks deliveries with a per-endpoint secret that the tenant's admins reveal in the app), "
            "then remove the subscriptions and their per-type topics. Idempotent. Secrets are never printed.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant (default: every active tenant)")
        parser.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")

    def handle(self, *args, tenant=None, dry_run=False, **options):
        from webhooks.services.migration import migrate_subscriptions

        for tenant_id, tier in self._tenants(tenant):
            with tenant_context(tenant_id, tier=tier):
                for line in migrate_subscriptions(dry_run=dry_run):
                    action = "would move" if dry_run else ("created" if line["created"] else "merged into")
                    self.stdout.write(f"{tenant_id}\t{action}\t{line['url']}\t{','.join(line['event_types']) or '-'}\t"
                                      f"{line['endpoint_id'] or '-'}")

    def _tenants(self, only):
        tenant_pages, cursor = hooks.require("tenant_pages"), None
        while True:
            with system_context(reason="webhook subscription migration: list tenants"):
                page = tenant_pages(cursor)
            for t in page.items:
                if t.get("status") == "active" and (only is None or t["id"] == only):
                    yield t["id"], t.get("tier") or "basic"
            cursor = page.next_cursor
            if not cursor:
                return
