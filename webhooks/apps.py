from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        # The core's outbox relay hands events to webhook delivery through this hook.
        from saas.hooks import hooks

        from .services import publish_events, refresh_pending_subscriptions
        from .services.topics import current_counts

        hooks.publish_events = publish_events
        hooks.tenant_sweeps.append(refresh_pending_subscriptions)
        from .services.delivery import deliver_due

        hooks.tenant_sweeps.append(deliver_due)  # endpoint retries whose time has come
        # Subscriptions are counted in the webhooks' own counts item (the plan limit is checked there).
        hooks.limit_usage["webhook_subscriptions"] = lambda: current_counts().total
