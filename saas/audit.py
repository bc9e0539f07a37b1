"""The audit trail: who did what, when, to which object, in every tenant and on the platform.

A service that changes state joins ``records(Entry(...))`` to its ``UnitOfWork``: the record is put
in the *same* DynamoDB transaction as the change, so no change exists without its record. Changes
that are not transactional (an SNS call, a single-item write) call ``record(...)`` right after.

Chain. Each trail (one per tenant, one for the platform) is a keyed hash chain: record ``n`` stores
``prev_hash`` (record ``n-1``'s hash) and its own ``hash`` = HMAC-SHA256 over its canonical content
with the chain key, a secret the functions read from Secrets Manager (``AUDIT_CHAIN_KEY_SECRET``;
cached per process like every reference). Whoever can write the table but cannot read the secret
cannot make a record, or a re-hashed chain, that verifies.
Record ``n`` can be put once (``attribute_not_exists``), so two concurrent writers can never both
append it: one transaction wins, the other is cancelled on the record's condition and ``commit``
re-reads the tip and retries (the caller's own operations are unaffected, nothing was written).
A per-trail *head* item holds the last ``seq`` and ``hash``: the platform trail advances it under
its version; a tenant trail checkpoints it (one conditional Put, ``seq`` only moves forward) every
``AUDIT_CHECKPOINT_EVERY`` records (and on its first record), by default every record, so cutting
even the newest record off is detected. Heads carry their own MAC (``head_mac``): a head moved back
onto an older record without the key does not verify, and a missing head is an error. The tip is
cached per process, so the common case costs no extra round trip.

Anchor outside DynamoDB. ``write_digest`` (Celery beat, ``AUDIT_DIGEST_SECONDS``) writes one digest
object per period to the files bucket under ``AUDIT_DIGEST_PREFIX``: the tip (seq, hash) of every
trail, the previous digest's key and MAC, and its own MAC, written with ``If-None-Match: *`` (S3
refuses to overwrite). The functions' role may only add objects there (see docs/ARCHITECTURE.md), so
a later rewrite of DynamoDB - even one that restores an old, validly signed head - contradicts a
digest: ``verify_chain`` checks every digest's MAC and link and every anchored record.

``verify_chain`` walks a trail oldest first and reports any record whose content no longer
matches its hash (edited), any gap in ``seq`` or broken ``prev_hash`` link (deleted), a tail
that does not match the head (truncated), a missing or unsigned head, and any disagreement with the
digests. Records expire by TTL (``AUDIT_RETENTION_DAYS`` by
tier); a trail may start after ``seq`` 1 only where the missing predecessor's expiry (kept in
``prev_expires_at``) has passed.

Actor: the signed-in user (sub, email) with the request id and source IP during a request; the
job (task name, job id, and the user who enqueued it) in a worker; the ``system_context`` reason
for platform work. Secret-looking fields are never recorded (``scrub``).
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

from boto3.dynamodb.conditions import Attr
from django.conf import settings

from saas.tenancy.context import SystemContext, TenantContext, current_context, tenant_context
from saas.tenancy.store import (
    CancellationReason,
    DoesNotExist,
    Op,
    Page,
    PlatformModel,
    TenantModel,
    UnitOfWork,
    now_iso,
)

logger = logging.getLogger("saas.audit")

PLATFORM = "PLATFORM"  # partition of the platform trail
HEAD_ID = "head"
GENESIS = "0" * 64
SECRET_MARKERS = ("password", "secret", "token", "credential", "signature", "private_key", "api_key")
MAX_ATTEMPTS = 40  # per-tenant appends are serialised by the head; losers retry with jittered back-off


class AuditRecord(TenantModel):
    entity = "AUDIT"  # id = zero-padded seq, so the partition is in chain order
    export_as = "audit"


class AuditHead(TenantModel):
    entity = "AUDITHEAD"  # id = "head"


class PlatformAuditRecord(PlatformModel):
    entity = "PAUDIT"  # partition PLATFORM, id = zero-padded seq


class PlatformAuditHead(PlatformModel):
    entity = "PAUDITHEAD"


# --- the chain key (Secrets Manager) ------------------------------------------------------------
class ChainKeyMissing(RuntimeError):
    """The chain key cannot be read: nothing is audited (and so nothing changes) without it."""


def chain_key() -> bytes:
    """The HMAC key of every audit chain, read through the process's reference cache (a rotated
    secret is picked up after ``CONFIG_CACHE_SECONDS``; see docs/ARCHITECTURE.md on rotation)."""
    from saas import config

    reference = f"secretsmanager:{settings.AUDIT_CHAIN_KEY_SECRET}"
    try:
        value = config.resolve(reference, setting="AUDIT_CHAIN_KEY_SECRET")
    except config.ConfigurationError as exc:
        raise ChainKeyMissing(str(exc)) from exc
    if len(value) < 32:
        raise ChainKeyMissing("AUDIT_CHAIN_KEY_SECRET: the chain key must be at least 32 characters")
    return value.encode()


def ensure_chain_key() -> str:
    """Create the chain key secret if missing (local stacks; in AWS the secret is infrastructure)."""
    from saas import aws

    client = aws.client("secretsmanager")
    try:
        client.describe_secret(SecretId=settings.AUDIT_CHAIN_KEY_SECRET)
        return f"secret {settings.AUDIT_CHAIN_KEY_SECRET} exists"
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=settings.AUDIT_CHAIN_KEY_SECRET, SecretString=secrets.token_hex(32))
        return f"created secret {settings.AUDIT_CHAIN_KEY_SECRET}"


def _mac(data: str) -> str:
    return hmac.new(chain_key(), data.encode(), hashlib.sha256).hexdigest()


def head_mac(trail: str, seq: int, hash_: str) -> str:
    """A head's own MAC: a head cannot be moved (or re-created) without the key."""
    return _mac(f"head|{trail}|{int(seq)}|{hash_}")


