from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"

    def ready(self) -> None:
        from saas.hooks import TenantTeardown, hooks

        from .services import counter

        hooks.count_usage = counter.add  # the outbox relay counts the events it published
        hooks.after_job.append(counter.maybe_flush)  # a worker writes its counts now and then...
        hooks.worker_shutdown.append(counter.flush)  # ...and before it exits
        # A tenant that leaves (tenants.offboarding): its counts not flushed yet must not recreate its items.
        hooks.tenant_teardowns.append(TenantTeardown("usage", forget=lambda tenant_id, users: counter.discard(tenant_id)))
