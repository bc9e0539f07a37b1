"""Offboarding: a tenant leaves and every item of it is deleted, provably.

``schedule_offboarding`` (a platform admin, or the tenant's owner who types the tenant's name):
in one transaction the tenant is deactivated (its users lose access and its jobs are dropped at
once), an ``Offboarding`` record is created in the platform partition, and both audit trails record
it. Then the platform job ``offboarding.run`` (also re-enqueued by the sweep) moves the record
through its phases, each of which can be interrupted and rerun:

1. ``exporting`` — a final export of the tenant (``exports``), kept until deletion;
2. ``waiting``   — until ``delete_after`` (now + ``OFFBOARDING_GRACE_SECONDS``);
3. ``deleting``  — what each app keeps outside the tenant's partitions (``saas.hooks``
   ``tenant_teardowns``: webhooks' SNS subscriptions and topics); the memberships on every user (and
   their active tenant if it was this one); every item of every entity partition the store knows
   (``TENANT_MODELS``: ``TENANT#<t>#<ENTITY>``, queried page by page), each page deleted in one
   transaction *together with* the count of what it deleted on the record, so counts are exact
   across restarts; the S3 prefix; the silo table (platinum); the routing entry; the in-process
   caches (each app forgets its own, through the same hooks); finally the tenant directory item;
4. ``completed`` — the deletion receipt (counts per entity type, start and end) is written to the
   platform audit trail in the same transaction that completes the record; the same transaction
   gives the owner's tenant-creation slot back (``TenantCreationQuota``, only for a tenant that was
   counted in it), so a rerun or a duplicate job can never give it back twice.

The record (tenant id, name, counts) and the receipt are all that is left of the tenant.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from boto3.dynamodb.conditions import Attr
from django.conf import settings

import audit
import files
from saas.hooks import hooks
from saas.tenancy import system_context, tables, tenant_context
from saas.tenancy.directory import tenant_directory
from saas.tenancy.store import (
    TENANT_MODELS,
    DoesNotExist,
    PlatformModel,
    TransactionCancelled,
    UnitOfWork,
    now_iso,
    router,
    transact_write,
)

from . import notifications
from .errors import ConfirmationMismatch, OffboardingError, OwnerRequired
from .models import (
    TENANT_DIRECTORY,
    Member,
    Tenant,
    TenantRegistration,
    UserMembership,
    UserProfile,
)
from .services.onboarding import release_creation_slot_ops

logger = logging.getLogger("tenants.offboarding")

OFFBOARDINGS = "ALL"
SCHEDULED, EXPORTING, WAITING, DELETING, COMPLETED = "scheduled", "exporting", "waiting", "deleting", "completed"
PAGE = 90  # items per deleting transaction (+ the record's counter update; DynamoDB allows 100)
QUOTA_ATTEMPTS = 5  # completions retried when the owner's creation quota changed meanwhile


class Offboarding(PlatformModel):
    entity = "OFFBOARDING"  # partition ALL, id = tenant id


class Interrupted(Exception):
    """Raised by a test hook to stop the job the way a dying worker would."""


def get_offboarding(tenant_id: str) -> dict:
    with system_context(reason=f"read offboarding of {tenant_id}"):
        return Offboarding.objects.get(OFFBOARDINGS, tenant_id, consistent=True)


def list_offboardings(*, cursor: str | None = None, limit: int = 100):
    with system_context(reason="list offboardings"):
        return Offboarding.objects.query(OFFBOARDINGS, cursor=cursor, limit=limit)


# --- scheduling -----------------------------------------------------------------------------------
def schedule_offboarding(*, tenant_id: str, actor_id: str, confirm_name: str | None = None,
                         as_owner: bool = False) -> dict:
    """Deactivate the tenant now and schedule its deletion after the grace period.

    ``as_owner``: the caller is the tenant's owner acting on their own tenant; they must type the
    tenant's name exactly (``confirm_name``). Platform admins need no confirmation."""
    with system_context(reason=f"offboarding of {tenant_id} requested by {actor_id}"):
        tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        if as_owner:
            if tenant.get("created_by") != actor_id:
                raise OwnerRequired()
            if confirm_name != tenant.get("name"):
                raise ConfirmationMismatch(fields={"confirm_name": ["Does not match the tenant's name."]})
        if tenant.get("status") not in ("active", "deactivated"):
            raise OffboardingError(f"A {tenant.get('status')} tenant cannot be offboarded.")
        grace = float(settings.OFFBOARDING_GRACE_SECONDS)
        delete_after = int(time.time() + grace)
        tenant_op, _ = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, expected_version=int(tenant["version"]),
            **{**tenant, "status": "deactivated", "status_changed_at": now_iso(), "status_changed_by": actor_id,
               "offboarding": True})
        record_op, record = Offboarding.objects.put_op(
            OFFBOARDINGS, tenant_id, tenant_id=tenant_id, tenant_name=tenant.get("name"), tier=tenant.get("tier"),
            deployment=tenant.get("deployment", "pooled"), table=tenant.get("table"), status=SCHEDULED,
            owner_id=tenant.get("created_by"), requested_by=actor_id, requested_at=now_iso(), delete_after=delete_after,
            previous_status=tenant.get("status"),
            grace_seconds=int(grace), creation_quota=bool(tenant.get("creation_quota")))
        detail = {"delete_after": audit.iso(delete_after), "by_owner": as_owner}
        entries = [audit.platform_entry("tenant.offboarding_scheduled", "tenant", tenant_id, tenant_id=tenant_id,
                                        changes={"status": [tenant.get("status"), "deactivated"]}, detail=detail),
                   audit.tenant_entry_for(tenant_id, "tenant.offboarding_scheduled", "tenant", tenant_id,
                                          tier=tenant.get("tier"), changes={"status": [tenant.get("status"), "deactivated"]},
                                          detail=detail)]
        tx = UnitOfWork()
        tx.put("tenant", tenant_op)
        tx.put("offboarding", record_op)
        tx.join(audit.records(entries))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if exc.failed("offboarding"):
                raise OffboardingError("This tenant is already being offboarded.", "already_offboarding") from exc
            raise OffboardingError("The tenant was changed meanwhile; try again.", "concurrent_change") from exc
    _forget_caches(tenant_id, users=())
    logger.info("offboarding of %s scheduled by %s; deletion after %s", tenant_id, actor_id, audit.iso(delete_after))
    notifications.notify_deletion_scheduled(tenant_id=tenant_id, delete_after=delete_after)
    return record


