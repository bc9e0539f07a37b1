"""Celery jobs: the order pipeline and the outbox relay.

Tenant jobs get their context from the message headers (``saas.tenancy.jobs.TenantTask``): they
are enqueued inside a tenant context and run inside the same one. ``outbox.sweep`` is the
platform job here (Celery beat, ``CELERY_BEAT_SCHEDULE``): it lists tenants under system_context
and enqueues one ``outbox.sweep_tenant`` job per active tenant, inside that tenant's context (and
hands the others to ``tenants.tasks.resume_provisioning``, which re-enqueues stuck provisioning).

Every job is idempotent (conditional transitions, claimed events), as ``acks_late`` redelivers a job
whose worker died.
"""
from __future__ import annotations

import logging

from celery import shared_task

from saas import outbox
from saas.celery import enqueue_after_commit
from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import StoreUnavailable

from . import services
from .models import CONFIRMED

logger = logging.getLogger("orders.tasks")

RETRY = {"autoretry_for": (StoreUnavailable,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 8}


@shared_task(name="orders.confirm", **RETRY)
def confirm_order(order_id: str) -> None:
    order = services.confirm_order(order_id=order_id)
    if order is not None and order["status"] == CONFIRMED:
        # Also when it was already confirmed: a rerun after a crash before this enqueue recovers it.
        # A broker error here leaves the order ``confirmed`` for the sweep; the job itself succeeded.
        enqueue_after_commit(fulfil_order, order_id)


@shared_task(name="orders.fulfil", **RETRY)
def fulfil_order(order_id: str) -> None:
    services.fulfil_order(order_id=order_id)


@shared_task(name="outbox.relay", **RETRY)
def relay_events(event_ids: list[str]) -> None:
    outcomes = outbox.relay(event_ids)
    logger.info("outbox relay: %s", outcomes)


def dispatch_events(events: list[dict]) -> None:
    """The outbox dispatcher (registered in OrdersConfig.ready): publish right after the commit
    (best effort: a failure leaves the events pending for the sweep and resets the broker probe)."""
    enqueue_after_commit(relay_events, [event["id"] for event in events])


@shared_task(name="outbox.sweep", tenant_scoped=False)
def sweep() -> int:
    """Fan out one sweep job per active tenant, and re-enqueue silo provisioning that is stuck.
    Platform job: no tenant header, system context."""
    from tenants.models import TENANT_DIRECTORY, Tenant
    from tenants.tasks import resume_provisioning

    enqueued, cursor = 0, None
    with sweep.app.producer_or_acquire() as producer:  # one broker connection for the whole fan-out
        while True:
            with system_context(reason="outbox sweep: list active tenants"):
                page = Tenant.objects.query(TENANT_DIRECTORY, cursor=cursor, limit=100)
            for tenant in page.items:
                if tenant.get("status") == "active":
                    with tenant_context(tenant["id"]):  # the job's tenant header comes from here
                        sweep_tenant.apply_async(producer=producer)
                        enqueued += 1
                else:
                    enqueued += resume_provisioning(tenant, producer=producer)
            cursor = page.next_cursor
            if not cursor:
                return enqueued


@shared_task(name="outbox.sweep_tenant", **RETRY)
def sweep_tenant() -> None:
    """Publish the tenant's due pending events and re-enqueue its stuck orders."""
    outcomes = outbox.relay_pending()
    recovered = services.recover_stuck_orders()
    if outcomes or recovered:
        logger.info("sweep: events %s, orders re-enqueued %d", outcomes, recovered)
