"""Tenant data export: every exportable item of the tenant as NDJSON files in one zip archive under
the tenant's S3 prefix (``tenants/<tenant>/exports/<export id>.zip``).

What is exported is declared on the models (``TenantModel.export_as``), so the export follows the
store: products, orders, members, webhook subscriptions, the audit trail, usage. The job walks each
entity's partition page by page (queries only, no scan), streams lines into the archive (a spooled
temporary file: memory first, /tmp beyond ``EXPORT_SPOOL_BYTES``) and records progress
(``entities_done`` / ``entities_total``) on the ``ExportJob`` item after each entity, which the API
and the web page show. A job that dies is redelivered (``acks_late``) and starts over: the archive
is written under the same key, so a rerun replaces it.

Downloads are presigned GETs valid ``EXPORT_LINK_SECONDS`` (15 minutes), issued by a POST that is
itself audit-logged.
"""
from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from django.conf import settings

from saas import audit, files, usage
from saas.audit import Entry
from saas.tenancy.context import get_context
from saas.tenancy.keys import storage_key
from saas.tenancy.store import (
    TENANT_MODELS,
    DoesNotExist,
    TenantModel,
    VersionConflict,
    new_id,
    now_iso,
    transact_write,
)

logger = logging.getLogger("saas.export")

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"


class ExportJob(TenantModel):
    entity = "EXPORT"  # id = export id


def exportable_models() -> list[type[TenantModel]]:
    """The exported entities, in a stable order (by file name)."""
    _load_models()
    return sorted((m for m in TENANT_MODELS.values() if m.export_as), key=lambda m: m.export_as)


def _load_models() -> None:
    # The app registry imports each app's models; these core ones live outside any app's models.py.
    from saas import outbox  # noqa: F401


def archive_key(export_id: str) -> str:
    return storage_key("exports", f"{export_id}.zip")


def request_export(*, final: bool = False, reason: str = "") -> dict:
    """Create an export job of the current tenant (the caller enqueues ``exports.run`` after this)."""
    ctx = get_context()
    export_id = new_id()
    op, job = ExportJob.objects.create_op(
        id=export_id, status=PENDING, entities_total=len(exportable_models()), entities_done=0, items=0,
        requested_by=ctx.user_id, final=final, reason=reason or None)
    transact_write([op], audit=Entry(action="export.requested", target_type="export", target_id=export_id,
                                     changes={"final": [None, final]} if final else None))
    return job


def get_export(export_id: str) -> dict:
    return ExportJob.objects.get(export_id, consistent=True)


def list_exports(*, cursor: str | None = None, limit: int = 20):
    return ExportJob.objects.query(cursor=cursor, limit=limit, ascending=False)


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


def run_export(*, export_id: str) -> dict:
    """Write the archive and mark the job completed. Idempotent: a completed job is left alone."""
    job = get_export(export_id)
    if job["status"] == COMPLETED:
        return job
    job = _update(job, status=RUNNING, entities_done=0, items=0, started_at=now_iso())
    models = exportable_models()
    counts: dict[str, int] = {}
    try:
        with tempfile.SpooledTemporaryFile(max_size=settings.EXPORT_SPOOL_BYTES) as spool:
            with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for done, model in enumerate(models, start=1):
                    counts[model.export_as] = _write_entity(archive, model)
                    job = _update(job, entities_done=done, items=sum(counts.values()),
                                  entities_total=len(models))
                archive.writestr("manifest.json", json.dumps({
                    "tenant_id": get_context().tenant_id, "export_id": export_id,
                    "created_at": now_iso(), "files": {f"{name}.ndjson": n for name, n in counts.items()},
                }, indent=2))
            spool.seek(0)
            size = files.save(archive_key(export_id), spool, content_type="application/zip")
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        try:
            _update(get_export(export_id), status=FAILED, error=type(exc).__name__)
        except (VersionConflict, DoesNotExist):
            pass
        raise
    op, completed = ExportJob.objects.update_op(
        export_id, expected_version=int(job["version"]), current=job, status=COMPLETED, size=size,
        counts=counts, completed_at=now_iso(), archive_key=archive_key(export_id))
    transact_write([op], audit=Entry(action="export.completed", target_type="export", target_id=export_id,
                                     changes={"items": [None, sum(counts.values())], "size": [None, size]}))
    usage.add("stored_bytes", size)
    return completed


def _write_entity(archive: zipfile.ZipFile, model: type[TenantModel]) -> int:
    written, cursor = 0, None
    with archive.open(f"{model.export_as}.ndjson", "w", force_zip64=True) as out:
        while True:
            page = model.objects.query(cursor=cursor, limit=100)
            for item in page.items:
                out.write(json.dumps(item, default=_json_default, sort_keys=True).encode() + b"\n")
            written += len(page.items)
            cursor = page.next_cursor
            if not cursor:
                return written


def download_link(*, export_id: str) -> dict:
    """A presigned GET for a completed export, valid 15 minutes; audit-logged."""
    job = get_export(export_id)
    if job["status"] != COMPLETED:
        raise DoesNotExist("export not ready")
    expires_in = settings.EXPORT_LINK_SECONDS
    url = files.presigned_get(job["archive_key"], expires_in=expires_in,
                              filename=f"export-{get_context().tenant_id}-{export_id}.zip")
    audit.record(Entry(action="export.downloaded", target_type="export", target_id=export_id))
    return {"url": url, "expires_in": expires_in,
            "expires_at": datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + expires_in,
                                                 timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}


def public_export(job: dict) -> dict:
    return {
        "id": job["id"], "status": job["status"], "final": bool(job.get("final")),
        "progress": {"entities_done": int(job.get("entities_done", 0)), "entities_total": int(job.get("entities_total", 0))},
        "items": int(job.get("items", 0)), "size": int(job["size"]) if job.get("size") is not None else None,
        "counts": {k: int(v) for k, v in (job.get("counts") or {}).items()},
        "requested_by": job.get("requested_by"), "created_at": job["created_at"],
        "completed_at": job.get("completed_at"),
    }
