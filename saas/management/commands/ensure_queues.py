from django.core.management.base import BaseCommand

from saas import queues


class Command(BaseCommand):
    help = ("Create the SQS job queue and its dead-letter queue declared in saas/queues.py, or bring their "
            "attributes (visibility timeout, redrive policy) up to date. Idempotent. Prints each queue's URL and ARN "
            "(SQS_JOBS_QUEUE_URL and the worker stage's event source ARN in zappa_settings.json).")

    def handle(self, *args, **options):
        for line in queues.ensure_queues():
            self.stdout.write(line)
