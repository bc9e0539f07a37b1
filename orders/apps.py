from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        # The core's periodic sweep re-enqueues each active tenant's stuck orders through this hook.
        from saas.hooks import hooks

        from . import services

        hooks.tenant_sweeps.append(services.recover_stuck_orders)
