"""Onboarding: self-service registration, pooled tenants at once, silo (platinum) tenants built by a job."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Sequence

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

import audit as audit_trail
from saas import idempotency as idempotency_records
from saas import limits
from saas.celery import broker, enqueue_after_commit
from saas.errors import ServiceUnavailable
from saas.idempotency import Claim
from saas.tenancy import system_context, tables
from saas.tenancy.store import (
    DoesNotExist,
    StoreError,
    TransactionCancelled,
    UnitOfWork,
    VersionConflict,
    now_iso,
    router,
)

from .. import active_tenant, notifications
from ..errors import ConcurrentChange, InvalidTransition, ProvisioningFailed, ProvisioningInProgress
from ..models import (
    POOLED_TIERS,
    SILO_TIERS,
    TENANT_DIRECTORY,
    CreationQuotaRecord,
    Tenant,
    TenantCreationQuota,
    TenantRegistration,
)
from .records import (
    get_tenant,
    membership_item_ops,
    membership_ops,
    new_tenant_id,
    replace_tenant,
    silo_table_name,
    tenant_audit,
)

logger = logging.getLogger("tenants")


# How long GET /me keeps showing a registration that failed (its item expires through the table's TTL).
REGISTRATION_RETENTION_SECONDS = 7 * 24 * 3600


def request_tenant(*, name: str, tier: str, owner_id: str, owner_email: str,
                   idempotency: Claim | None = None) -> dict:
    """Self-service registration (POST /tenants). Pooled tiers are created at once (``active``).
    A silo tier is recorded as ``provisioning`` and built by a worker (``tenants.provision_silo``),
    because creating its table can outlast an API request; until it is ``active`` (or ``failed``, with
    a reason) its owner sees it under ``pending_tenants`` in GET /me.

    The broker is checked first: when it is down nothing is written (ServiceUnavailable ``broker``).
    An enqueue lost after the write is recovered by the outbox sweep (``provisioning_is_stuck``).
    ``idempotency``: the key's record (user-scoped) joins the creating transaction, so a retried
    request is answered from it and takes no second creation slot (``saas.idempotency``)."""
    quota = _creation_quota_op(owner_id, tier)
    if tier in POOLED_TIERS:
        return create_pooled_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email,
                                    extra_ops=[quota], creation_quota=True, idempotency=idempotency)
    if tier not in SILO_TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    # A silo tenant costs a table and a high rate: nothing is provisioned until a platform admin
    # approves it (approve_silo_tenant); the owner sees it as ``pending_approval`` in GET /me.
    return start_silo_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email,
                             status="pending_approval", extra_ops=[quota], creation_quota=True,
                             idempotency=idempotency)


def _creation_quota_op(owner_id: str, tier: str) -> dict:
    """The transaction item that counts one more self-service tenant for ``owner_id``; refused with
    PlanLimitExceeded at ``TENANTS_PER_USER`` (one cap per user, whatever ``tier`` is requested).
    Version-guarded, so two concurrent registrations cannot both take the last slot."""
    limit = settings.TENANTS_PER_USER
    with system_context(reason=f"tenant creation quota of {owner_id}"):
        try:
            quota = CreationQuotaRecord.from_item(TenantCreationQuota.objects.get(owner_id, "created", consistent=True))
        except DoesNotExist:
            quota = CreationQuotaRecord()
        if limit is not None and quota.used >= limit:
            raise limits.PlanLimitExceeded("tenants_per_user", maximum=limit, tier=tier)
        op, _ = TenantCreationQuota.objects.put_op(owner_id, "created", expected_version=quota.version,
                                                   used=quota.used + 1)
    return op


def release_creation_slot_ops(owner_id: str) -> list[dict]:
    """The owner's creation quota one lower (version-guarded), for the transaction that ends a
    tenant counted in it — rejected, failed or deleted —, which also clears the tenant's
    ``creation_quota`` flag, so a slot is given back once. Empty when there is nothing to give back."""
    with system_context(reason=f"give back a tenant creation slot of {owner_id}"):
        try:
            quota = CreationQuotaRecord.from_item(TenantCreationQuota.objects.get(owner_id, "created", consistent=True))
        except DoesNotExist:
            return []
        if quota.used <= 0:
            return []
        op, _ = TenantCreationQuota.objects.put_op(owner_id, "created", expected_version=quota.version,
                                                   used=quota.used - 1)
    return [op]


def _end_counted_tenant(tenant: dict, *, reason: str, audit=None, **changes) -> dict:
    """``replace_tenant`` for a tenant that will never be usable (rejected, failed): the owner's
    creation slot comes back in the same transaction, when the tenant was counted in it."""
    extra_ops = release_creation_slot_ops(tenant["created_by"]) if tenant.get("creation_quota") else []
    return replace_tenant(tenant, reason=reason, audit=audit, extra_ops=extra_ops,
                          **({"creation_quota": False} if extra_ops else {}), **changes)


def approve_silo_tenant(*, tenant_id: str, actor_id: str) -> dict:
    """A platform admin approves a ``pending_approval`` silo tenant: it becomes ``provisioning`` and
    the provisioning job is enqueued (503 ``broker``, nothing changed, when the queue is down)."""
    tenant = get_tenant(tenant_id)
    if tenant.get("status") != "pending_approval":
        raise InvalidTransition(f"A {tenant.get('status')} tenant cannot be approved.")
    if not broker.reachable():
        raise ServiceUnavailable("broker", "The provisioning queue is unavailable; approve again shortly.")
    updated = replace_tenant(tenant, reason=f"platform admin {actor_id}: approve {tenant_id}", status="provisioning",
                             approved_by=actor_id, approved_at=now_iso(),
                             audit=audit_trail.platform_entry("tenant.approved", "tenant", tenant_id,
                                                              tenant_id=tenant_id,
                                                              changes={"status": ["pending_approval", "provisioning"]}))
    with system_context(reason=f"enqueue provisioning of tenant {tenant_id}"):  # a platform job: no tenant header
        enqueue_after_commit("tenants.provision_silo", tenant_id)  # a lost enqueue: the sweep recovers it
    logger.info("silo tenant %s approved by %s", tenant_id, actor_id)
    notifications.notify_tenant_approved(tenant_id=tenant_id)
    return updated


def reject_silo_tenant(*, tenant_id: str, actor_id: str) -> dict:
    tenant = get_tenant(tenant_id)
    if tenant.get("status") != "pending_approval":
        raise InvalidTransition(f"A {tenant.get('status')} tenant cannot be rejected.")
    updated = _end_counted_tenant(tenant, reason=f"platform admin {actor_id}: reject {tenant_id}", status="rejected",
                             failure_reason="The request was not approved by the platform team.",
                             audit=audit_trail.platform_entry("tenant.rejected", "tenant", tenant_id,
                                                              tenant_id=tenant_id,
                                                              changes={"status": ["pending_approval", "rejected"]}))
    logger.info("silo tenant %s rejected by %s", tenant_id, actor_id)
    return updated


def register_tenant(*, name: str, tier: str, owner_id: str, owner_email: str) -> dict:
    """Registration that waits for the tenant to be usable, silo provisioning included: for operators
    (``manage.py create_tenant``, ``seed_demo``). The API uses ``request_tenant``."""
    if tier in POOLED_TIERS:
        return create_pooled_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email)
    if tier in SILO_TIERS:
        tenant = start_silo_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email)
        attempt = None
        while True:  # an operator's command has no function timeout: wait for the table here
            try:
                return provision_silo_tenant(tenant_id=tenant["id"], continuing=attempt)
            except TableNotReady as not_ready:
                attempt = not_ready.attempt
    raise ValueError(f"unknown tier {tier!r}")


def create_pooled_tenant(*, name: str, tier: str, owner_id: str, owner_email: str,
                         extra_ops: Sequence[dict] = (), creation_quota: bool = False,
                         idempotency: Claim | None = None) -> dict:
    """Tenant record + the owner's admin membership, all in one transaction. ``creation_quota``: the
    owner's ``TenantCreationQuota`` counts this tenant (offboarding gives the slot back)."""
    if tier not in POOLED_TIERS:
        raise ValueError(f"tier {tier!r} is not pooled")
    tenant_id = new_tenant_id()
    with system_context(reason=f"create tenant {tenant_id}"):
        tenant_op, tenant = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, name=name, tier=tier, status="active", deployment="pooled",
            created_by=owner_id, owner_email=owner_email, **({"creation_quota": True} if creation_quota else {}))
    # the owner takes the first member slot (counted by membership_ops)
    tx = UnitOfWork()
    tx.put("tenant", tenant_op)
    tx.extend("membership", membership_ops(tenant_id=tenant_id, user_id=owner_id, email=owner_email, role="admin"))
    tx.extend("extra", extra_ops)
    idempotency_records.join(tx, idempotency, tenant)
    tx.join(audit_trail.records(
        tenant_audit(tenant, "tenant.created", changes={"name": [None, name], "tier": [None, tier]})))
    with system_context(reason=f"create tenant {tenant_id}"):
        try:
            tx.commit()
        except TransactionCancelled as exc:
            raise ConcurrentChange("Another registration of yours was saved at the same time; try again.") from exc
    active_tenant.cache.invalidate_user(owner_id)
    logger.info("tenant created: %s tier=%s owner=%s", tenant_id, tier, owner_id)
    return tenant


