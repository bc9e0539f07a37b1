"""Transactional outbox: events are written in the same DynamoDB transaction as the change.

A service that changes state adds ``event_op(...)`` to its unit of work (``tx.put("event", op)``,
``saas.tenancy.store.UnitOfWork``), so the event exists if and only if the change does. After commit it calls ``dispatch(events)`` to ask the relay
to publish at once; if that enqueue fails the event simply stays pending and the periodic sweep
publishes it. Events are published at least once; their ``id`` is stable across retries so
subscribers can de-duplicate.

Pending events sit in a sparse per-tenant index (``GSI2``), so the sweep queries only what is
pending; once sent, the index keys are removed.

Relay (``deliver``): claim the event with a conditional update (``attempts`` + 1 and
``next_attempt_at`` = now + back-off, which doubles as a lease so two relays, e.g. the sweep and a
retried job, do not publish it at the same time), publish, then mark it sent conditionally. A failed
publish leaves it pending until ``next_attempt_at``; nothing is ever given up on. Batches: one
transaction claims up to ``BATCH_SIZE`` events, the webhooks app publishes them with SNS
PublishBatch, one transaction marks them.

Fast path (``relay``, the job ``dispatch`` enqueues at commit): an event never attempted is
published without a claim and its mark counts the attempt, so a first try costs one write instead
of two. Nothing else is racing it then except, rarely, a sweep that read the event in the same
instant; that can publish it twice, which at-least-once delivery allows (the ``id`` is stable), and
only one of the two marks is written. The Celery jobs that call this are the core's (``saas.tasks``: ``outbox.relay``,
``outbox.sweep``); delivery itself is the webhooks app's, registered as ``saas.hooks`` ``publish_events``.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Iterable

from django.conf import settings

from saas.celery import enqueue_after_commit
from saas.events import EVENT_TYPES
from saas.hooks import hooks
from saas.tenancy.store import (
    DoesNotExist,
    Index,
    TenantModel,
    TransactionCancelled,
    VersionConflict,
    now_iso,
    transact_write,
)

logger = logging.getLogger("saas.outbox")

PENDING, SENT = "pending", "sent"


class OutboxEvent(TenantModel):
    entity = "OUTBOX"
    indexes = {
        "pending": Index(gsi="GSI2", key=lambda e: ("PENDING", e["id"]) if e.get("status") == PENDING else None),
    }


def new_event_id() -> str:
    """Time-ordered (ms prefix) and unique, so the pending index reads oldest first."""
    return f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:16]}"


def event_op(event_type: str, data: dict[str, Any], *, sequence: int | None = None) -> tuple[dict, dict]:
    """A Put for one pending event in the current tenant, to go into the caller's transaction.

    ``sequence`` orders the events of one aggregate (``data["id"]``): by default the aggregate's
    version after the change, which every change bumps by one in the same transaction, so
    subscribers can put an unordered, at-least-once delivery back in order. A deletion passes the
    deleted version + 1."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    if sequence is None:
        sequence = int(data.get("version") or 0)
    return OutboxEvent.objects.create_op(
        id=new_event_id(), type=event_type, data=data, status=PENDING, attempts=0, event_created_at=now_iso(),
        aggregate_id=data.get("id"), sequence=sequence)


def envelope(event: dict) -> dict:
    """The message subscribers receive: stable ``id`` across retries; ``aggregate_id`` and its
    ``sequence`` (increasing per aggregate) to order what arrives out of order."""
    data = event["data"]
    return {"id": event["id"], "type": event["type"], "tenant_id": event["tenant_id"],
            "created_at": event.get("event_created_at") or event["created_at"],
            "aggregate_id": event.get("aggregate_id") or data.get("id"),
            "sequence": int(event.get("sequence") or data.get("version") or 0), "data": data}