def cancel_offboarding(*, tenant_id: str, actor_id: str, as_owner: bool = False) -> dict:
    """Undo a scheduled deletion during the grace period: the tenant gets its status back (active,
    or deactivated if it was), the record goes, both trails record it, the owner is emailed.

    ``as_owner``: only the tenant's owner (platform admins need no such check). Refused once the
    grace period is over or deletion has started: the record's delete is conditioned on that, in
    the same transaction as the tenant's restore, so it can never race the job into a half-deleted
    tenant. A final export already made stays, like any other export."""
    now = int(time.time())
    with system_context(reason=f"cancel offboarding of {tenant_id} by {actor_id}"):
        try:
            record = Offboarding.objects.get(OFFBOARDINGS, tenant_id, consistent=True)
            tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        except DoesNotExist:
            raise OffboardingError("This tenant is not scheduled for deletion.", "not_offboarding") from None
        if as_owner and tenant.get("created_by") != actor_id:
            raise OwnerRequired()
        if record["status"] not in (SCHEDULED, EXPORTING, WAITING) or now >= int(record["delete_after"]):
            raise OffboardingError("Deletion has started (or its grace period is over); it can no longer be "
                                   "cancelled.", "offboarding_started")
        restored = {k: v for k, v in tenant.items() if k != "offboarding"}
        tenant_op, _ = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, expected_version=int(tenant["version"]),
            **{**restored, "status": record.get("previous_status") or "active", "status_changed_at": now_iso(),
               "status_changed_by": actor_id})
        record_op = Offboarding.objects.delete_op(
            OFFBOARDINGS, tenant_id,
            condition=Attr("status").is_in([SCHEDULED, EXPORTING, WAITING]) & Attr("delete_after").gt(now))
        detail = {"by_owner": as_owner}
        changes = {"status": ["deactivated", record.get("previous_status") or "active"]}
        entries = [audit.platform_entry("tenant.offboarding_cancelled", "tenant", tenant_id, tenant_id=tenant_id,
                                        changes=changes, detail=detail),
                   audit.tenant_entry_for(tenant_id, "tenant.offboarding_cancelled", "tenant", tenant_id,
                                          tier=tenant.get("tier"), changes=changes, detail=detail)]
        tx = UnitOfWork()
        tx.put("tenant", tenant_op)
        tx.delete("offboarding", record_op)
        tx.join(audit.records(entries))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            raise OffboardingError("Deletion started meanwhile; it can no longer be cancelled.",
                                   "offboarding_started") from exc
    _forget_caches(tenant_id, users=())
    logger.info("offboarding of %s cancelled by %s", tenant_id, actor_id)
    notifications.notify_deletion_cancelled(tenant_id=tenant_id)
    return {**restored, "status": record.get("previous_status") or "active"}