# Fields covered by a record's hash (anything else on the item is bookkeeping).
HASHED_FIELDS = ("seq", "prev_hash", "prev_expires_at", "at", "trail", "tenant_id", "actor_type", "actor_id",
                 "actor_email", "actor_detail", "action", "target_type", "target_id", "changes", "request_id",
                 "source_ip", "expires_at")


@dataclass(frozen=True)
class Entry:
    """One auditable action. ``tenant_id`` targets a specific tenant's trail from platform work
    (under system_context); ``platform=True`` writes to the platform trail instead."""

    action: str
    target_type: str
    target_id: str
    changes: Mapping[str, Any] | None = None
    tenant_id: str | None = None
    tier: str | None = None
    platform: bool = False
    detail: Mapping[str, Any] | None = None


# --- request metadata (set by AuditRequestMiddleware) --------------------------------------------
_request: ContextVar[Any] = ContextVar("audit_request", default=None)


class AuditRequestMiddleware:
    """Makes the current request (its id, source IP, verified identity) visible to the audit
    trail; also counts the tenant's API requests (saas.usage)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = _request_id(request)
        token = _request.set(request)
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = request.request_id
            return response
        finally:
            _request.reset(token)


def _request_id(request) -> str:
    from saas.logs import current_request_id  # one id for the logs, the audit trail and X-Request-ID

    if current_request_id():
        return current_request_id()
    lambda_context = request.META.get("lambda.context")
    aws_id = getattr(lambda_context, "aws_request_id", None)
    return str(aws_id or uuid.uuid4().hex)


def _tenant_facing(actor: dict) -> dict:
    """How a platform operator (a request the platform views marked ``acting_as_operator``) appears
    in the trail, and so the exports, of a tenant she acts on: "platform operator", with the request
    id but not her id, email or address. The platform trail keeps who it was, under the same request id."""
    request = _request.get()
    if request is None or not getattr(request, "acting_as_operator", False) or actor.get("actor_type") != "user":
        return actor
    return {"actor_type": "operator", "actor_id": "platform-operator", "request_id": actor.get("request_id")}


def _actor() -> dict:
    ctx = current_context()
    request = _request.get()
    if request is not None:
        identity = getattr(request, "identity", None)
        return {"actor_type": "user",
                "actor_id": getattr(identity, "sub", None) or getattr(ctx, "user_id", None) or "anonymous",
                "actor_email": getattr(identity, "email", None) or None,
                "request_id": getattr(request, "request_id", None),
                "source_ip": request.META.get("REMOTE_ADDR")}
    from celery import current_task  # a worker: the job is the actor, on behalf of who enqueued it

    task_request = getattr(current_task, "request", None) if current_task else None
    if task_request is not None and getattr(task_request, "id", None):
        return {"actor_type": "job", "actor_id": current_task.name,
                "actor_detail": {"job_id": task_request.id,
                                 "on_behalf_of": getattr(ctx, "user_id", None) or getattr(task_request, "user_id", None)}}
    if isinstance(ctx, SystemContext):
        return {"actor_type": "system", "actor_id": "system", "actor_detail": {"reason": ctx.reason}}
    if isinstance(ctx, TenantContext) and ctx.user_id:
        return {"actor_type": "user", "actor_id": ctx.user_id}
    return {"actor_type": "system", "actor_id": "system"}


@contextlib.contextmanager
def acting_for(reason: str) -> Iterator[None]:
    """Label direct calls outside any request/job (management commands, scripts)."""
    token = _acting.set(reason)
    try:
        yield
    finally:
        _acting.reset(token)


_acting: ContextVar[str | None] = ContextVar("audit_acting", default=None)


# --- content ------------------------------------------------------------------------------------
def scrub(value: Any, *, key: str = "") -> Any:
    """Secrets never reach the trail: secret-looking keys are redacted, URL query strings and
    credentials dropped."""
    if any(marker in key.lower() for marker in SECRET_MARKERS):
        return "[redacted]"
    if isinstance(value, Mapping):
        return {str(k): scrub(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key=key) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "[redacted]" if parts.query else "", ""))
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any], fields: Any = None) -> dict:
    """``{field: [before, after]}`` for the fields that changed (all keys of ``after`` by default)."""
    names = fields if fields is not None else after.keys()
    return {name: [before.get(name), after.get(name)] for name in names if before.get(name) != after.get(name)}


def _canonical(value: Any) -> Any:
    """The form hashed: numbers as normalised decimal strings (DynamoDB returns Decimals and drops
    trailing zeros), dict keys sorted, None dropped (DynamoDB does not store it at the top level)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return "n:" + format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def canonical_content(record: Mapping[str, Any]) -> str:
    body = {name: record.get(name) for name in HASHED_FIELDS}
    return json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: Mapping[str, Any]) -> str:
    """HMAC-SHA256 of the record's canonical content under the chain key."""
    return _mac(canonical_content(record))


