"""Reads: the tenant's exports, and what an export covers."""
from __future__ import annotations

from saas.tenancy.store import TENANT_MODELS, TenantModel

from .models import ExportJob


def exportable_models() -> list[type[TenantModel]]:
    """The exported entities, in a stable order (by file name)."""
    _load_models()
    return sorted((m for m in TENANT_MODELS.values() if m.export_as), key=lambda m: m.export_as or "")


def _load_models() -> None:
    # The app registry imports each app's models; these core ones live outside any app's models.py.
    from saas import outbox  # noqa: F401


def get_export(export_id: str) -> dict:
    return ExportJob.objects.get(export_id, consistent=True)


def list_exports(*, cursor: str | None = None, limit: int = 20):
    return ExportJob.objects.query(cursor=cursor, limit=limit, ascending=False)


def public_export(job: dict) -> dict:
    return {
        "id": job["id"], "status": job["status"], "final": bool(job.get("final")),
        "attempts": int(job.get("attempts") or 0),
        "progress": {"entities_done": int(job.get("entities_done", 0)), "entities_total": int(job.get("entities_total", 0))},
        "items": int(job.get("items", 0)), "size": int(job["size"]) if job.get("size") is not None else None,
        "counts": {k: int(v) for k, v in (job.get("counts") or {}).items()},
        "requested_by": job.get("requested_by"), "created_at": job["created_at"],
        "completed_at": job.get("completed_at"),
    }
