"""Webhook jobs: the periodic re-validation of subscriber hosts (``CELERY_BEAT_SCHEDULE``).

``webhooks.revalidate`` is a platform job (no tenant header): it lists the active tenants under
system_context and enqueues one ``webhooks.revalidate_tenant`` job per tenant, inside that tenant's
context, which re-checks the tenant's subscriptions (suspending those whose host turned non-public).
"""
from __future__ import annotations

import logging

from celery import shared_task

from saas.celery import get_app
from saas.hooks import hooks
from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import StoreUnavailable

from .services.revalidation import revalidate_subscriptions

get_app()  # the shared tasks below resolve through the current app: the project's (created on first use)

logger = logging.getLogger("webhooks.tasks")


@shared_task(name="webhooks.revalidate", tenant_scoped=False)
def revalidate_all() -> int:
    tenant_pages = hooks.require("tenant_pages")  # the tenant directory, through the tenants app's hook
    enqueued, cursor = 0, None
    with revalidate_all.app.producer_or_acquire() as producer:
        while True:
            with system_context(reason="webhook re-validation: list active tenants"):
                page = tenant_pages(cursor)
            for tenant in page.items:
                if tenant.get("status") == "active":
                    with tenant_context(tenant["id"]):
                        revalidate_tenant.apply_async(producer=producer)
                        enqueued += 1
            cursor = page.next_cursor
            if not cursor:
                return enqueued


@shared_task(name="webhooks.revalidate_tenant", autoretry_for=(StoreUnavailable,), retry_backoff=2, max_retries=5)
def revalidate_tenant() -> int:
    suspended = revalidate_subscriptions()
    if suspended:
        logger.warning("webhook re-validation suspended %d subscription(s)", suspended)
    return suspended


# --- endpoint delivery ------------------------------------------------------------------------------
@shared_task(name="webhooks.deliver_due", autoretry_for=(StoreUnavailable,), retry_backoff=2, max_retries=5)
def deliver_due() -> int:
    """The tenant's due deliveries now (after a resend or a recovery; the sweep runs it too)."""
    from .services.delivery import deliver_due as run

    return run()


@shared_task(name="webhooks.recover", autoretry_for=(StoreUnavailable,), retry_backoff=2, max_retries=5)
def recover(recovery_id: str) -> int:
    from .services.delivery import deliver_due as run
    from .services.delivery import run_recovery

    job = run_recovery(recovery_id=recovery_id)
    run()
    return int(job.get("requeued") or 0)


@shared_task(name="webhooks.consume", tenant_scoped=False)
def consume(seconds: float = 5.0) -> int:
    """Read the delivery queue for up to ``seconds`` (the local stack's beat; in AWS the worker
    stage's second SQS event source calls ``webhooks.worker.handle_sqs`` instead)."""
    from .worker import drain

    return drain(seconds=seconds)
