from django.core.management.base import BaseCommand, CommandError

from tenants import cognito, services
from tenants.errors import ProvisioningFailed
from tenants.models import TIERS


class Command(BaseCommand):
    help = ("Create a tenant with its first admin. The admin's Cognito user is created if it does not "
            "exist (with --password it is usable at once; without, Cognito emails an invitation).")

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--tier", required=True, choices=TIERS)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--password", help="permanent password for a new admin user (local use)")

    def handle(self, *args, name, tier, admin_email, password=None, **options):
        email = admin_email.strip().lower()
        user = cognito.find_or_create_user(email=email, suppress_message=bool(password))
        if password:
            cognito.set_password(user.username, password)
        try:
            tenant = services.register_tenant(name=name.strip(), tier=tier, owner_id=user.sub, owner_email=email)
        except ProvisioningFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{tenant['id']}\t{tenant['name']}\t{tenant['tier']}\t{tenant['status']}\t"
                          f"admin {email} ({user.sub})")
