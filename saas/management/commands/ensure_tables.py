from django.core.management.base import BaseCommand

from saas.tenancy import tables


class Command(BaseCommand):
    help = "Create the DynamoDB tables and indexes declared in code, or bring them up to date. Idempotent."

    def handle(self, *args, **options):
        for line in tables.ensure_all():
            self.stdout.write(line)
