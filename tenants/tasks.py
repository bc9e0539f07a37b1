"""Celery jobs for tenants: silo (platinum) provisioning, off the request path.

``tenants.provision_silo`` is a platform job (``tenant_scoped = False``): the tenant it builds is not
active yet, so it carries no tenant header and the service opens ``system_context`` itself. It is
published under ``system_context`` too, so a request's own tenant never stamps its header.

Lost jobs are recovered by the outbox sweep (``saas.tasks.sweep`` calls ``resume_provisioning``
for every tenant in the directory). Duplicates are harmless: each attempt claims the tenant first,
and a tenant no longer ``provisioning`` is left alone.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from saas.celery import enqueue_after_commit, get_app
from saas.tenancy import system_context, tenant_context
from saas.tenancy.context import InvalidTenantId, validate_tenant_id
from saas.tenancy.store import DoesNotExist, StoreUnavailable

from . import services
from .errors import InvalidTransition, ProvisioningFailed, ProvisioningInProgress

get_app()  # the shared tasks below resolve through the current app: the project's (created on first use)

logger = logging.getLogger("tenants.tasks")


@shared_task(name="tenants.provision_silo", tenant_scoped=False, acks_late=True, autoretry_for=(StoreUnavailable,),
             retry_backoff=2, retry_backoff_max=60, max_retries=8)
def provision_silo(tenant_id: str, attempt: int | None = None, waits: int = 0) -> str:
    """Provision one silo tenant; returns its status afterwards (or why nothing was done).

    A table still being created does not hold the worker: the job ends ("waiting") and a follow-up
    job continues the same attempt ``TENANT_PROVISIONING_POLL_SECONDS`` later (an SQS delay on
    Lambda). After TENANT_PROVISIONING_MAX_WAITS follow-ups the claim is left to expire and the
    sweep starts a new attempt (at most TENANT_PROVISIONING_MAX_ATTEMPTS, then ``failed``)."""
    try:
        tenant = services.provision_silo_tenant(tenant_id=validate_tenant_id(tenant_id), continuing=attempt)
    except services.TableNotReady as not_ready:
        if waits >= settings.TENANT_PROVISIONING_MAX_WAITS:
            logger.warning("tenant %s: table still not ACTIVE after %d follow-ups; left to the sweep", tenant_id, waits)
            return "waiting"
        with system_context(reason=f"continue provisioning of tenant {tenant_id}"):  # no tenant header
            enqueue_after_commit(provision_silo, tenant_id, not_ready.attempt, waits + 1,
                                 countdown=settings.TENANT_PROVISIONING_POLL_SECONDS)
        return "waiting"
    except (InvalidTenantId, DoesNotExist):
        logger.error("provisioning skipped: no tenant %r", tenant_id)
        return "missing"
    except (InvalidTransition, ProvisioningInProgress) as exc:
        logger.info("provisioning of %s skipped: %s", tenant_id, exc.message)  # done, failed, or being done
        return "skipped"
    except ProvisioningFailed as exc:
        logger.warning("provisioning of %s failed: %s", tenant_id, exc.reason)  # recorded on the tenant
        return "failed"
    return tenant["status"]


def enqueue_provisioning(tenant_id: str) -> bool:
    """After ``start_silo_tenant``; never raises (a lost enqueue is the sweep's to recover)."""
    with system_context(reason=f"enqueue provisioning of tenant {tenant_id}"):  # no tenant header
        return enqueue_after_commit(provision_silo, tenant_id)


def resume_provisioning(tenant: dict, *, producer=None) -> int:
    """The sweep's hook, called for each tenant directory record: re-enqueue a tenant stuck in
    ``provisioning``. Returns the number of jobs enqueued (0 or 1)."""
    if not services.provisioning_is_stuck(tenant):
        return 0
    logger.warning("tenant %s provisioning since %s; re-enqueued", tenant["id"], tenant["updated_at"])
    with system_context(reason=f"sweep: re-enqueue provisioning of tenant {tenant['id']}"):
        provision_silo.apply_async(args=[tenant["id"]], producer=producer)
    return 1


# --- export -------------------------------------------------------------------------------------
@shared_task(name="exports.run", acks_late=True, autoretry_for=(StoreUnavailable,), retry_backoff=2,
             retry_backoff_max=60, max_retries=8, bulk=True)
def run_export(export_id: str, takeover: bool = False) -> str:
    """A tenant job (tenant from the headers): write the export archive. ``takeover``: sent by the
    sweep for a run it found stale (a broker's redelivery of a live run leaves that run alone).
    A bulk job (``saas.fairness``): behind other jobs, and one at a time per tenant on Redis."""
    from saas import export

    try:
        return export.run_export(export_id=export_id, takeover=takeover)["status"]
    except DoesNotExist:
        logger.error("export %s not found", export_id)
        return "missing"


def enqueue_export(export_id: str) -> bool:
    """Right after ``saas.export.request_export``, in the tenant's context (stamped into the headers).
    A lost enqueue is the exports sweep's to recover."""
    return enqueue_after_commit(run_export, export_id)


@shared_task(name="exports.sweep", tenant_scoped=False)
def sweep_exports() -> int:
    """Beat (and the Lambda schedule): re-enqueue open exports whose job was lost or whose worker died.
    Each job is published in its tenant's context, so its header carries the tenant."""
    from saas import export

    stale = export.stale_exports()
    for job in stale:
        logger.warning("export %s of %s %s (attempts %d) and untouched; re-enqueued", job["export_id"],
                       job["tenant_id"], job["status"], job["attempts"])
        with tenant_context(job["tenant_id"], tier=job["tier"] or "basic"):
            run_export.apply_async(args=[job["export_id"]], kwargs={"takeover": True})
    return len(stale)


# --- offboarding ----------------------------------------------------------------------------------
@shared_task(name="offboarding.run", tenant_scoped=False, acks_late=True, autoretry_for=(StoreUnavailable,),
             retry_backoff=2, retry_backoff_max=60, max_retries=8)
def run_offboarding(tenant_id: str) -> str:
    """A platform job (the tenant is deactivated, so no tenant header): advance its offboarding."""
    from . import offboarding

    try:
        return offboarding.run_offboarding(tenant_id=validate_tenant_id(tenant_id))["status"]
    except (InvalidTenantId, DoesNotExist):
        logger.error("offboarding skipped: nothing scheduled for %r", tenant_id)
        return "missing"


@shared_task(name="offboarding.sweep", tenant_scoped=False)
def sweep_offboardings() -> int:
    """Beat: enqueue offboardings whose grace period is over, or whose job was lost."""
    from . import offboarding

    due = offboarding.due()
    with system_context(reason="offboarding sweep"):
        for tenant_id in due:
            run_offboarding.apply_async(args=[tenant_id])
    return len(due)


def enqueue_offboarding(tenant_id: str) -> bool:
    with system_context(reason=f"enqueue offboarding of {tenant_id}"):  # no tenant header
        return enqueue_after_commit(run_offboarding, tenant_id)