# --- the job --------------------------------------------------------------------------------------
def run_offboarding(*, tenant_id: str, now: float | None = None, interrupt_after_pages: int | None = None) -> dict:
    """Advance one tenant's offboarding as far as it can go now; returns the record.
    ``interrupt_after_pages`` (tests, benches): raise ``Interrupted`` after that many deleted pages."""
    now = time.time() if now is None else now
    with system_context(reason=f"offboarding job for {tenant_id}"):
        record = Offboarding.objects.get(OFFBOARDINGS, tenant_id, consistent=True)
        if record["status"] == COMPLETED:
            return record
        if record["status"] in (SCHEDULED, EXPORTING):
            record = _final_export(record)
        if now < int(record["delete_after"]):
            return record
        if record["status"] != DELETING:
            record = _set(record, status=DELETING, deletion_started_at=now_iso())
        _delete_everything(record, interrupt_after_pages=interrupt_after_pages)
        return _complete(tenant_id)


def _set(record: dict, **changes: Any) -> dict:
    return Offboarding.objects.put(OFFBOARDINGS, record["id"], expected_version=int(record["version"]),
                                   **{**record, **changes})


def _final_export(record: dict) -> dict:
    from exports import models as export_models
    from exports import services as export_services

    tenant_id = record["id"]
    if record["status"] == SCHEDULED or not record.get("final_export_id"):
        with tenant_context(tenant_id, tier=record.get("tier") or "basic"):
            job = export_services.request_export(final=True, reason="offboarding")
        record = _set(record, status=EXPORTING, final_export_id=job["id"])
    with tenant_context(tenant_id, tier=record.get("tier") or "basic"):
        job = export_services.run_export(export_id=record["final_export_id"])
    if job["status"] != export_models.COMPLETED:  # another run of this job is making it: never delete without it
        raise OffboardingError(f"final export {job['id']} is {job['status']}", "final_export_pending")
    record = _set(record, status=WAITING, final_export_size=int(job.get("size") or 0))
    notifications.notify_final_export_ready(tenant_id=tenant_id, delete_after=int(record["delete_after"]))
    return record


def _count_op(tenant_id: str, deltas: dict[str, int], **fields: Any) -> dict:
    return Offboarding.objects.add_op(OFFBOARDINGS, tenant_id, deltas={f"deleted_{k}": v for k, v in deltas.items()},
                                      **fields)


