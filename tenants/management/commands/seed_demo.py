from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tenants import demo


class Command(BaseCommand):
    help = ("Idempotently create the demo users (local Cognito pool + local OIDC provider, same sub), "
            "the demo tenants with their memberships, and the apps' demo data (products); print how to sign in.")

    def add_arguments(self, parser):
        parser.add_argument("--file", help="demo users file (default tenants/demo_users.json)")
        parser.add_argument("--provider-url", help="local OIDC provider (default OIDC_LOCAL_PROVIDER_URL); '' to skip")
        parser.add_argument("--web-url", default="http://127.0.0.1:8000")
        parser.add_argument("--no-products", action="store_true", help="no demo data of the apps (products)")

    def handle(self, *args, file=None, provider_url=None, web_url="http://127.0.0.1:8000", no_products=False,
               **options):
        if not settings.LOCAL_STACK:  # demo users have passwords in the repository
            raise CommandError("seed_demo only runs against the local stack (SAAS_LOCAL_STACK=1); refusing here.")
        result = demo.seed_demo(path=file, provider_url=provider_url, app_data=not no_products)
        out = self.stdout.write
        out("Demo users (Cognito sub = the id to type at the local sign-in provider):")
        for user in result.users:
            extra = f"  [{', '.join(user.groups)}]" if user.groups else ""
            out(f"  {user.email:<22} sub {user.sub}  password {user.password}{extra}")
        out("Demo tenants:")
        for tenant in result.tenants:
            state = "created" if tenant["created"] else "exists"
            members = ", ".join(f"{e}={r}" for e, r in tenant["members"].items())
            out(f"  {tenant['id']}  {tenant['name']} ({tenant['tier']}, {state}): {members}")
        for name in result.seeded:
            out(f"Demo {name}: seeded for each demo tenant.")
        out("")
        out("How to sign in:")
        if result.provider_registered:
            out(f"  Browser: open {web_url}/login/ -> Sign in -> at the provider ({result.provider_url}) enter the")
            out("           user's sub from the list above (or click it once it shows under 'previous users').")
        elif result.provider_error:
            out(f"  Browser: could not register the demo users at {result.provider_url}: {result.provider_error}")
            out("           (start the provider, e.g. `python -m devstack up`, and run seed_demo again)")
        else:
            out("  Browser: no local OIDC provider configured (OIDC_LOCAL_PROVIDER_URL); skipped registering users.")
        first = result.users[0].email if result.users else "alice@demo.test"
        out(f"  API:     TOKEN=$(python manage.py demo_token {first})")
        out(f"           curl -H \"Authorization: Bearer $TOKEN\" {web_url}/api/v1/me")
