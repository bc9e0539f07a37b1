"""The audit app's job: the periodic digest (``AUDIT_DIGEST_SECONDS``, Celery beat ``audit-digest``)."""
from __future__ import annotations

from celery import shared_task

from saas.tenancy import system_context

from .verification import write_digest


def _digest() -> str:
    """Anchor every audit trail outside DynamoDB (``write_digest``). Platform job."""
    with system_context(reason="audit digest: anchor every trail"):
        return write_digest()


audit_digest = shared_task(name="audit.digest", tenant_scoped=False)(_digest)
