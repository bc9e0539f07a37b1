"""Writing the trail: the records of some entries join a ``UnitOfWork`` (``records``), so a change
never exists without its record; ``record`` appends them on their own."""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Mapping

from boto3.dynamodb.conditions import Attr
from django.conf import settings

from saas.tenancy.context import TenantContext, current_context
from saas.tenancy.store import CancellationReason, Op, UnitOfWork, now_iso

from .actors import actor_now, tenant_facing
from .chain import head_mac, record_hash, retention_seconds, scrub
from .models import GENESIS, HEAD_ID, PLATFORM, AuditHead, AuditRecord, Entry, PlatformAuditHead, PlatformAuditRecord
from .trails import head_of, heads, scoped, trail_of

logger = logging.getLogger("saas.audit")

MAX_ATTEMPTS = 40  # per-tenant appends are serialised by the head; losers retry with jittered back-off



def _record_body(entry: Entry, trail: str, actor: dict[str, Any], *, seq: int, prev_hash: str, prev_expires: int | None,
                 tier: str | None) -> dict[str, Any]:
    """Record ``seq`` of ``trail`` for ``entry``, hashed (fields left out when None)."""
    expires_at = int(time.time()) + retention_seconds("platform" if trail == PLATFORM else tier)
    body = {
        "seq": seq, "prev_hash": prev_hash, "prev_expires_at": prev_expires, "at": now_iso(),
        "trail": trail, "tenant_id": entry.tenant_id or (None if trail == PLATFORM else trail),
        **(actor if trail == PLATFORM else tenant_facing(actor)),
        "action": entry.action, "target_type": entry.target_type, "target_id": str(entry.target_id),
        "changes": scrub(dict(entry.changes)) if entry.changes else None,
        "expires_at": expires_at,
    }
    if entry.detail:
        body["actor_detail"] = {**(body.get("actor_detail") or {}), **scrub(dict(entry.detail))}
    body = {k: v for k, v in body.items() if v is not None}
    body["hash"] = record_hash(body)
    return body


def _record_op(trail: str, body: dict[str, Any]) -> Op:
    with scoped(trail):
        if trail == PLATFORM:
            # PlatformManager sets tenant-free keys; "tenant_id" here is the subject, not a scope.
            op, _ = PlatformAuditRecord.objects.put_op(PLATFORM, f"{body['seq']:012d}", **body)
        else:
            fields = {k: v for k, v in body.items() if k != "tenant_id"}
            op, _ = AuditRecord.objects.create_op(id=f"{body['seq']:012d}", **fields)
    return op


def _head_op(trail: str, head: dict[str, Any] | None, head_fields: dict[str, Any]) -> tuple[Op | None, dict[str, Any]]:
    """The head advance of a trail (None when a tenant trail's checkpoint does not move) and the
    head to remember once it commits."""
    if trail == PLATFORM:
        with scoped(trail):
            op, stored = PlatformAuditHead.objects.put_op(
                PLATFORM, HEAD_ID, expected_version=int(head["version"]) if head else None, **head_fields)
        return op, stored
    # Tenant trails: the records themselves serialise appends (seq n can be put once); the
    # checkpoint head only moves every AUDIT_CHECKPOINT_EVERY records, monotonically.
    every = max(1, int(settings.AUDIT_CHECKPOINT_EVERY))
    first = int(head["seq"]) if head else 0
    seq = head_fields["seq"]
    if first == 0 or seq // every != first // every:  # the first record always writes the head
        with scoped(trail):
            return AuditHead.objects.checkpoint_op(
                HEAD_ID, condition=Attr("seq").lt(seq), **{k: v for k, v in head_fields.items() if v is not None}), \
                head_fields
    return None, head_fields


def _trail_ops(trail: str, entries: list[Entry], actor: dict[str, Any], *, refresh: bool) -> tuple[list[tuple[str, Op]], dict[str, Any]]:
    """The labelled record puts of one trail and its head advance; returns the new head."""
    head = head_of(trail, refresh=refresh)
    seq = int(head["seq"]) if head else 0
    prev_hash = head["hash"] if head else GENESIS
    prev_expires = int(head["last_expires_at"]) if head and head.get("last_expires_at") else None
    ctx = current_context()
    ops: list[tuple[str, Op]] = []
    for entry in entries:
        seq += 1
        tier = entry.tier or (ctx.tier if isinstance(ctx, TenantContext) and ctx.tenant_id == trail else None)
        body = _record_body(entry, trail, actor, seq=seq, prev_hash=prev_hash, prev_expires=prev_expires, tier=tier)
        ops.append((f"audit:{trail}:{seq}", _record_op(trail, body)))
        prev_hash, prev_expires = body["hash"], body["expires_at"]
    head_fields = {"seq": seq, "hash": prev_hash, "last_expires_at": prev_expires,
                   "head_mac": head_mac(trail, seq, prev_hash)}
    head_op, new_head = _head_op(trail, head, head_fields)
    if head_op is not None:
        ops.append((f"audit-head:{trail}", head_op))
    return ops, new_head


def _build_ops(entries: list[Entry], actor: dict[str, Any], *, refresh: set[str]) -> tuple[list[tuple[str, Op]], dict[str, dict[str, Any]]]:
    """The labelled puts for ``entries`` and one head advance per trail touched; returns the new heads."""
    ops: list[tuple[str, Op]] = []
    new_heads: dict[str, dict[str, Any]] = {}
    by_trail: dict[str, list[Entry]] = {}
    for entry in entries:
        by_trail.setdefault(trail_of(entry), []).append(entry)
    for trail, trail_entries in by_trail.items():
        trail_ops, new_heads[trail] = _trail_ops(trail, trail_entries, actor, refresh=trail in refresh)
        ops += trail_ops
    return ops, new_heads



class Records:
    """The audit records of some entries as a contributor to a ``UnitOfWork`` (``tx.join(records(...))``):
    they are put in the *same* transaction as the change, so no change exists without its record.

    A cancellation caused only by a chain head (another writer appended first) is retried with a
    fresh head; the unit of work raises any other cancellation naming the caller's operations only.
    """

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._actor: dict[str, Any] | None = None
        self._refresh: set[str] = set()
        self._new_heads: dict[str, dict[str, Any]] = {}

    def operations(self) -> list[tuple[str, Op]]:
        if self._actor is None:
            self._actor = actor_now()
        ops, self._new_heads = _build_ops(self.entries, self._actor, refresh=self._refresh)
        return ops

    def retry(self, failed: Mapping[str, CancellationReason], attempt: int) -> bool:
        if attempt >= MAX_ATTEMPTS - 1:
            logger.warning("audit commit gave up: attempt=%d reasons=%s", attempt, sorted(failed))
            return False
        self._refresh = set(self._new_heads)  # only the audit items failed: someone else appended
        time.sleep(random.uniform(0, min(0.1, 0.002 * 2 ** min(attempt, 6))))
        return True

    def finished(self, committed: bool) -> None:
        for trail, head in self._new_heads.items():
            if committed:
                heads.put(trail, head)
            else:
                heads.forget(trail)


def records(audit: Entry | list[Entry]) -> Records:
    """The records of ``audit`` (one entry or several), to join a unit of work."""
    return Records([audit] if isinstance(audit, Entry) else list(audit))


def record(audit: Entry | list[Entry]) -> None:
    """Append audit records on their own (for changes that are not DynamoDB transactions)."""
    tx = UnitOfWork()
    tx.join(records(audit))
    tx.commit()

