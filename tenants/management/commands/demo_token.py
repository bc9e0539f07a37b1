from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tenants import cognito, demo


class Command(BaseCommand):
    help = ("Print a fresh bearer token for a local demo user, from the local Cognito emulator's "
            "InitiateAuth (USER_PASSWORD_AUTH). The app holds no signing key.")

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--access", action="store_true", help="print the access token instead of the ID token")
        parser.add_argument("--password", help="default: the user's password in tenants/demo_users.json")

    def handle(self, *args, email: str, access: bool = False, password: str | None = None, **options):
        if not settings.LOCAL_STACK:  # demo passwords are in the repository
            raise CommandError("demo_token only runs against the local stack (SAAS_LOCAL_STACK=1); refusing here.")
        password = password or demo.demo_password(email)
        if not password:
            raise CommandError(f"{email} is not in tenants/demo_users.json; pass --password")
        try:
            tokens = cognito.sign_in(email.lower(), password)
        except ClientError as exc:
            raise CommandError(f"sign-in failed ({exc.response['Error']['Code']}); run `manage.py seed_demo` first") from exc
        self.stdout.write(tokens["AccessToken"] if access else tokens["IdToken"])