def dispatch(events: list[dict]) -> None:
    """Best effort 'publish now': enqueue ``outbox.relay`` for these events. Never raises: if the
    broker refuses, the events are safe in DynamoDB, pending, and the sweep publishes them."""
    if events:
        enqueue_after_commit("outbox.relay", [event["id"] for event in events])


# --- relay ----------------------------------------------------------------------------------------
def publish_batch(events: list[dict]) -> list[Any]:
    """Hand claimed events to webhook delivery (the ``publish_events`` hook): one outcome per event,
    ``"published"`` / ``"skipped"``, or the exception that event met."""
    return hooks.require("publish_events")(events)


def retry_delay(attempts: int) -> float:
    """Seconds until the next attempt after ``attempts`` tries (exponential, capped)."""
    return min(settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.OUTBOX_RETRY_MAX_SECONDS)


def deliver(event: dict, *, now: float | None = None) -> str:
    """Publish one event of the current tenant at least once and mark it sent.

    Returns "published" / "skipped" (sent), "failed" (still pending, retried later), "not_due"
    (waiting for its back-off), "taken" (another relay claimed or sent it) or "sent" (already)."""
    return deliver_batch([event], now=now)[event["id"]]


def deliver_batch(events: list[dict], *, now: float | None = None) -> dict[str, str]:
    """``deliver`` for many events of the current tenant at once: the due ones are claimed in one
    transaction, published in SNS batches, and marked sent (or failed) in one more transaction.
    Returns each event's outcome by id."""
    now = time.time() if now is None else now
    outcomes: dict[str, str] = {}
    due = []
    for event in events:
        if event.get("status") != PENDING:
            outcomes[event["id"]] = "sent"
        elif float(event.get("next_attempt_at") or 0) > now:
            outcomes[event["id"]] = "not_due"
        else:
            due.append(event)
    for start in range(0, len(due), BATCH_SIZE):
        outcomes.update(_deliver_claimed(_claim(due[start:start + BATCH_SIZE], now), now))
    return outcomes


# Events per claim/mark transaction (DynamoDB allows 100 items in one TransactWriteItems).
BATCH_SIZE = 100


def _claim(events: list[dict], now: float) -> dict[str, dict | None]:
    """Claim events for one attempt: ``attempts`` + 1 and ``next_attempt_at`` = now + back-off, which
    doubles as a lease so the relay job and the sweep do not publish the same event at once. One
    version-guarded transaction; an event someone else claimed or sent meanwhile fails its guard,
    and the rest are claimed again without it. Returns id -> claimed item (None: taken)."""
    claims = {event["id"]: OutboxEvent.objects.update_op(event["id"], expected_version=event["version"],
                                                         current=event, **_next_attempt(event, now))
              for event in events}
    taken = _commit_each_possible(claims)
    return {event_id: (None if event_id in taken else claimed) for event_id, (_, claimed) in claims.items()}


def _commit_each_possible(ops: dict[str, tuple[dict, dict]]) -> set[str]:
    """Commit the version-guarded updates in one transaction, dropping those whose guard fails
    (retried without them, a few times; then one by one). Returns the ids that were not written."""
    pending = dict(ops)
    failed: set[str] = set()
    for _ in range(3):
        if not pending:
            return failed
        try:
            transact_write({event_id: op for event_id, (op, _) in pending.items()})  # labelled by event id
            return failed
        except TransactionCancelled as exc:
            lost = set(exc.failed_labels())
            if not lost:
                break  # a concurrent transaction, not a guard: fall back to one write per event
            failed |= lost
            pending = {event_id: op for event_id, op in pending.items() if event_id not in lost}
    for event_id, (op, _) in pending.items():
        try:
            transact_write([op])
        except (TransactionCancelled, VersionConflict, DoesNotExist):
            failed.add(event_id)
    return failed


def _next_attempt(event: dict, now: float) -> dict:
    """The fields that count one more attempt and set its back-off (the claim's lease)."""
    attempts = int(event.get("attempts") or 0) + 1
    return {"attempts": attempts, "next_attempt_at": int(now + retry_delay(attempts))}