def start_silo_tenant(*, name: str, tier: str = "platinum", owner_id: str, owner_email: str,
                      status: str = "provisioning", extra_ops: Sequence[dict] = (), creation_quota: bool = False,
                      idempotency: Claim | None = None) -> dict:
    """Record a silo tenant as ``provisioning`` (no members, no route, no table yet), together with
    the owner's registration item (so GET /me shows it), in one transaction."""
    if tier not in SILO_TIERS:
        raise ValueError(f"tier {tier!r} is not a silo tier")
    tenant_id = new_tenant_id()
    with system_context(reason=f"start silo tenant {tenant_id}"):
        tenant_op, tenant = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, name=name, tier=tier, status=status, deployment="silo",
            table=silo_table_name(tenant_id), created_by=owner_id, owner_email=owner_email, provisioning_attempts=0,
            **({"creation_quota": True} if creation_quota else {}))
        registration_op, _ = TenantRegistration.objects.put_op(
            owner_id, tenant_id, expires_at=int(time.time()) + REGISTRATION_RETENTION_SECONDS)
        tx = UnitOfWork()
        tx.put("tenant", tenant_op)
        tx.put("registration", registration_op)
        tx.extend("extra", extra_ops)
        idempotency_records.join(tx, idempotency, tenant)
        tx.join(audit_trail.records(audit_trail.platform_entry(
            "tenant.registered", "tenant", tenant_id, tenant_id=tenant_id,
            changes={"name": [None, name], "tier": [None, tier]})))
        tx.commit()
    logger.info("silo tenant %s: provisioning table %s", tenant_id, tenant["table"])
    return tenant


