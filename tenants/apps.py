from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self) -> None:
        # The core reads the tenant directory (job runner, sweep) and resumes stuck provisioning
        # through these hooks; it never imports this app.
        from saas.hooks import TenantTeardown, hooks

        from . import selectors

        hooks.get_tenant = selectors.directory_record
        hooks.tenant_pages = selectors.directory_page
        hooks.directory_sweeps.append(resume_provisioning)
        # Offboarding (this app's own) forgets the active-tenant resolutions of the tenant and its members.
        hooks.tenant_teardowns.append(TenantTeardown("tenants", forget=forget_resolutions))


def forget_resolutions(tenant_id: str, users) -> None:
    from .active_tenant import cache

    cache.invalidate_tenant(tenant_id)
    for user_id in users:
        cache.invalidate_user(user_id)


def resume_provisioning(tenant: dict, *, producer=None) -> int:
    """``tasks.resume_provisioning``, imported when the sweep first calls it: importing the task
    layer imports Celery, which serving a request does not need."""
    from .tasks import resume_provisioning

    return resume_provisioning(tenant, producer=producer)
