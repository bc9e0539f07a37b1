from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self) -> None:
        # The core reads the tenant directory (job runner, sweep) and resumes stuck provisioning
        # through these hooks; it never imports this app.
        from saas.hooks import hooks

        from . import selectors, tasks

        hooks.get_tenant = selectors.directory_record
        hooks.tenant_pages = selectors.directory_page
        hooks.directory_sweeps.append(tasks.resume_provisioning)