def provisioning_is_stuck(tenant: dict) -> bool:
    """A ``provisioning`` tenant untouched for TENANT_PROVISIONING_RETRY_SECONDS: its job was lost or
    its worker died (an attempt's claim refreshes ``updated_at``). The sweep re-enqueues it."""
    if tenant.get("status") != "provisioning":
        return False
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=settings.TENANT_PROVISIONING_RETRY_SECONDS)
    return tenant["updated_at"] <= cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TableNotReady(Exception):
    """The silo table is still being created: the attempt keeps its claim and continues later
    (``continuing=attempt``), in a follow-up job, instead of waiting out a worker's timeout."""

    def __init__(self, *, tenant_id: str, attempt: int):
        super().__init__(f"table of tenant {tenant_id} is not ACTIVE yet (attempt {attempt})")
        self.tenant_id, self.attempt = tenant_id, attempt


def provision_silo_tenant(*, tenant_id: str, continuing: int | None = None) -> dict:
    """Build a ``provisioning`` silo tenant (the ``tenants.provision_silo`` job's body): claim it,
    create the silo table, then in ONE transaction: route -> table, status active, the owner's admin
    membership, the owner's registration item gone. On failure the table is deleted and the tenant
    is marked ``failed`` with a reason; no route and no membership exist, so nothing half-made is
    left behind.

    Creating a table takes seconds to minutes; an attempt waits at most
    TENANT_PROVISIONING_WAIT_SECONDS for it (well inside a worker's timeout), then raises
    TableNotReady and is continued later with ``continuing=<its attempt number>``.

    Raises InvalidTransition (no longer provisioning: done or failed), ProvisioningInProgress
    (another attempt holds it), TableNotReady or ProvisioningFailed."""
    tenant = _claim_provisioning(tenant_id, continuing=continuing)
    table = tenant["table"]
    ready = False
    try:
        tables.ensure_table(table, wait=False)  # idempotent: a retry after a dead worker finds its table
        ready = tables.wait_until_active(table, timeout=settings.TENANT_PROVISIONING_WAIT_SECONDS)
        if not ready:
            logger.info("silo tenant %s: table %s not ACTIVE yet; continued later", tenant_id, table)
    except Exception as exc:
        raise _attempt_failed(tenant, exc) from exc
    if not ready:
        raise TableNotReady(tenant_id=tenant_id, attempt=tenant["provisioning_attempts"])
    try:
        with system_context(reason=f"activate silo tenant {tenant_id}"):
            activate_op, _ = Tenant.objects.put_op(TENANT_DIRECTORY, tenant_id, expected_version=tenant["version"],
                                                   **{**tenant, "status": "active"})
            tx = UnitOfWork()
            tx.put("tenant", activate_op)
            tx.delete("registration", TenantRegistration.objects.delete_op(tenant["created_by"], tenant_id,
                                                                           missing_ok=True))  # gone either way
            tx.put("route", router.route_op(tenant_id, table))
            tx.extend("membership", membership_item_ops(tenant_id=tenant_id, user_id=tenant["created_by"],
                                                        email=tenant["owner_email"], role="admin", member_table=table))
            tx.join(audit_trail.records(audit_trail.platform_entry("tenant.provisioned", "tenant", tenant_id,
                                                                   tenant_id=tenant_id, detail={"table": table})))
            tx.commit()
    except Exception as exc:  # a cleanup boundary: whatever failed, leave nothing half-made
        router.forget(tenant_id)
        if _attempt_outcome(tenant) == "committed":  # the commit happened but its answer was lost
            return _activated(tenant)
        raise _attempt_failed(tenant, exc) from exc
    router.forget(tenant_id)  # this process looked the route up (and cached "pooled") while building ops
    return _activated(tenant)


