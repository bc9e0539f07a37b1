import os

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class SaasConfig(AppConfig):
    name = "saas"

    def ready(self) -> None:
        from saas import checks  # registers the configuration checks
        from saas.hooks import TenantTeardown, hooks

        # A tenant that leaves (tenants.offboarding): the core's own in-process state of it goes.
        hooks.tenant_teardowns.append(TenantTeardown("saas", forget=forget_tenant))

        # No `manage.py check` runs on Lambda: refuse to start instead of failing every request.
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            problems = [e for e in checks.configuration() if e.is_serious()]
            if problems:
                raise ImproperlyConfigured("configuration errors:\n" + "\n".join(
                    f"{e.id}: {e.msg} {e.hint}" for e in problems))


def forget_tenant(tenant_id: str, users) -> None:
    """The usage counts not flushed yet (which must not recreate the tenant's items). Imported on
    use: start-up does not need the module."""
    from saas import usage

    usage.counter.discard(tenant_id)
