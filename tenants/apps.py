from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self) -> None:
        # The core reads the tenant directory (job runner, sweep) and resumes stuck provisioning
        # through these hooks; it never imports this app.
        from saas.hooks import hooks

        from . import selectors

        hooks.get_tenant = selectors.directory_record
        hooks.tenant_pages = selectors.directory_page
        hooks.directory_sweeps.append(resume_provisioning)


def resume_provisioning(tenant: dict, *, producer=None) -> int:
    """``tasks.resume_provisioning``, imported when the sweep first calls it: importing the task
    layer imports Celery, which serving a request does not need."""
    from .tasks import resume_provisioning

    return resume_provisioning(tenant, producer=producer)