def _delete_everything(record: dict, *, interrupt_after_pages: int | None) -> None:
    tenant_id = record["id"]
    pages = [0]

    def tick() -> None:
        pages[0] += 1
        if interrupt_after_pages is not None and pages[0] >= interrupt_after_pages:
            raise Interrupted(f"stopped after {pages[0]} pages")

    _delete_app_data(tenant_id)
    _delete_invitations(tenant_id, tick)
    users = _delete_memberships(tenant_id, tick)
    for entity in sorted(TENANT_MODELS):
        _delete_partition(tenant_id, entity, tick)
    removed = files.delete_prefix(tenant_id)
    if removed:
        transact_write([_count_op(tenant_id, {"s3_objects": removed})])
    if record.get("deployment") == "silo" and record.get("table"):
        tables.delete_table(record["table"])
        transact_write([_count_op(tenant_id, {"silo_tables": 1})])
    _delete_open_exports(tenant_id)
    if router.stored_table(tenant_id) is not None:
        transact_write([router.unroute_op(tenant_id), _count_op(tenant_id, {"routing_entries": 1})])
    if record.get("owner_id"):
        _delete_platform_item(TenantRegistration, record["owner_id"], tenant_id, "registrations", tenant_id)
    _forget_caches(tenant_id, users=users)


def _delete_app_data(tenant_id: str) -> None:
    """What each app keeps outside the tenant's partitions (``hooks.tenant_teardowns``), counted."""
    for teardown in hooks.tenant_teardowns:
        counts = teardown.delete(tenant_id) if teardown.delete else {}
        if any(counts.values()):
            transact_write([_count_op(tenant_id, counts)])


def _delete_invitations(tenant_id: str, tick) -> None:
    """Pending invitations: the tenant's item and the invitee's inbox copy (a platform item), counted."""
    from .models import Invitation
    from .services.records import invitation_removal_ops

    with tenant_context(tenant_id):
        pending = list(Invitation.objects.every())
    for invitation in pending:
        transact_write([*invitation_removal_ops(tenant_id, invitation), _count_op(tenant_id, {"invitations": 1})])
        tick()


def _delete_memberships(tenant_id: str, tick) -> list[str]:
    """Each member: the user's membership item, the tenant's member item, and the user's active
    tenant if it pointed here — one transaction per member, counted in it."""
    users: list[str] = []
    with tenant_context(tenant_id):
        members = list(Member.objects.every())
    for member in members:
        user_id = member["id"]
        users.append(user_id)
        with tenant_context(tenant_id):
            ops = [Member.objects.delete_op(user_id, expected_version=int(member["version"]))]
        try:
            UserMembership.objects.get(user_id, tenant_id, consistent=True)
            ops.append(UserMembership.objects.delete_op(user_id, tenant_id))
        except DoesNotExist:
            pass
        try:
            profile = UserProfile.objects.get(user_id, "profile", consistent=True)
        except DoesNotExist:
            profile = None
        if profile and profile.get("active_tenant_id") == tenant_id:
            op, _ = UserProfile.objects.put_op(user_id, "profile", expected_version=int(profile["version"]),
                                               **{**profile, "active_tenant_id": None})
            ops.append(op)
        ops.append(_count_op(tenant_id, {"memberships": 1}))
        transact_write(ops)
        tick()
    return users


def _delete_partition(tenant_id: str, entity: str, tick) -> None:
    """Delete every item of ``TENANT#<tenant>#<entity>``, a page per transaction with its count."""
    model = TENANT_MODELS[entity]
    while True:
        with tenant_context(tenant_id):
            page = model.objects.query(limit=PAGE)
            if not page.items:
                return
            ops = [model.objects.delete_op(item["id"], expected_version=int(item["version"])) for item in page.items]
        ops.append(_count_op(tenant_id, {entity.lower(): len(page.items)}))
        try:
            transact_write(ops)
        except TransactionCancelled:
            continue  # an item changed under us (a relay marked an event sent): read the page again
        tick()


def _delete_open_exports(tenant_id: str) -> None:
    """The exports sweep's markers (``exports.models.OpenExport``) of the tenant's unfinished exports."""
    from boto3.dynamodb.conditions import Attr

    from exports.models import OPEN, OpenExport

    cursor = None
    while True:
        page = OpenExport.objects.query(OPEN, cursor=cursor, limit=100, filter=Attr("tenant_id").eq(tenant_id))
        for marker in page.items:
            _delete_platform_item(OpenExport, OPEN, marker["id"], "open_exports", tenant_id)
        cursor = page.next_cursor
        if not cursor:
            return