def retention_seconds(tier: str | None) -> int:
    days = settings.AUDIT_RETENTION_DAYS.get(tier or "basic", settings.AUDIT_RETENTION_DAYS["basic"])
    return int(days) * 86400


# --- heads --------------------------------------------------------------------------------------
class _Heads:
    """Last known head per trail, per process, per pooled table (a process pointed at another table
    must not chain onto this one's trail). A stale entry only costs one cancelled attempt."""

    def __init__(self) -> None:
        self._heads: dict[tuple[str, str], dict | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(trail: str) -> tuple[str, str]:
        return settings.DYNAMODB_TABLE, trail

    def get(self, trail: str) -> tuple[bool, dict | None]:
        with self._lock:
            if self._key(trail) in self._heads:
                return True, self._heads[self._key(trail)]
        return False, None

    def put(self, trail: str, head: dict | None) -> None:
        with self._lock:
            self._heads[self._key(trail)] = head

    def forget(self, trail: str | None = None) -> None:
        with self._lock:
            if trail is None:
                self._heads.clear()
            else:
                self._heads.pop(self._key(trail), None)


heads = _Heads()


def _trail_of(entry: Entry) -> str:
    if entry.platform:
        return PLATFORM
    if entry.tenant_id:
        return entry.tenant_id
    ctx = current_context()
    if not isinstance(ctx, TenantContext):
        raise ValueError(f"audit entry {entry.action!r} names no tenant and there is no tenant context")
    return ctx.tenant_id


def _scoped(trail: str):
    """The context in which a trail's managers build keys: the tenant's own context (kept as is
    when it is the current one), system context for the platform trail."""
    ctx = current_context()
    if trail == PLATFORM:
        if isinstance(ctx, SystemContext):
            return contextlib.nullcontext()
        from saas.tenancy.context import system_context

        return system_context(reason="audit: platform trail")
    if isinstance(ctx, TenantContext) and ctx.tenant_id == trail:
        return contextlib.nullcontext()
    return tenant_context(trail)


def _read_head(trail: str) -> dict | None:
    with _scoped(trail):
        try:
            if trail == PLATFORM:
                return PlatformAuditHead.objects.get(PLATFORM, HEAD_ID, consistent=True)
            return AuditHead.objects.get(HEAD_ID, consistent=True)
        except DoesNotExist:
            return None


def _read_tip(trail: str) -> dict | None:
    """A tenant trail's newest record (``seq``, ``hash``, ``last_expires_at``), or its checkpoint if
    that is further along (the records after it expired)."""
    with _scoped(trail):
        newest = AuditRecord.objects.query(ascending=False, limit=1, consistent=True).items
    checkpoint = _read_head(trail)
    tip = ({"seq": int(newest[0]["seq"]), "hash": newest[0]["hash"], "last_expires_at": newest[0].get("expires_at")}
           if newest else None)
    if checkpoint and (tip is None or int(checkpoint["seq"]) > tip["seq"]):
        tip = {"seq": int(checkpoint["seq"]), "hash": checkpoint["hash"],
               "last_expires_at": checkpoint.get("last_expires_at")}
    return tip


def _head(trail: str, *, refresh: bool) -> dict | None:
    known, head = heads.get(trail)
    if refresh or not known:
        head = _read_head(trail) if trail == PLATFORM else _read_tip(trail)
        heads.put(trail, head)
    return head


# --- building and committing --------------------------------------------------------------------
def _record_body(entry: Entry, trail: str, actor: dict, *, seq: int, prev_hash: str, prev_expires: int | None,
                 tier: str | None) -> dict:
    """Record ``seq`` of ``trail`` for ``entry``, hashed (fields left out when None)."""
    expires_at = int(time.time()) + retention_seconds("platform" if trail == PLATFORM else tier)
    body = {
        "seq": seq, "prev_hash": prev_hash, "prev_expires_at": prev_expires, "at": now_iso(),
        "trail": trail, "tenant_id": entry.tenant_id or (None if trail == PLATFORM else trail),
        **(actor if trail == PLATFORM else _tenant_facing(actor)),
        "action": entry.action, "target_type": entry.target_type, "target_id": str(entry.target_id),
        "changes": scrub(dict(entry.changes)) if entry.changes else None,
        "expires_at": expires_at,
    }
    if entry.detail:
        body["actor_detail"] = {**(body.get("actor_detail") or {}), **scrub(dict(entry.detail))}
    body = {k: v for k, v in body.items() if v is not None}
    body["hash"] = record_hash(body)
    return body


def _record_op(trail: str, body: dict) -> Op:
    with _scoped(trail):
        if trail == PLATFORM:
            # PlatformManager sets tenant-free keys; "tenant_id" here is the subject, not a scope.
            op, _ = PlatformAuditRecord.objects.put_op(PLATFORM, f"{body['seq']:012d}", **body)
        else:
            fields = {k: v for k, v in body.items() if k != "tenant_id"}
            op, _ = AuditRecord.objects.create_op(id=f"{body['seq']:012d}", **fields)
    return op


def _head_op(trail: str, head: dict | None, head_fields: dict) -> tuple[Op | None, dict]:
    """The head advance of a trail (None when a tenant trail's checkpoint does not move) and the
    head to remember once it commits."""
    if trail == PLATFORM:
        with _scoped(trail):
            op, stored = PlatformAuditHead.objects.put_op(
                PLATFORM, HEAD_ID, expected_version=int(head["version"]) if head else None, **head_fields)
        return op, stored
    # Tenant trails: the records themselves serialise appends (seq n can be put once); the
    # checkpoint head only moves every AUDIT_CHECKPOINT_EVERY records, monotonically.
    every = max(1, int(settings.AUDIT_CHECKPOINT_EVERY))
    first = int(head["seq"]) if head else 0
    seq = head_fields["seq"]
    if first == 0 or seq // every != first // every:  # the first record always writes the head
        with _scoped(trail):
            return AuditHead.objects.checkpoint_op(
                HEAD_ID, condition=Attr("seq").lt(seq), **{k: v for k, v in head_fields.items() if v is not None}), \
                head_fields
    return None, head_fields


def _trail_ops(trail: str, entries: list[Entry], actor: dict, *, refresh: bool) -> tuple[list[tuple[str, Op]], dict]:
    """The labelled record puts of one trail and its head advance; returns the new head."""
    head = _head(trail, refresh=refresh)
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


def _build_ops(entries: list[Entry], actor: dict, *, refresh: set[str]) -> tuple[list[tuple[str, Op]], dict[str, dict]]:
    """The labelled puts for ``entries`` and one head advance per trail touched; returns the new heads."""
    ops: list[tuple[str, Op]] = []
    new_heads: dict[str, dict] = {}
    by_trail: dict[str, list[Entry]] = {}
    for entry in entries:
        by_trail.setdefault(_trail_of(entry), []).append(entry)
    for trail, trail_entries in by_trail.items():
        trail_ops, new_heads[trail] = _trail_ops(trail, trail_entries, actor, refresh=trail in refresh)
        ops += trail_ops
    return ops, new_heads


def _actor_now() -> dict:
    actor = _actor()
    reason = _acting.get()
    if reason and actor.get("actor_type") != "user":
        actor = {**actor, "actor_type": "system", "actor_id": "system",
                 "actor_detail": {**(actor.get("actor_detail") or {}), "reason": reason}}
    return actor


class Records:
    """The audit records of some entries as a contributor to a ``UnitOfWork`` (``tx.join(records(...))``):
    they are put in the *same* transaction as the change, so no change exists without its record.

    A cancellation caused only by a chain head (another writer appended first) is retried with a
    fresh head; the unit of work raises any other cancellation naming the caller's operations only.
    """

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._actor: dict | None = None
        self._refresh: set[str] = set()
        self._new_heads: dict[str, dict] = {}

    def operations(self) -> list[tuple[str, Op]]:
        if self._actor is None:
            self._actor = _actor_now()
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


# --- reading ------------------------------------------------------------------------------------
def _filters(*, actor: str | None = None, action: str | None = None, target_type: str | None = None,
             target_id: str | None = None, since: str | None = None, until: str | None = None,
             tenant_id: str | None = None):
    condition = None

    def both(c):
        nonlocal condition
        condition = c if condition is None else condition & c

    if actor:
        both(Attr("actor_id").eq(actor) | Attr("actor_email").eq(actor))
    if action:
        both(Attr("action").begins_with(action[:-1]) if action.endswith("*") else Attr("action").eq(action))
    if target_type:
        both(Attr("target_type").eq(target_type))
    if target_id:
        both(Attr("target_id").eq(target_id))
    if since:
        both(Attr("at").gte(since))
    if until:
        both(Attr("at").lt(until))
    if tenant_id:
        both(Attr("tenant_id").eq(tenant_id))
    return condition


PUBLIC_FIELDS = ("seq", "at", "actor_type", "actor_id", "actor_email", "actor_detail", "action", "target_type",
                 "target_id", "changes", "request_id", "source_ip", "tenant_id", "hash", "prev_hash")


def public_record(item: Mapping[str, Any]) -> dict:
    out = {name: item.get(name) for name in PUBLIC_FIELDS}
    out["seq"] = int(item["seq"])
    return _plain(out)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def list_records(*, cursor: str | None = None, limit: int = 20, **filters: Any) -> Page:
    """The current tenant's trail, newest first. Filtering is done by DynamoDB on the page read;
    to keep pages useful we read on (at most a few round trips) until ``limit`` items are found."""
    return _fill(lambda c, n: AuditRecord.objects.query(ascending=False, filter=_filters(**filters), cursor=c,
                                                        limit=n), cursor=cursor, limit=limit)


def list_platform_records(*, cursor: str | None = None, limit: int = 20, **filters: Any) -> Page:
    """The platform trail, newest first (system context)."""
    return _fill(lambda c, n: PlatformAuditRecord.objects.query(PLATFORM, ascending=False, filter=_filters(**filters),
                                                                cursor=c, limit=n), cursor=cursor, limit=limit)


def _fill(read, *, cursor: str | None, limit: int, max_reads: int = 5) -> Page:
    items: list[dict] = []
    for _ in range(max_reads):
        page = read(cursor, limit - len(items) if items else limit)
        items.extend(page.items)
        cursor = page.next_cursor
        if len(items) >= limit or not cursor:
            break
    return Page(items=items[:limit], next_cursor=cursor)


# --- verification -------------------------------------------------------------------------------
@dataclass
class Verification:
    trail: str
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    problems: list[str] = field(default_factory=list)
    digests_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(*, tenant_id: str | None = None, now: float | None = None,  # noqa: C901 - one check per rule
                 digests: bool = True) -> Verification:
    """Walk a trail oldest first (``tenant_id=None``: the platform trail) and check every link, the
    head and (``digests``) the trail's anchors in the digest objects."""
    trail = tenant_id or PLATFORM
    now = time.time() if now is None else now
    result = Verification(trail=trail)
    previous: dict | None = None
    hashes: dict[int, str] = {}
    cursor = None
    with _scoped(trail):
        while True:
            if trail == PLATFORM:
                page = PlatformAuditRecord.objects.query(PLATFORM, cursor=cursor, limit=100)
            else:
                page = AuditRecord.objects.query(cursor=cursor, limit=100)
            for item in page.items:
                _check_record(item, previous, result, now)
                hashes[int(item["seq"])] = item.get("hash")
                previous = item
            cursor = page.next_cursor
            if not cursor:
                break
        head = _read_head(trail)
        checkpointed = _record_at(trail, int(head["seq"])) if head is not None and trail != PLATFORM else None
    last = int(previous["seq"]) if previous is not None else 0
    if head is None:
        if previous is not None:
            result.problems.append("records exist but the chain head is missing (deleted)")
    elif not hmac.compare_digest(str(head.get("head_mac", "")), head_mac(trail, int(head["seq"]), head["hash"])):
        result.problems.append(f"the chain head (seq {int(head['seq'])}) is not signed with the chain key (forged)")
    elif trail != PLATFORM:
        # Tenant trails keep a checkpoint every AUDIT_CHECKPOINT_EVERY records: the trail must reach
        # it, and the record there must be the one checkpointed.
        if last < int(head["seq"]):
            result.problems.append(f"the trail ends at seq {last} but was checkpointed at seq {int(head['seq'])}: "
                                   "records were removed from the end")
        elif checkpointed is not None and checkpointed.get("hash") != head["hash"]:
            result.problems.append(f"record seq {int(head['seq'])} is not the record that was checkpointed")
    elif previous is None:
        if int(head["seq"]) > 0:
            result.problems.append(f"the head is at seq {int(head['seq'])} but no record is left")
    elif int(head["seq"]) != last or head["hash"] != previous["hash"]:
        result.problems.append(f"the trail ends at seq {last} but the head is at seq "
                               f"{int(head['seq'])}: records were removed from the end or the head was changed")
    if digests:
        _check_anchors(trail, hashes, last, result)
    return result


# --- digests: the trail's anchor outside DynamoDB ------------------------------------------------
DIGEST_VERSION = 1


def _digest_body_mac(body: Mapping[str, Any]) -> str:
    unsigned = {k: v for k, v in body.items() if k != "mac"}
    return _mac("digest|" + json.dumps(unsigned, sort_keys=True, separators=(",", ":")))


def _digest_client():
    from saas import files

    return files.s3_client(), files.bucket_name()


def _digest_keys() -> list[str]:
    """Every digest object's key, oldest first (keys sort by time)."""
    client, bucket = _digest_client()
    keys: list[str] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=settings.AUDIT_DIGEST_PREFIX,
                                                             Delimiter="/")
    for page in pages:
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(keys)


