from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        # The core's outbox relay hands events to webhook delivery through this hook.
        from saas.hooks import hooks

        from .services import publish_events, refresh_pending_subscriptions

        hooks.publish_events = publish_events
        hooks.tenant_sweeps.append(refresh_pending_subscriptions)