def _deliver_claimed(claimed: dict[str, dict | None], now: float) -> dict[str, str]:
    outcomes = {event_id: "taken" for event_id, item in claimed.items() if item is None}
    batch = [item for item in claimed.values() if item is not None]
    if batch:
        outcomes.update(_publish_and_mark(batch, now))
    return outcomes


def _publish_and_mark(batch: list[dict], now: float, *, unclaimed: bool = False) -> dict[str, str]:
    """Publish ``batch`` and mark each event sent, or failed (pending, retried after its back-off),
    in one transaction. ``unclaimed``: nobody counted this attempt yet, so the mark does."""
    outcomes: dict[str, str] = {}
    try:
        results = publish_batch(batch)
    except Exception as exc:  # the whole batch failed (SNS down): every event is retried
        results = [exc] * len(batch)
    marks: dict[str, tuple[dict, dict]] = {}
    for stored, result in zip(batch, results, strict=True):
        attempt = _next_attempt(stored, now) if unclaimed else {}
        event = {**stored, **attempt}
        if isinstance(result, BaseException):
            logger.warning("outbox publish failed: tenant=%s event=%s type=%s attempt=%s retry_in=%ss: %r",
                           event["tenant_id"], event["id"], event["type"], event["attempts"],
                           retry_delay(event["attempts"]), result)
            outcomes[event["id"]] = "failed"
            marks[event["id"]] = OutboxEvent.objects.update_op(event["id"], expected_version=event["version"],
                                                               current=event, last_error=repr(result)[:500],
                                                               **attempt)
        else:
            outcomes[event["id"]] = result
            # Sent events expire (the table's TTL deletes them): storage per tenant stays bounded.
            marks[event["id"]] = OutboxEvent.objects.update_op(
                event["id"], expected_version=event["version"], current=event, status=SENT, outcome=result,
                sent_at=now_iso(), expires_at=int(now + settings.OUTBOX_SENT_RETENTION_SECONDS), **attempt)
    _commit_each_possible(marks)  # a lost guard: our lease ran out and another relay took over; it marks it
    published = sum(1 for outcome in outcomes.values() if outcome == "published")
    if published and hooks.count_usage:
        hooks.count_usage("events_published", published)
    return outcomes


def _count(outcomes: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def relay(event_ids: list[str], *, now: float | None = None) -> dict[str, int]:
    """Deliver the given events of the current tenant (the fast path right after a commit): one
    BatchGetItem; events never attempted are published and marked without a claim (module doc),
    the others go through ``deliver_batch`` (claim, back-off)."""
    now = time.time() if now is None else now
    found = OutboxEvent.objects.batch_get(event_ids)
    events = [found[event_id] for event_id in dict.fromkeys(event_ids) if event_id in found]
    first_tries = [event for event in events if event.get("status") == PENDING and not event.get("attempts")]
    outcomes = deliver_batch([event for event in events if event.get("status") != PENDING or event.get("attempts")],
                             now=now)
    for start in range(0, len(first_tries), BATCH_SIZE):
        outcomes.update(_publish_and_mark(first_tries[start:start + BATCH_SIZE], now, unclaimed=True))
    return _count([*outcomes.values(), *("missing" for event_id in set(event_ids) if event_id not in found)])


def relay_pending(*, max_events: int = 1000) -> dict[str, int]:
    """Deliver the current tenant's due pending events, oldest first (the sweep's safety net)."""
    outcomes: list[str] = []
    cursor, seen = None, 0
    while seen < max_events:
        page = OutboxEvent.objects.query(index="pending", value="PENDING", cursor=cursor, limit=100)
        delivered = deliver_batch(page.items)
        outcomes += [delivered[event["id"]] for event in page.items]
        seen += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    return _count(outcomes)