def _read_digest(key: str) -> dict:
    client, bucket = _digest_client()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return json.loads(body.read())
    finally:
        body.close()


def _every_trail() -> Iterator[str]:
    from saas.hooks import hooks

    yield PLATFORM
    tenant_pages, cursor = hooks.require("tenant_pages"), None
    while True:
        page = tenant_pages(cursor)
        for tenant in page.items:
            yield tenant["id"]
        cursor = page.next_cursor
        if not cursor:
            return


def write_digest(*, now: float | None = None) -> str:
    """Write one digest: the tip of every trail, chained to the previous digest, MAC'd with the
    chain key; returns its key. Runs under system context (platform job)."""
    now = time.time() if now is None else now
    keys = _digest_keys()
    previous = _read_digest(keys[-1]) if keys else None
    trails: dict[str, dict] = {}
    for trail in _every_trail():
        tip = _read_head(trail) if trail == PLATFORM else _read_tip(trail)
        if tip:
            trails[trail] = {"seq": int(tip["seq"]), "hash": tip["hash"]}
    stamp = datetime.fromtimestamp(now, timezone.utc)
    key = f"{settings.AUDIT_DIGEST_PREFIX}{stamp:%Y%m%dT%H%M%S}{stamp.microsecond:06d}Z-{uuid.uuid4().hex[:8]}.json"
    body = {"version": DIGEST_VERSION, "created_at": iso(now),
            "previous_key": keys[-1] if keys else None, "previous_mac": previous["mac"] if previous else None,
            "trails": trails}
    body["mac"] = _digest_body_mac(body)
    client, bucket = _digest_client()
    # If-None-Match: S3 refuses to overwrite an existing object (the bucket policy requires it).
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, sort_keys=True).encode(),
                      ContentType="application/json", IfNoneMatch="*")
    logger.info("audit digest %s: %d trails", key, len(trails))
    return key


