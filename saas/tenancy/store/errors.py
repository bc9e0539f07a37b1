"""One exception per failure kind of the store.

The ones a client may see are also ``saas.errors`` classes: their public ``message`` is the class's
fixed text, while ``str(exc)`` keeps the internal detail for logs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from saas import errors

CONDITION_FAILED = "ConditionalCheckFailed"


class StoreError(Exception):
    pass


class _ClientFacing(StoreError):
    def __init__(self, detail: str = ""):
        super().__init__()  # the AppError side: default (public) message
        self.args = (detail,) if detail else ()


class DoesNotExist(_ClientFacing, errors.NotFound):
    """No such item in the current tenant (another tenant's item also lands here)."""


class ConflictError(StoreError):
    pass


class AlreadyExists(_ClientFacing, ConflictError, errors.Conflict):
    code, default_message = "already_exists", "The item already exists."


class VersionConflict(_ClientFacing, ConflictError, errors.Conflict):
    code, default_message = "version_conflict", "The item was changed by someone else."


@dataclass(frozen=True)
class CancellationReason:
    """Why DynamoDB refused one operation of a cancelled transaction (``code`` as DynamoDB names
    it: ``ConditionalCheckFailed``, ``TransactionConflict``, ...)."""

    code: str
    message: str = ""

    @property
    def condition_failed(self) -> bool:
        return self.code == CONDITION_FAILED


class TransactionCancelled(ConflictError):
    """A unit of work was cancelled. ``reasons`` maps the label of each operation that failed to
    its ``CancellationReason`` (operations that did not fail are absent); the service that labelled
    the operations translates it (it knows what each one meant)."""

    def __init__(self, reasons: Mapping[str, CancellationReason]):
        super().__init__(f"transaction cancelled: {', '.join(f'{k}={v.code}' for k, v in reasons.items())}")
        self.reasons: dict[str, CancellationReason] = dict(reasons)

    def failed(self, label: str) -> bool:
        """Whether the operation labelled ``label`` failed its condition."""
        reason = self.reasons.get(label)
        return reason is not None and reason.condition_failed

    def failed_labels(self, prefix: str = "") -> list[str]:
        """The labels (starting with ``prefix``) whose condition failed, in the order they were added."""
        return [label for label, reason in self.reasons.items() if reason.condition_failed and label.startswith(prefix)]


class InvalidCursor(_ClientFacing, errors.InvalidInput):
    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.fields = {"cursor": ["Invalid cursor."]}


class TenantMismatch(_ClientFacing, errors.NotFound):
    """An item read does not belong to the tenant in context. Never returned to callers."""


class StoreUnavailable(StoreError, errors.ServiceUnavailable):
    """DynamoDB could not be reached or is throttling us (503, ``dependency: dynamodb``)."""

    def __init__(self, detail: str = ""):
        errors.ServiceUnavailable.__init__(self, "dynamodb")
        self.args = (detail,) if detail else ()


class ScopeError(StoreError):
    pass