def _attempt_failed(tenant: dict, exc: Exception) -> Exception:
    """What a failed attempt raises, after cleaning up what is still its own."""
    outcome = _attempt_outcome(tenant)
    if outcome == "superseded":  # a newer attempt owns the tenant (and the table) now
        return ProvisioningInProgress()
    if outcome in ("unknown", "committed"):  # unreachable directory: touch nothing; the sweep retries
        return exc
    reason = _failure_reason(exc)
    logger.error("silo tenant %s failed: %s", tenant["id"], reason, exc_info=exc)
    return _fail_provisioning(tenant, reason=reason)


def _claim_provisioning(tenant_id: str, *, continuing: int | None = None) -> dict:
    """Take the tenant for one attempt: a version-guarded write, so duplicate deliveries of the job
    (an ``acks_late`` redelivery, a sweep's re-enqueue) run it once. The claim holds until the tenant
    counts as stuck again; after TENANT_PROVISIONING_MAX_ATTEMPTS the tenant is given up (``failed``)."""
    tenant = get_tenant(tenant_id)
    if tenant.get("status") != "provisioning":
        raise InvalidTransition(f"Tenant {tenant_id} is {tenant.get('status')}, not provisioning.")
    attempts = tenant.get("provisioning_attempts", 0)
    if continuing is not None and continuing == attempts:
        # The same attempt, back after waiting for its table: renew its claim (version-guarded, so
        # a duplicate of the follow-up job is the one that loses).
        try:
            return replace_tenant(tenant, reason=f"continue provisioning tenant {tenant_id}",
                                  provisioning_attempts=attempts)
        except VersionConflict:
            raise ProvisioningInProgress() from None
    if attempts and not provisioning_is_stuck(tenant):
        raise ProvisioningInProgress()
    if attempts >= settings.TENANT_PROVISIONING_MAX_ATTEMPTS:
        raise _fail_provisioning(tenant, reason=f"gave up after {attempts} attempts that did not finish")
    try:
        return replace_tenant(tenant, reason=f"provision silo tenant {tenant_id}", provisioning_attempts=attempts + 1)
    except VersionConflict:
        raise ProvisioningInProgress() from None


def _attempt_outcome(claimed: dict) -> str:
    """After a failed attempt: did its activation commit anyway, has a newer attempt taken the tenant
    over, is the tenant still this attempt's to clean up, or is the directory unreachable?"""
    try:
        current = get_tenant(claimed["id"])
    except StoreError:
        return "unknown"
    if current.get("status") == "active":
        return "committed"
    return "ours" if current.get("version") == claimed["version"] else "superseded"


def _fail_provisioning(tenant: dict, *, reason: str) -> ProvisioningFailed:
    """Drop the table and mark the tenant ``failed``; returns the error to raise."""
    _discard_table(tenant["table"])
    try:
        _end_counted_tenant(tenant, reason=f"mark tenant {tenant['id']} failed", status="failed",
                            failure_reason=reason, table=None)
    except StoreError:
        logger.exception("could not mark tenant %s failed; it stays 'provisioning'", tenant["id"])
    active_tenant.cache.invalidate_tenant(tenant["id"])
    return ProvisioningFailed(tenant_id=tenant["id"], reason=reason)


def _activated(tenant: dict) -> dict:
    active_tenant.cache.invalidate_user(tenant["created_by"])
    active_tenant.cache.invalidate_tenant(tenant["id"])
    logger.info("silo tenant %s active in %s", tenant["id"], tenant["table"])
    return get_tenant(tenant["id"])


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".strip()[:500]
    if isinstance(exc, TransactionCancelled):
        return str(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _discard_table(table: str) -> None:
    try:
        tables.delete_table(table)
    except (ClientError, BotoCoreError):
        logger.exception("could not delete silo table %s", table)
