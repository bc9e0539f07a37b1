"""Units of work: labelled operations committed all or nothing (DynamoDB TransactWriteItems).

A service names each operation it adds and reads a cancellation by those names::

    tx = UnitOfWork()
    tx.put("order", order_op)
    tx.update(f"stock:{sku}", reserve_op)
    tx.join(audit_records)                 # a Contributor: adds its own operations at commit
    try:
        tx.commit(token=order_id)  # ClientRequestToken: a retried identical request is idempotent
    except TransactionCancelled as exc:
        if exc.failed(f"stock:{sku}"): ...

Contributors (the audit trail) build their operations when the unit commits and may ask for
another attempt when only their own operations failed (another writer advanced a chain head); the
caller's operations are the same in every attempt. Written here after PynamoDB's ``TransactWrite``
and ``CancellationReason`` (PynamoDB itself does not fit: it owns the table schema).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Protocol

from botocore.exceptions import ClientError

from ..context import SystemContext, TenantContext, current_context, get_context
from . import items as wire
from .errors import CancellationReason, TransactionCancelled
from .items import Op, error_code


class Contributor(Protocol):
    """Something that joins a unit of work with operations of its own (built at commit)."""

    def operations(self) -> list[tuple[str, Op]]:
        """The labelled operations of the next attempt (labels unique in the unit)."""

    def retry(self, failed: Mapping[str, CancellationReason], attempt: int) -> bool:
        """The caller's operations did not fail; ``failed`` are this contributor's own failures in
        attempt ``attempt`` (0-based). True: build the operations again and try once more."""

    def finished(self, committed: bool) -> None:
        """The unit committed (True) or gave up (False, with any exception)."""


class UnitOfWork:
    """Named operations written all or nothing; see the module docstring."""

    def __init__(self) -> None:
        self._operations: dict[str, Op] = {}
        self._contributors: list[Contributor] = []

    # adding ------------------------------------------------------------------------------------
    def add(self, label: str, op: Op) -> None:
        """Add an operation of any kind under ``label`` (unique in the unit)."""
        if not label or label in self._operations:
            raise ValueError(f"operation label {label!r} is empty or already used in this unit of work")
        if len(op) != 1 or next(iter(op)) not in ("Put", "Update", "Delete", "ConditionCheck"):
            raise ValueError(f"{label}: not a store operation")
        self._operations[label] = op

    def _add_kind(self, kind: str, label: str, op: Op) -> None:
        if kind not in op:
            raise ValueError(f"{label}: expected a {kind} operation, got {next(iter(op), None)}")
        self.add(label, op)

    def put(self, label: str, op: Op) -> None:
        self._add_kind("Put", label, op)

    def update(self, label: str, op: Op) -> None:
        self._add_kind("Update", label, op)

    def delete(self, label: str, op: Op) -> None:
        self._add_kind("Delete", label, op)

    def condition(self, label: str, op: Op) -> None:
        self._add_kind("ConditionCheck", label, op)

    def extend(self, prefix: str, ops: Iterable[Op]) -> None:
        """Add several operations of one purpose, labelled ``<prefix>:0``, ``<prefix>:1``, ..."""
        for n, op in enumerate(ops):
            self.add(f"{prefix}:{n}", op)

    def join(self, contributor: Contributor) -> None:
        self._contributors.append(contributor)

    @property
    def labels(self) -> list[str]:
        return list(self._operations)

    def __len__(self) -> int:
        return len(self._operations)

    # committing ---------------------------------------------------------------------------------
    def commit(self, *, token: str | None = None) -> None:
        """Write everything or nothing; a cancellation raises ``TransactionCancelled`` naming the
        caller's operations that failed (never the contributors'). ``token``: DynamoDB's
        ClientRequestToken for the first attempt (contributors' retries differ, so carry none).
        A unit may be committed again after a failure (its contributors build their operations anew)."""
        attempt = 0
        try:
            while True:
                theirs: dict[str, int] = {}
                extra: list[tuple[str, Op]] = []
                for index, contributor in enumerate(self._contributors):
                    for label, op in contributor.operations():
                        if label in self._operations or label in theirs:
                            raise ValueError(f"operation label {label!r} is used twice in this unit of work")
                        theirs[label] = index
                        extra.append((label, op))
                try:
                    # A client token makes a retried *identical* request idempotent; our retries differ.
                    _write([*self._operations.items(), *extra], token=token if attempt == 0 else None)
                except TransactionCancelled as exc:
                    own = {label: reason for label, reason in exc.reasons.items() if label not in theirs}
                    if not own and self._contributors and all(
                            contributor.retry({label: reason for label, reason in exc.reasons.items()
                                               if theirs.get(label) == index}, attempt)
                            for index, contributor in enumerate(self._contributors)):
                        attempt += 1
                        continue
                    raise TransactionCancelled(own) from exc
                break
        except BaseException:
            for contributor in self._contributors:
                contributor.finished(False)
            raise
        for contributor in self._contributors:
            contributor.finished(True)


def transact_write(operations: Iterable[Op] | Mapping[str, Op], *, token: str | None = None,
                   join: Contributor | None = None) -> None:
    """A unit of work in one call: ``operations`` (and ``join``'s) all or nothing. Given a mapping,
    its keys are the labels; given a list, a cancellation names them ``#0``, ``#1``, ... (for writes
    whose failures need no telling apart)."""
    tx = UnitOfWork()
    labelled = operations.items() if isinstance(operations, Mapping) else ((f"#{n}", op) for n, op in enumerate(operations))
    for label, op in labelled:
        tx.add(label, op)
    if join is not None:
        tx.join(join)
    tx.commit(token=token)


def _write(labelled: list[tuple[str, Op]], *, token: str | None = None) -> None:
    if not labelled:
        return
    if not isinstance(current_context(), (TenantContext, SystemContext)):
        get_context()  # raises NoTenantContext
    kwargs = {"ClientRequestToken": token} if token else {}
    try:
        wire.call("transact_write_items", TransactItems=[op for _, op in labelled], **kwargs)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            raw = exc.response.get("CancellationReasons") or []
            reasons = {label: CancellationReason(str(r.get("Code")), str(r.get("Message") or ""))
                       for (label, _), r in zip(labelled, raw, strict=False)
                       if r.get("Code") not in (None, "None", "")}
            raise TransactionCancelled(reasons) from exc
        raise
