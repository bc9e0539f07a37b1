from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        # Every process that loads Django (web, worker, beat) relays outbox events through Celery
        # right after a commit; without a dispatcher they would wait for the sweep.
        from saas import outbox

        from . import tasks

        outbox.set_dispatcher(tasks.dispatch_events)
