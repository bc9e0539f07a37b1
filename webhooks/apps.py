from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        # The core's outbox relay hands events to webhook delivery through this hook.
        from saas.hooks import TenantTeardown, hooks

        from .services import publish_events, refresh_pending_subscriptions, topic_cache
        from .services.topics import current_counts

        hooks.publish_events = publish_events
        hooks.tenant_sweeps.append(refresh_pending_subscriptions)
        from .services.delivery import deliver_due

        hooks.tenant_sweeps.append(deliver_due)  # endpoint retries whose time has come
        # Subscriptions are counted in the webhooks' own counts item (the plan limit is checked there).
        hooks.limit_usage["webhook_subscriptions"] = lambda: current_counts().total
        # A tenant that leaves: its SNS subscriptions and topics go (the records go with its partitions).
        hooks.tenant_teardowns.append(TenantTeardown("webhooks", delete=delete_tenant_topics,
                                                     forget=lambda tenant_id, users: topic_cache.clear()))


def delete_tenant_topics(tenant_id: str) -> dict[str, int]:
    """The counts as the deletion receipt names them."""
    from .services import delete_tenant_topics

    topics, subscriptions = delete_tenant_topics(tenant_id)
    return {"sns_topics": topics, "sns_subscriptions": subscriptions}
