"""The export's items: the job (in the tenant's partition, exported itself) and the sweep's marker."""
from __future__ import annotations

from saas.tenancy.store import PlatformModel, TenantModel

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"


class ExportJob(TenantModel):
    entity = "EXPORT"  # id = export id


class OpenExport(PlatformModel):
    """An export not finished yet (partition ``ALL``, id ``<tenant id>.<export id>``): what the sweep
    reads, one small partition instead of every tenant's exports."""

    entity = "OPENEXPORT"


OPEN = "ALL"
