"""Tenant data export: every exportable item of the tenant as NDJSON files in one zip archive under
the tenant's S3 prefix (``tenants/<tenant>/exports/<export id>-<attempt>.zip``).

What is exported is declared on the models (``TenantModel.export_as``), so the export follows the
store: products, orders, members, webhook subscriptions, the audit trail, usage. The job walks each
entity's partition page by page (queries only, no scan), streams lines into the archive (a spooled
temporary file: memory first, /tmp beyond ``EXPORT_SPOOL_BYTES``) and records progress
(``entities_done`` / ``entities_total``) on the ``ExportJob`` item after each entity, which the API
and the web page show, and every ``EXPORT_HEARTBEAT_PAGES`` pages within an entity (``items``).

Lost jobs. A requested export also writes an ``OpenExport`` marker (platform partition ``ALL``) in
the same transaction; completing or failing the export deletes it in the transaction that ends the
job. The beat job ``exports.sweep`` (``stale_exports``) re-enqueues every open export untouched for
``EXPORT_STALE_SECONDS``: an enqueue lost after the commit, or a worker killed mid-way. Each run
*claims* the job (a version-guarded ``attempts + 1``) and writes its archive under its own key
(``<export id>-<attempt>.zip``); the completion is version-guarded too, so when two runs overlap (a
stale run that was only slow) exactly one completes, the record's counts describe exactly the
archive it points to, and the loser deletes its own object. After ``EXPORT_MAX_ATTEMPTS`` claims
the export is marked ``failed`` (a tenant too large for a worker must not loop forever).

Downloads are presigned GETs valid ``EXPORT_LINK_SECONDS`` (15 minutes), issued by a POST that is
itself audit-logged.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from django.conf import settings

import audit
import files
from audit import Entry
from saas.idempotency import Claim
from saas.idempotency import op as idempotency_ops
from saas.tenancy.context import get_context, system_context, tenant_context
from saas.tenancy.keys import storage_key
from saas.tenancy.store import (
    DoesNotExist,
    StoreUnavailable,
    TenantModel,
    TransactionCancelled,
    VersionConflict,
    new_id,
    now_iso,
    transact_write,
)
from usage import services as usage

from .models import COMPLETED, FAILED, OPEN, PENDING, RUNNING, ExportJob, OpenExport
from .selectors import exportable_models, get_export

logger = logging.getLogger("saas.export")  # the name log queries know

class Superseded(Exception):
    """Another run claimed this export meanwhile (this one was stale); it stops and cleans up."""


def archive_key(export_id: str, attempt: int) -> str:
    return storage_key("exports", f"{export_id}-{attempt}.zip")


def _marker_id(tenant_id: str, export_id: str) -> str:
    return f"{tenant_id}.{export_id}"


def _marker_removal_op(tenant_id: str, export_id: str) -> dict:
    with system_context(reason=f"export {export_id} of {tenant_id} ends"):
        # gone either way (exports older than the markers have none)
        return OpenExport.objects.delete_op(OPEN, _marker_id(tenant_id, export_id), missing_ok=True)


def request_export(*, final: bool = False, reason: str = "", idempotency: Claim | None = None) -> dict:
    """Create an export job of the current tenant (the caller enqueues ``exports.run`` after this).
    A final export (offboarding) is run by the offboarding job itself, which has its own sweep, so
    it gets no ``OpenExport`` marker. ``idempotency``: the key's record joins the transaction."""
    ctx = get_context()
    export_id = new_id()
    op, job = ExportJob.objects.create_op(
        id=export_id, status=PENDING, entities_total=len(exportable_models()), entities_done=0, items=0,
        attempts=0, requested_by=ctx.user_id, final=final, reason=reason or None)
    ops = [op]
    if not final:
        with system_context(reason=f"export {export_id} of {ctx.tenant_id} requested"):
            marker, _ = OpenExport.objects.put_op(OPEN, _marker_id(ctx.tenant_id, export_id), tenant_id=ctx.tenant_id,
                                                  export_id=export_id, tier=ctx.tier)
        ops.append(marker)
    ops += idempotency_ops(idempotency, job)
    transact_write(ops, join=audit.records(Entry(action="export.requested", target_type="export", target_id=export_id,
                                    changes={"final": [None, final]} if final else None)))
    return job


def _json_default(value: Any):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _update(job: dict, **changes: Any) -> dict:
    return ExportJob.objects.update(job["id"], expected_version=int(job["version"]), **changes)


