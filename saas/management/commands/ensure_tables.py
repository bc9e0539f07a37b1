from django.conf import settings
from django.core.management.base import BaseCommand

from saas.tenancy import tables


class Command(BaseCommand):
    help = "Create the DynamoDB tables and indexes declared in code, or bring them up to date. Idempotent."

    def handle(self, *args, **options):
        for line in tables.ensure_all():
            self.stdout.write(line)
        if settings.FILES_ENSURE_BUCKET:
            from saas import buckets

            self.stdout.write(buckets.ensure_bucket())
        if settings.LOCAL_STACK:
            from saas import audit

            self.stdout.write(audit.ensure_chain_key())
