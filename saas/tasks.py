"""The core's Celery jobs: the outbox relay and the periodic sweep.

* ``outbox.relay`` (tenant job): publish the given events right after their commit
  (``saas.outbox.dispatch`` enqueues it).
* ``outbox.sweep`` (platform job, Celery beat ``CELERY_BEAT_SCHEDULE``): pages through the tenant
  directory under ``system_context`` and enqueues one ``outbox.sweep_tenant`` job per active tenant,
  inside that tenant's context (so its header carries the tenant); every other record goes to the
  apps' ``directory_sweeps`` (tenants: re-enqueue stuck silo provisioning).
* ``mail.send`` (platform job, the tenant id an argument): one email, see ``saas.mail``.
* ``outbox.sweep_tenant`` (tenant job): the tenant's due pending events, then the apps'
  ``tenant_sweeps`` (orders: re-enqueue stuck orders).

The apps' parts are registered in ``saas.hooks``. Every job is idempotent (claimed events,
conditional transitions), as ``acks_late`` redelivers a job whose worker died.
"""
from __future__ import annotations

import logging

from celery import shared_task

from saas import outbox
from saas.celery import get_app
from saas.hooks import hooks
from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import StoreUnavailable

get_app()  # the shared tasks below resolve through the current app: the project's (created on first use)

logger = logging.getLogger("saas.tasks")

RETRY = {"autoretry_for": (StoreUnavailable,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 8}


@shared_task(name="outbox.relay", **RETRY)
def relay_events(event_ids: list[str]) -> None:
    outcomes = outbox.relay(event_ids)
    logger.info("outbox relay: %s", outcomes)


@shared_task(name="outbox.sweep", tenant_scoped=False)
def sweep() -> int:
    """Fan out one sweep job per active tenant; hand the other tenants to the directory sweeps.
    Platform job: no tenant header, system context."""
    tenant_pages = hooks.require("tenant_pages")
    enqueued, cursor = 0, None
    with sweep.app.producer_or_acquire() as producer:  # one broker connection for the whole fan-out
        while True:
            with system_context(reason="outbox sweep: list active tenants"):
                page = tenant_pages(cursor)
            for tenant in page.items:
                if tenant.get("status") == "active":
                    with tenant_context(tenant["id"]):  # the job's tenant header comes from here
                        sweep_tenant.apply_async(producer=producer)
                        enqueued += 1
                else:
                    enqueued += sum(resume(tenant, producer=producer) for resume in hooks.directory_sweeps)
            cursor = page.next_cursor
            if not cursor:
                return enqueued


@shared_task(name="outbox.sweep_tenant", **RETRY)
def sweep_tenant() -> None:
    """Publish the tenant's due pending events, then run the apps' per-tenant sweeps."""
    outcomes = outbox.relay_pending()
    recovered = {getattr(hook, "__qualname__", repr(hook)): hook() for hook in hooks.tenant_sweeps}
    if outcomes or any(recovered.values()):
        logger.info("sweep: events %s, recovered %s", outcomes, recovered)


@shared_task(name="mail.send", tenant_scoped=False, acks_late=True, autoretry_for=(Exception,), retry_backoff=5,
             retry_backoff_max=300, max_retries=6)
def send_mail(tenant_id: str, to: list[str], subject: str, body: str) -> None:
    """Send one email about ``tenant_id`` (``saas.mail.send_later``); SES errors are retried with backoff.
    Platform job: the tenant may no longer be active (a deletion notice), so the id is an argument."""
    from saas import mail

    mail.send_now(tenant_id=tenant_id, to=to, subject=subject, body=body)