def _delete_platform_item(model: type[PlatformModel], partition: str, item_id: str, counter: str,
                          tenant_id: str) -> None:
    try:
        model.objects.get(partition, item_id, consistent=True)
    except DoesNotExist:
        return
    transact_write([model.objects.delete_op(partition, item_id), _count_op(tenant_id, {counter: 1})])


def _forget_caches(tenant_id: str, *, users) -> None:
    """The tenancy kernel's caches of the tenant, then each app's own (``hooks.tenant_teardowns``)."""
    router.forget(tenant_id)
    tenant_directory.forget()
    for teardown in hooks.tenant_teardowns:
        if teardown.forget:
            teardown.forget(tenant_id, users)


def _complete(tenant_id: str) -> dict:
    """One transaction: the directory item goes, the owner's creation-quota slot comes back, the
    record is completed (version-guarded, so this happens once) and the receipt is written. A
    concurrent change of the owner's quota (a registration of theirs) cancels it: read again, retry."""
    for attempt in range(QUOTA_ATTEMPTS):
        try:
            return _complete_once(tenant_id)
        except TransactionCancelled:
            if attempt == QUOTA_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _complete_once(tenant_id: str) -> dict:
    record = Offboarding.objects.get(OFFBOARDINGS, tenant_id, consistent=True)
    if record["status"] == COMPLETED:
        return record
    counts = {k[len("deleted_"):]: int(v) for k, v in record.items() if k.startswith("deleted_")}
    ended = now_iso()
    ops = []
    try:
        Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)  # still there: delete it
        ops.append(Tenant.objects.delete_op(TENANT_DIRECTORY, tenant_id))
        counts["tenant_directory"] = counts.get("tenant_directory", 0) + 1
    except DoesNotExist:
        pass
    counted = record.get("creation_quota") and record.get("owner_id")
    released = release_creation_slot_ops(record["owner_id"]) if counted else []
    ops += released
    record_op, completed = Offboarding.objects.put_op(
        OFFBOARDINGS, tenant_id, expected_version=int(record["version"]),
        **{**record, "status": COMPLETED, "completed_at": ended, "receipt": counts,
           "creation_quota_released": bool(released)})
    ops.append(record_op)
    receipt = {"counts": counts, "started_at": record.get("deletion_started_at"), "ended_at": ended,
               "tenant_name": record.get("tenant_name"), "final_export_id": record.get("final_export_id"),
               "creation_quota_released": bool(released)}
    tx = UnitOfWork()
    tx.extend("deletion", ops)
    tx.join(audit.records(audit.platform_entry("tenant.deleted", "tenant", tenant_id, tenant_id=tenant_id,
                                               detail=receipt)))
    tx.commit()
    tenant_directory.forget()
    logger.info("tenant %s deleted: %s", tenant_id, counts)
    return completed


# --- the owner's final export, during the grace period ---------------------------------------------
def owner_offboardings(user_id: str) -> list[dict]:
    """Tenants the user owns whose deletion they scheduled and that are not deleted yet, with their
    final export's state: what the owner sees (and downloads) while their tenant is closed. Read
    from the user's own memberships (kept until deletion), so it costs three round trips."""
    with system_context(reason=f"offboardings owned by {user_id}"):
        memberships = UserMembership.objects.query(user_id, limit=100).items
        tenants = Tenant.objects.batch_get((TENANT_DIRECTORY, m["tenant_id"]) for m in memberships)
        leaving = [t["id"] for t in tenants.values() if t.get("offboarding") and t.get("created_by") == user_id]
        records = Offboarding.objects.batch_get((OFFBOARDINGS, tenant_id) for tenant_id in leaving)
    mine = [r for r in records.values() if _owner_may_download(r, user_id, now=None, ready=False)]
    return sorted((_owner_view(r) for r in mine), key=lambda r: r["delete_after"])


