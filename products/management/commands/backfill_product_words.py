from django.core.management.base import BaseCommand, CommandError

from products import services
from saas.tenancy import tenant_context


class Command(BaseCommand):
    help = ("Index one tenant's products written before the catalogue's word index (or its counters): "
            "word items, counters and the format marker, one transaction per product. Idempotent (indexed "
            "products are skipped) and resumable (run it again, or pass --after the last id it printed).")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's id (the work runs in its context only)")
        parser.add_argument("--after", default="", help="start after this product id (resume a stopped run)")
        parser.add_argument("--limit", type=int, help="stop after looking at this many products")
        parser.add_argument("--every", type=int, default=500, help="print progress every N products")

    def handle(self, *args, tenant, after="", limit=None, every=500, **options):
        tenant = tenant.strip()
        if not tenant:
            raise CommandError("--tenant is required: the backfill works inside one tenant's context")

        def progress(report):
            if (report.indexed + report.current) % every == 0:
                self.stdout.write(f"  {report.indexed} indexed, {report.current} already indexed; last {report.last_id}")

        with tenant_context(tenant, roles={"admin"}):
            report = services.backfill_words(after=after, limit=limit, progress=progress)
        self.stdout.write(f"{tenant}: {report.indexed} products indexed, {report.current} already indexed"
                          + (f"; resume with --after {report.last_id}" if limit is not None and report.last_id else ""))