def _check_anchors(trail: str, hashes: Mapping[int, str], last: int, result: Verification) -> None:
    """Every digest must carry a valid MAC and link to the one before it; every record a digest
    anchored for this trail must still be there, unchanged (unless it expired: it is before the
    trail's first record, which ``_check_record`` already judged)."""
    first = min(hashes) if hashes else last + 1
    previous_key, previous_mac = None, None
    for key in _digest_keys():
        digest = _read_digest(key)
        if not hmac.compare_digest(str(digest.get("mac", "")), _digest_body_mac(digest)):
            result.problems.append(f"digest {key}: not signed with the chain key (forged or edited)")
            continue
        if digest.get("previous_key") != previous_key or digest.get("previous_mac") != previous_mac:
            result.problems.append(f"digest {key}: does not follow digest {previous_key} (digests removed)")
        previous_key, previous_mac = key, digest["mac"]
        anchor = digest.get("trails", {}).get(trail)
        if not anchor:
            continue
        seq = int(anchor["seq"])
        if seq > last:
            result.problems.append(f"digest {key} anchored seq {seq} but the trail ends at seq {last}: "
                                   "records were removed from the end")
        elif seq >= first and hashes.get(seq) != anchor["hash"]:
            result.problems.append(f"record seq {seq} is not the record digest {key} anchored (rewritten)")
    result.digests_checked = previous_key is not None


