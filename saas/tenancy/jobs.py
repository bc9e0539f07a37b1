"""The tenant context travels with Celery jobs (docs/ARCHITECTURE.md, "The tenant boundary", rule 5).

* Publish: Celery's ``before_task_publish`` signal writes the current ``TenantContext`` into the
  message headers (``tenant_id``, ``user_id``). Values a caller passed under those names are
  dropped first, so the header only ever comes from a context, never from caller input.
* Run: ``TenantTask.__call__`` (the app's task class, so every task gets it) restores the context
  from the headers around the job and resets it afterwards:

  - no valid ``tenant_id`` header -> the job is rejected (logged, not retried);
  - the tenant is missing or not ``active`` -> the job is dropped (logged);
  - the tenant comes from the message and the tenant directory (read under ``system_context``,
    cached a few seconds), never from the acting user's *current* active tenant, which may have
    changed since the job was enqueued.

Platform jobs (the outbox sweep) declare ``tenant_scoped = False`` and open ``system_context``
themselves; they run with no tenant context.
"""
from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import Reject
from celery.signals import before_task_publish
from django.conf import settings

from saas import fairness

from .context import (
    InvalidTenantId,
    TenantContext,
    current_context,
    tenant_context,
    validate_tenant_id,
)
from .directory import tenant_directory
from .store import StoreUnavailable

logger = logging.getLogger("saas.tenancy.jobs")

TENANT_HEADER = "tenant_id"
USER_HEADER = "user_id"


@before_task_publish.connect(dispatch_uid="saas.tenancy.jobs.stamp_tenant_headers")
def stamp_tenant_headers(sender=None, headers=None, **kwargs) -> None:
    if headers is None:
        return
    headers.pop(TENANT_HEADER, None)
    headers.pop(USER_HEADER, None)
    ctx = current_context()
    if isinstance(ctx, TenantContext):
        headers[TENANT_HEADER] = ctx.tenant_id
        if ctx.user_id:
            headers[USER_HEADER] = ctx.user_id




class TenantTask(Task):
    """Base class of every task of the app (``Celery(task_cls=...)``)."""

    #: False for platform jobs, which run without a tenant and need no header.
    tenant_scoped = True
    #: True for heavy jobs (exports): published at the lowest priority and, on the Redis broker, at
    #: most ``BULK_JOBS_PER_TENANT`` of one tenant run at a time (``saas.fairness``).
    bulk = False

    def __call__(self, *args, **kwargs):
        request = self.request
        if not self.tenant_scoped or request.called_directly or request.is_eager:
            # A direct or eager call runs in the caller's context (the store fails closed without one).
            return super().__call__(*args, **kwargs)
        tenant_id = getattr(request, TENANT_HEADER, None)
        user_id = getattr(request, USER_HEADER, None)
        try:
            validate_tenant_id(tenant_id)
        except InvalidTenantId:
            logger.error("job rejected: %s[%s] has no valid tenant_id header", self.name, request.id)
            raise Reject("no tenant_id header", requeue=False) from None
        try:
            tenant = tenant_directory.get(tenant_id)
        except StoreUnavailable as exc:
            with tenant_context(tenant_id, user_id=user_id):  # so the retried message keeps its tenant
                raise self.retry(exc=exc, countdown=5) from exc
        if tenant is None or tenant.get("status") != "active":
            logger.warning("job dropped: %s[%s] tenant %s is %s", self.name, request.id, tenant_id,
                           "missing" if tenant is None else tenant.get("status"))
            raise Reject(f"tenant {tenant_id} is not active", requeue=False)
        with tenant_context(tenant_id, user_id=user_id, tier=tenant.get("tier", "basic")):
            if not self.bulk:
                return super().__call__(*args, **kwargs)
            try:
                slot = fairness.acquire_slot(self.app, tenant_id, request.id)
            except fairness.NoSlot:
                try:
                    delay = fairness.defer(self, request)
                except Exception as exc:  # not published: this delivery goes back to the queue
                    logger.warning("job %s[%s] of tenant %s could not be deferred; requeued", self.name,
                                   request.id, tenant_id)
                    raise Reject(f"deferral failed: {exc!r}", requeue=True) from exc
                logger.info("job deferred: %s[%s] tenant %s already runs %d bulk job(s); again in %.1fs",
                            self.name, request.id, tenant_id, settings.BULK_JOBS_PER_TENANT, delay)
                return None
            try:
                return super().__call__(*args, **kwargs)
            finally:
                if slot is not None:
                    slot.release()