def run_export(*, export_id: str, takeover: bool = False, checkpoint: Callable[[int], None] | None = None) -> dict:
    """Claim the export, write the archive, complete it. Idempotent: a completed (or failed) job is
    left alone, and so is one whose run is alive (progress within ``EXPORT_STALE_SECONDS``: this is a
    duplicate delivery, e.g. a broker's redelivery of a long job) unless ``takeover`` (the sweep,
    which found it stale). A run overtaken by a newer claim stops and deletes its own archive.
    ``checkpoint(entities_done)`` (tests): called after each entity, e.g. to stop like a dying worker."""
    job = get_export(export_id)
    final = bool(job.get("final"))  # the offboarding job retries its final export until it is made
    if job["status"] == COMPLETED or (job["status"] == FAILED and not final):
        return job
    if job["status"] == RUNNING and not takeover and time.time() - _timestamp(job["updated_at"]) < settings.EXPORT_STALE_SECONDS:
        logger.info("export %s: a live run holds it (attempt %s); this delivery leaves it alone", export_id,
                    job.get("attempts"))
        return job
    attempt = int(job.get("attempts") or 0) + 1
    if attempt > settings.EXPORT_MAX_ATTEMPTS and not final:
        return _fail(job, f"gave up after {attempt - 1} attempts")
    try:
        job = _update(job, status=RUNNING, attempts=attempt, entities_done=0, items=0, started_at=now_iso())
    except VersionConflict:
        logger.info("export %s: another run claimed it first", export_id)
        return get_export(export_id)
    key = archive_key(export_id, attempt)
    try:
        completed = _write_and_complete(job, key, attempt, checkpoint)
    except Superseded:
        logger.warning("export %s: attempt %d was overtaken by a newer run; its archive is discarded", export_id, attempt)
        files.delete(key)
        return get_export(export_id)
    except StoreUnavailable:
        raise  # still ours and open: the task's retry (or the sweep) runs it again
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        try:
            _fail(get_export(export_id), type(exc).__name__, attempt=attempt)
        except (VersionConflict, DoesNotExist, TransactionCancelled):
            pass
        raise
    usage.add("stored_bytes", int(completed["size"]))
    return completed


def _write_and_complete(job: dict, key: str, attempt: int, checkpoint: Callable[[int], None] | None) -> dict:
    """Write this attempt's archive under ``key``, then complete the job if it is still ours
    (else ``Superseded``)."""
    export_id, tenant_id = job["id"], get_context().tenant_id
    models = exportable_models()
    counts: dict[str, int] = {}
    holder = {"job": job}
    with tempfile.SpooledTemporaryFile(max_size=settings.EXPORT_SPOOL_BYTES) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for done, model in enumerate(models, start=1):
                assert model.export_as is not None  # exportable_models() lists only exported ones
                counts[model.export_as] = _write_entity(archive, model, holder, sum(counts.values()))
                holder["job"] = _progress(holder["job"], entities_done=done, items=sum(counts.values()),
                                          entities_total=len(models))
                if checkpoint:
                    checkpoint(done)
            archive.writestr("manifest.json", json.dumps({
                "tenant_id": tenant_id, "export_id": export_id, "attempt": attempt,
                "created_at": now_iso(), "files": {f"{name}.ndjson": n for name, n in counts.items()},
            }, indent=2))
        spool.seek(0)
        size = files.save(key, spool, content_type="application/zip")
    job = holder["job"]
    op, completed = ExportJob.objects.update_op(
        export_id, expected_version=int(job["version"]), current=job, status=COMPLETED, size=size,
        counts=counts, completed_at=now_iso(), archive_key=key)
    try:
        transact_write([op, _marker_removal_op(tenant_id, export_id)], join=audit.records(Entry(
            action="export.completed", target_type="export", target_id=export_id,
            changes={"items": [None, sum(counts.values())], "size": [None, size]})))
    except TransactionCancelled:
        raise Superseded() from None
    return completed


def _progress(job: dict, **changes: Any) -> dict:
    """A version-guarded progress write, which is also this run's heartbeat: a conflict means a
    newer run claimed the export (ours was thought dead)."""
    try:
        return _update(job, **changes)
    except VersionConflict:
        raise Superseded() from None


