"""Verify a tenant's audit chain (or the platform's) end to end; exit status 1 if it is broken."""
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verification import verify_chain
from saas.tenancy import system_context, validate_tenant_id


class Command(BaseCommand):
    help = "Verify the hash chain of a tenant's audit trail (or --platform): edits, deletions, truncation."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--tenant", help="tenant id")
        group.add_argument("--platform", action="store_true", help="the platform trail")

    def handle(self, *args: Any, tenant: str | None = None, platform: bool = False, **options: Any) -> None:
        if tenant:
            validate_tenant_id(tenant)
        with system_context(reason=f"verify audit chain of {tenant or 'the platform'}"):
            result = verify_chain(tenant_id=tenant)
        span = f"seq {result.first_seq}..{result.last_seq}" if result.records else "empty"
        if result.ok:
            self.stdout.write(f"OK: {result.trail}: {result.records} records ({span}), chain intact")
            return
        for problem in result.problems:
            self.stderr.write(f"BROKEN: {result.trail}: {problem}")
        raise CommandError(f"audit chain of {result.trail} is broken ({len(result.problems)} problems)")
