from django.core.management.base import BaseCommand

from tenants import selectors


class Command(BaseCommand):
    help = "List every tenant on the platform (a page at a time under the hood, never a scan)."

    def add_arguments(self, parser):
        parser.add_argument("--page-size", type=int, default=100)

    def handle(self, *args, page_size: int = 100, **options):
        cursor, count = None, 0
        self.stdout.write("id\tname\ttier\tstatus\tdeployment\tcreated_at")
        while True:
            page = selectors.list_tenants(cursor=cursor, limit=page_size)
            for t in page.items:
                self.stdout.write(f"{t['id']}\t{t['name']}\t{t['tier']}\t{t['status']}\t{t['deployment']}\t"
                                  f"{t['created_at']}" + (f"\t{t['failure_reason']}" if t.get("failure_reason") else ""))
                count += 1
            cursor = page.next_cursor
            if not cursor:
                break
        self.stderr.write(f"{count} tenant(s)")
