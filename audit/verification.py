"""Checking the trail: ``verify_chain`` walks a trail and its digests; ``write_digest`` anchors every
trail's tip outside DynamoDB (the files bucket)."""
from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping

from django.conf import settings

from .chain import head_mac, iso, mac, record_hash
from .models import GENESIS, PLATFORM, AuditRecord, PlatformAuditRecord
from .trails import read_head, read_tip, record_at, scoped

logger = logging.getLogger("saas.audit")


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


def verify_chain(*, tenant_id: str | None = None, now: float | None = None, digests: bool = True) -> Verification:
    """Walk a trail oldest first (``tenant_id=None``: the platform trail) and check every link, the
    head and (``digests``) the trail's anchors in the digest objects."""
    trail = tenant_id or PLATFORM
    now = time.time() if now is None else now
    result = Verification(trail=trail)
    with scoped(trail):
        previous, hashes = _walk(trail, result, now)
        head = read_head(trail)
        checkpointed = record_at(trail, int(head["seq"])) if head is not None and trail != PLATFORM else None
    last = int(previous["seq"]) if previous is not None else 0
    _check_head(trail, head, previous, checkpointed, result)
    if digests:
        _check_anchors(trail, hashes, last, result)
    return result


def _walk(trail: str, result: Verification, now: float) -> tuple[dict[str, Any] | None, dict[int, str | None]]:
    """Check every record of the trail against the one before it; returns the last record and
    every record's hash by seq."""
    previous: dict[str, Any] | None = None
    hashes: dict[int, str | None] = {}
    cursor = None
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
            return previous, hashes


def _check_head(trail: str, head: dict[str, Any] | None, previous: dict[str, Any] | None,
                checkpointed: dict[str, Any] | None, result: Verification) -> None:
    """The head must exist once there are records, carry its MAC, and agree with the trail's end."""
    last = int(previous["seq"]) if previous is not None else 0
    if head is None:
        if previous is not None:
            result.problems.append("records exist but the chain head is missing (deleted)")
    elif not hmac.compare_digest(str(head.get("head_mac", "")), head_mac(trail, int(head["seq"]), head["hash"])):
        result.problems.append(f"the chain head (seq {int(head['seq'])}) is not signed with the chain key (forged)")
    elif trail != PLATFORM:
        _check_checkpoint(head, last, checkpointed, result)
    elif previous is None:
        if int(head["seq"]) > 0:
            result.problems.append(f"the head is at seq {int(head['seq'])} but no record is left")
    elif int(head["seq"]) != last or head["hash"] != previous["hash"]:
        result.problems.append(f"the trail ends at seq {last} but the head is at seq "
                               f"{int(head['seq'])}: records were removed from the end or the head was changed")


def _check_checkpoint(head: dict[str, Any], last: int, checkpointed: dict[str, Any] | None,
                      result: Verification) -> None:
    """Tenant trails keep a checkpoint every AUDIT_CHECKPOINT_EVERY records: the trail must reach
    it, and the record there must be the one checkpointed."""
    if last < int(head["seq"]):
        result.problems.append(f"the trail ends at seq {last} but was checkpointed at seq {int(head['seq'])}: "
                               "records were removed from the end")
    elif checkpointed is not None and checkpointed.get("hash") != head["hash"]:
        result.problems.append(f"record seq {int(head['seq'])} is not the record that was checkpointed")


# --- digests: the trail's anchor outside DynamoDB ------------------------------------------------
DIGEST_VERSION = 1


def _digest_body_mac(body: Mapping[str, Any]) -> str:
    unsigned = {k: v for k, v in body.items() if k != "mac"}
    return mac("digest|" + json.dumps(unsigned, sort_keys=True, separators=(",", ":")))


def _digest_client() -> tuple[Any, str]:
    from saas import buckets

    return buckets.s3_client(), buckets.bucket_name()


def _digest_keys() -> list[str]:
    """Every digest object's key, oldest first (keys sort by time)."""
    client, bucket = _digest_client()
    keys: list[str] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=settings.AUDIT_DIGEST_PREFIX,
                                                             Delimiter="/")
    for page in pages:
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(keys)


def _read_digest(key: str) -> dict[str, Any]:
    client, bucket = _digest_client()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        digest: dict[str, Any] = json.loads(body.read())
        return digest
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
    trails: dict[str, dict[str, Any]] = {}
    for trail in _every_trail():
        tip = read_head(trail) if trail == PLATFORM else read_tip(trail)
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


def _check_anchors(trail: str, hashes: Mapping[int, str | None], last: int, result: Verification) -> None:
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



def _check_record(item: dict[str, Any], previous: dict[str, Any] | None, result: Verification, now: float) -> None:
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

