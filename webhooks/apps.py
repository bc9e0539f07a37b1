from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        # The core's outbox relay hands events to webhook delivery through these hooks; each loads
        # the webhook services when it is first called (a cold request that writes nothing never does).
        from saas.hooks import TenantTeardown, hooks

        hooks.publish_events = publish_events
        hooks.tenant_sweeps.append(refresh_pending_subscriptions)
        hooks.tenant_sweeps.append(deliver_due)  # endpoint retries whose time has come
        # Subscriptions are counted in the webhooks' own counts item (the plan limit is checked there).
        hooks.limit_usage["webhook_subscriptions"] = subscriptions_in_use
        # A tenant that leaves: its SNS subscriptions and topics go (the records go with its partitions).
        hooks.tenant_teardowns.append(TenantTeardown("webhooks", delete=delete_tenant_topics, forget=forget_topics))


def publish_events(events: list[dict]) -> list:
    from .services import publish_events as publish

    return publish(events)


def refresh_pending_subscriptions() -> int:
    from .services import refresh_pending_subscriptions as refresh

    return refresh()


def deliver_due() -> int:
    from .services.delivery import deliver_due as deliver

    return deliver()


def subscriptions_in_use() -> int:
    from .services.topics import current_counts

    return current_counts().total


def forget_topics(tenant_id: str, users) -> None:
    from .services import topic_cache

    topic_cache.clear()


def delete_tenant_topics(tenant_id: str) -> dict[str, int]:
    """The counts as the deletion receipt names them."""
    from .services import delete_tenant_topics

    topics, subscriptions = delete_tenant_topics(tenant_id)
    return {"sns_topics": topics, "sns_subscriptions": subscriptions}