def _record_at(trail: str, seq: int) -> dict | None:
    try:
        return AuditRecord.objects.get(f"{seq:012d}", consistent=True)
    except DoesNotExist:
        return None


def _check_record(item: dict, previous: dict | None, result: Verification, now: float) -> None:
    seq = int(item["seq"])
    result.records += 1
    result.first_seq = seq if result.first_seq is None else result.first_seq
    result.last_seq = seq
    if item.get("id") != f"{seq:012d}":
        result.problems.append(f"record {item.get('id')}: stored under another position than its seq {seq}")
    if record_hash(item) != item.get("hash"):
        result.problems.append(f"record seq {seq}: content does not match its hash (edited)")
    if previous is None:
        if seq == 1:
            if item.get("prev_hash") != GENESIS:
                result.problems.append("record seq 1: does not start the chain")
        elif not item.get("prev_expires_at") or int(item["prev_expires_at"]) > now:
            result.problems.append(f"records before seq {seq} are missing and had not expired (deleted)")
        return
    if seq != int(previous["seq"]) + 1:
        result.problems.append(f"records {int(previous['seq']) + 1}..{seq - 1} are missing (deleted)")
    if item.get("prev_hash") != previous.get("hash"):
        result.problems.append(f"record seq {seq}: does not link to record seq {int(previous['seq'])}")


def platform_entry(action: str, target_type: str, target_id: str, **kwargs: Any) -> Entry:
    return Entry(action=action, target_type=target_type, target_id=target_id, platform=True, **kwargs)


def tenant_entry_for(tenant_id: str, action: str, target_type: str, target_id: str, **kwargs: Any) -> Entry:
    return Entry(action=action, target_type=target_type, target_id=target_id, tenant_id=tenant_id, **kwargs)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