def _fail(job: dict, error: str, *, attempt: int | None = None) -> dict:
    """Mark the export failed (and no longer open); only if ``attempt`` is still the current claim."""
    if attempt is not None and int(job.get("attempts") or 0) != attempt:
        return job
    op, failed = ExportJob.objects.update_op(job["id"], expected_version=int(job["version"]), current=job,
                                             status=FAILED, error=error)
    transact_write([op, _marker_removal_op(get_context().tenant_id, job["id"])], join=audit.records(Entry(
        action="export.failed", target_type="export", target_id=job["id"], changes={"status": [job["status"], FAILED]},
        detail={"error": error})))
    return failed


def _write_entity(archive: zipfile.ZipFile, model: type[TenantModel], holder: dict, items_before: int) -> int:
    written, cursor, pages = 0, None, 0
    with archive.open(f"{model.export_as}.ndjson", "w", force_zip64=True) as out:
        while True:
            page = model.objects.query(cursor=cursor, limit=100)
            for item in page.items:
                out.write(json.dumps(item, default=_json_default, sort_keys=True).encode() + b"\n")
            written += len(page.items)
            pages += 1
            if pages % settings.EXPORT_HEARTBEAT_PAGES == 0:  # large entity: show progress, prove we are alive
                holder["job"] = _progress(holder["job"], items=items_before + written)
            cursor = page.next_cursor
            if not cursor:
                return written


# --- the sweep: exports whose job was lost ------------------------------------------------------
def stale_exports(*, now: float | None = None) -> list[dict]:
    """Open exports nobody has touched for ``EXPORT_STALE_SECONDS`` (job lost after the commit, or
    its worker killed), under system_context. Each is marked ``enqueued_at`` so one sweep, not
    every sweep, re-enqueues it until a run touches it again. Markers of tenants that are gone are
    removed; tenants that are not active are left for later (their jobs would be dropped)."""
    from saas.hooks import hooks

    now = time.time() if now is None else now
    stale_after = settings.EXPORT_STALE_SECONDS
    due, cursor = [], None
    while True:
        with system_context(reason="export sweep: open exports"):
            page = OpenExport.objects.query(OPEN, cursor=cursor, limit=100)
        for marker in page.items:
            tenant = hooks.require("get_tenant")(marker["tenant_id"])
            if tenant is None:
                with system_context(reason=f"export sweep: tenant {marker['tenant_id']} is gone"):
                    OpenExport.objects.delete(OPEN, marker["id"])
                continue
            if tenant.get("status") != "active" or now - float(marker.get("enqueued_at") or 0) < stale_after:
                continue
            with tenant_context(marker["tenant_id"], tier=tenant.get("tier") or "basic"):
                try:
                    job = get_export(marker["export_id"])
                except DoesNotExist:
                    job = None
                if job is None or job["status"] in (COMPLETED, FAILED):  # ended; its marker outlived it
                    transact_write([_marker_removal_op(marker["tenant_id"], marker["export_id"])])
                    continue
            if now - _timestamp(job["updated_at"]) < stale_after:
                continue
            try:
                with system_context(reason=f"export sweep: re-enqueue {marker['id']}"):
                    OpenExport.objects.put(OPEN, marker["id"], expected_version=int(marker["version"]),
                                           **{**marker, "enqueued_at": int(now)})
            except (VersionConflict, DoesNotExist):
                continue  # another sweep took it (or the export just ended)
            due.append({"tenant_id": marker["tenant_id"], "tier": tenant.get("tier"), "export_id": marker["export_id"],
                        "status": job["status"], "attempts": int(job.get("attempts") or 0)})
        cursor = page.next_cursor
        if not cursor:
            return due


def _timestamp(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def download_link(*, export_id: str) -> dict:
    """A presigned GET for a completed export, valid 15 minutes; audit-logged."""
    link = presigned_link(get_export(export_id))
    audit.record(Entry(action="export.downloaded", target_type="export", target_id=export_id))
    return link


def presigned_link(job: dict) -> dict:
    """The 15-minute link to a completed export of the tenant in context (the caller audit-logs it)."""
    if job["status"] != COMPLETED:
        raise DoesNotExist("export not ready")
    expires_in = settings.EXPORT_LINK_SECONDS
    url = files.presigned_get(job["archive_key"], expires_in=expires_in,
                              filename=f"export-{get_context().tenant_id}-{job['id']}.zip")
    return {"url": url, "expires_in": expires_in,
            "expires_at": datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + expires_in,
                                                 timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}
