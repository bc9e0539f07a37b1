from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        # The core's periodic sweep re-enqueues each active tenant's stuck orders through this hook.
        from saas.hooks import hooks

        hooks.tenant_sweeps.append(recover_stuck_orders)


def recover_stuck_orders() -> int:
    """``services.recover_stuck_orders``, imported when the sweep first runs: a request that places
    no order does not need the order services (a cold start imports them only on its first order)."""
    from .services import recover_stuck_orders as recover

    return recover()
