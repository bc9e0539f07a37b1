from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        # The core's outbox relay hands events to webhook delivery through this hook.
        from saas.hooks import hooks

        from .services import publish_events

        hooks.publish_events = publish_events
