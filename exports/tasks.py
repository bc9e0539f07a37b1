"""The export jobs: ``exports.run`` writes an archive (a bulk job), ``exports.sweep`` (beat, and the
Lambda schedule) re-enqueues open exports whose job was lost. The names are what queued messages
and the beat schedule carry: they never change."""
from __future__ import annotations

import logging

from celery import shared_task

from saas.celery import enqueue_after_commit, get_app
from saas.tenancy import tenant_context
from saas.tenancy.store import DoesNotExist, StoreUnavailable

get_app()  # the shared tasks below resolve through the current app: the project's (created on first use)

logger = logging.getLogger("tenants.tasks")  # the name log queries know


@shared_task(name="exports.run", acks_late=True, autoretry_for=(StoreUnavailable,), retry_backoff=2,
             retry_backoff_max=60, max_retries=8, bulk=True)
def run_export(export_id: str, takeover: bool = False) -> str:
    """A tenant job (tenant from the headers): write the export archive. ``takeover``: sent by the
    sweep for a run it found stale (a broker's redelivery of a live run leaves that run alone).
    A bulk job (``saas.fairness``): behind other jobs, and one at a time per tenant on Redis."""
    from . import services

    try:
        return services.run_export(export_id=export_id, takeover=takeover)["status"]
    except DoesNotExist:
        logger.error("export %s not found", export_id)
        return "missing"


def enqueue_export(export_id: str) -> bool:
    """Right after ``exports.services.request_export``, in the tenant's context (stamped into the headers).
    A lost enqueue is the exports sweep's to recover."""
    return enqueue_after_commit(run_export, export_id)


@shared_task(name="exports.sweep", tenant_scoped=False)
def sweep_exports() -> int:
    """Beat (and the Lambda schedule): re-enqueue open exports whose job was lost or whose worker died.
    Each job is published in its tenant's context, so its header carries the tenant."""
    from . import services

    stale = services.stale_exports()
    for job in stale:
        logger.warning("export %s of %s %s (attempts %d) and untouched; re-enqueued", job["export_id"],
                       job["tenant_id"], job["status"], job["attempts"])
        with tenant_context(job["tenant_id"], tier=job["tier"] or "basic"):
            run_export.apply_async(args=[job["export_id"]], kwargs={"takeover": True})
    return len(stale)
