from django.apps import apps
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
        if settings.LOCAL_STACK:  # each installed app's local resources (audit: the chain key secret)
            for config in apps.get_app_configs():
                ensure = getattr(config, "ensure_local_resources", None)
                if ensure is not None:
                    self.stdout.write(ensure())
