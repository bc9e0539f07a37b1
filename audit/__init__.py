"""The audit trail: who did what, when, to which object, in every tenant and on the platform.

A service that changes state joins ``audit.records(Entry(...))`` to its ``UnitOfWork``: the record is put
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

Modules: ``models`` (the items, ``Entry``), ``chain`` (key, MACs, canonical content, ``scrub``),
``actors`` (who acts; the request middleware), ``trails`` (heads), ``services`` (writing: ``records``,
``record``), ``selectors`` (reading), ``verification`` (``verify_chain``, digests), ``tasks`` (the
digest job). The core never imports this app: records join a change through the store's
``UnitOfWork`` API (``tx.join(audit.records(...))``).
"""
from .actors import AuditRequestMiddleware, acting_for
from .chain import (
    ChainKeyMissing,
    canonical_content,
    chain_key,
    diff,
    ensure_chain_key,
    head_mac,
    iso,
    record_hash,
    retention_seconds,
    scrub,
)
from .models import (
    GENESIS,
    HASHED_FIELDS,
    HEAD_ID,
    PLATFORM,
    AuditHead,
    AuditRecord,
    Entry,
    PlatformAuditHead,
    PlatformAuditRecord,
    platform_entry,
    tenant_entry_for,
)
from .selectors import PUBLIC_FIELDS, list_platform_records, list_records, public_record
from .services import MAX_ATTEMPTS, Records, record, records
from .trails import heads
from .verification import Verification, verify_chain, write_digest

__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "HEAD_ID",
    "MAX_ATTEMPTS",
    "PLATFORM",
    "PUBLIC_FIELDS",
    "AuditHead",
    "AuditRecord",
    "AuditRequestMiddleware",
    "ChainKeyMissing",
    "Entry",
    "PlatformAuditHead",
    "PlatformAuditRecord",
    "Records",
    "Verification",
    "acting_for",
    "canonical_content",
    "chain_key",
    "diff",
    "ensure_chain_key",
    "head_mac",
    "heads",
    "iso",
    "list_platform_records",
    "list_records",
    "platform_entry",
    "public_record",
    "record",
    "record_hash",
    "records",
    "retention_seconds",
    "scrub",
    "tenant_entry_for",
    "verify_chain",
    "write_digest",
]