def _owner_may_download(record: dict, user_id: str, *, now: float | None, ready: bool = True) -> bool:
    """The owner, who scheduled it themselves, before deletion starts (and, if ``ready``, once the
    final export is made)."""
    now = time.time() if now is None else now
    if record.get("owner_id") != user_id or record.get("requested_by") != user_id:
        return False
    if record["status"] not in (SCHEDULED, EXPORTING, WAITING) or now >= int(record["delete_after"]):
        return False
    return not ready or (record["status"] == WAITING and bool(record.get("final_export_id")))


def _owner_view(record: dict) -> dict:
    return {"tenant_id": record["id"], "tenant_name": record.get("tenant_name"), "status": record["status"],
            "delete_after": audit.iso(int(record["delete_after"])),
            "final_export": {"ready": record["status"] == WAITING and bool(record.get("final_export_id")),
                             "size": int(record.get("final_export_size") or 0)}}


def final_export_link(*, tenant_id: str, user_id: str) -> dict:
    """A 15-minute link to the final export, for the owner who scheduled the deletion, during the
    grace period only; ``DoesNotExist`` (404) for anyone else, for another tenant, before the export
    is made and once deletion has started. Recorded in the tenant's trail and in the platform trail
    (which outlives the tenant)."""
    from exports import selectors as export_selectors
    from exports import services as export_services

    try:
        record = get_offboarding(tenant_id)
    except DoesNotExist:
        raise DoesNotExist("offboarding not found") from None
    if not _owner_may_download(record, user_id, now=None):
        raise DoesNotExist("offboarding not found")
    export_id = record["final_export_id"]
    with tenant_context(tenant_id, user_id=user_id, tier=record.get("tier") or "basic"):
        link = export_services.presigned_link(export_selectors.get_export(export_id))
    with system_context(reason=f"owner {user_id} downloads the final export of {tenant_id}"):
        audit.record([audit.tenant_entry_for(tenant_id, "export.downloaded", "export", export_id, tier=record.get("tier"),
                                             detail={"final": True}),
                      audit.platform_entry("tenant.final_export_downloaded", "tenant", tenant_id, tenant_id=tenant_id,
                                           detail={"export_id": export_id})])
    logger.info("owner %s downloaded the final export %s of %s", user_id, export_id, tenant_id)
    return link


def public_offboarding(record: dict) -> dict:
    counts = record.get("receipt") or {k[len("deleted_"):]: v for k, v in record.items() if k.startswith("deleted_")}
    return {
        "tenant_id": record["id"], "tenant_name": record.get("tenant_name"), "status": record["status"],
        "requested_by": record.get("requested_by"), "requested_at": record.get("requested_at"),
        "delete_after": audit.iso(int(record["delete_after"])), "final_export_id": record.get("final_export_id"),
        "deletion_started_at": record.get("deletion_started_at"), "completed_at": record.get("completed_at"),
        "counts": {k: int(v) for k, v in counts.items()},
    }


def due(now: float | None = None) -> list[str]:
    """Tenants whose offboarding has work to do now (the sweep enqueues a job for each)."""
    now = time.time() if now is None else now
    out, cursor = [], None
    while True:
        page = list_offboardings(cursor=cursor)
        for record in page.items:
            stale = _age(record, now) >= settings.OFFBOARDING_STALE_SECONDS  # its job died, or never ran
            if record["status"] in (SCHEDULED, EXPORTING, DELETING) and stale:
                out.append(record["id"])
            elif record["status"] == WAITING and int(record["delete_after"]) <= now:
                out.append(record["id"])
        cursor = page.next_cursor
        if not cursor:
            return out


def _age(record: dict, now: float) -> float:
    from datetime import datetime

    updated = datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00")).timestamp()
    return now - updated


__all__ = ["Offboarding", "Interrupted", "schedule_offboarding", "run_offboarding",
           "get_offboarding", "public_offboarding", "due", "owner_offboardings", "final_export_link"]
