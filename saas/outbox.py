"""Transactional outbox: events are written in the same DynamoDB transaction as the change.

A service that changes state adds ``event_op(...)`` to its ``transact_write`` list, so the event
exists if and only if the change does. After commit it calls ``dispatch(events)`` to ask the relay
to publish at once; if that enqueue fails the event simply stays pending and the periodic sweep
publishes it. Events are published at least once; their ``id`` is stable across retries so
subscribers can de-duplicate.

Pending events sit in a sparse per-tenant index (``GSI2``), so the sweep queries only what is
pending; once sent, the index keys are removed.

Relay (``deliver``): claim the event with a conditional update (``attempts`` + 1 and
``next_attempt_at`` = now + back-off, which doubles as a lease so the relay task and the sweep do
not publish it at the same time), publish, then mark it sent conditionally. A failed publish leaves
it pending until ``next_attempt_at``; nothing is ever given up on. The Celery tasks that call this
live in ``orders.tasks`` (``outbox.relay``, ``outbox.sweep``).
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Callable

from django.conf import settings
from django.utils.module_loading import import_string

from saas import usage
from saas.tenancy import current_tenant_id
from saas.tenancy.store import (
    DoesNotExist,
    Index,
    TenantModel,
    VersionConflict,
    now_iso,
)
from webhooks.events import EVENT_TYPES

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


# The relay is registered by the app that owns delivery (orders.tasks wires Celery); services only
# call dispatch(), so they never import the task layer.
_dispatcher: Callable[[list[dict]], None] | None = None


def set_dispatcher(dispatcher: Callable[[list[dict]], None]) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def dispatch(events: list[dict]) -> None:
    """Best effort 'publish now'. Failure is logged, never raised: the sweep catches up."""
    if not events or _dispatcher is None:
        return
    try:
        _dispatcher(events)
    except Exception:  # broker down etc.: the events are safe in DynamoDB, pending
        logger.warning("outbox dispatch deferred to sweep for tenant %s (%d events)",
                       current_tenant_id(), len(events), exc_info=True)


# --- relay ----------------------------------------------------------------------------------------
PUBLISHER = "webhooks.services.publish_event"  # (*, event) -> "published" | "skipped"; raises on failure


def publish(event: dict) -> str:
    """Hand one event to webhook delivery. The one place that names the publisher."""
    return import_string(PUBLISHER)(event=event)


def retry_delay(attempts: int) -> float:
    """Seconds until the next attempt after ``attempts`` tries (exponential, capped)."""
    return min(settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.OUTBOX_RETRY_MAX_SECONDS)


def deliver(event: dict, *, now: float | None = None) -> str:
    """Publish one event of the current tenant at least once and mark it sent.

    Returns "published" / "skipped" (sent), "failed" (still pending, retried later), "not_due"
    (waiting for its back-off), "taken" (another relay claimed or sent it) or "sent" (already)."""
    now = time.time() if now is None else now
    if event.get("status") != PENDING:
        return "sent"
    if float(event.get("next_attempt_at") or 0) > now:
        return "not_due"
    attempts = int(event.get("attempts") or 0) + 1
    try:
        claimed = OutboxEvent.objects.update(event["id"], expected_version=event["version"], attempts=attempts,
                                             next_attempt_at=int(now + retry_delay(attempts)))
    except (VersionConflict, DoesNotExist):
        return "taken"
    try:
        outcome = publish(claimed)
    except Exception as exc:
        logger.warning("outbox publish failed: tenant=%s event=%s type=%s attempt=%d retry_in=%ss",
                       claimed["tenant_id"], claimed["id"], claimed["type"], attempts, retry_delay(attempts),
                       exc_info=True)
        try:
            OutboxEvent.objects.update(claimed["id"], expected_version=claimed["version"], last_error=repr(exc)[:500])
        except VersionConflict:
            pass
        return "failed"
    try:
        # Sent events expire (the table's TTL deletes them): storage per tenant stays bounded.
        OutboxEvent.objects.update(claimed["id"], expected_version=claimed["version"], current=claimed,
                                   status=SENT, outcome=outcome, sent_at=now_iso(),
                                   expires_at=int(now + settings.OUTBOX_SENT_RETENTION_SECONDS))
    except VersionConflict:
        pass  # our lease ran out and another relay took over; it will mark it
    if outcome == "published":
        usage.add("events_published")
    return outcome


def relay(event_ids: list[str]) -> dict[str, int]:
    """Deliver the given events of the current tenant (the fast path right after a commit)."""
    outcomes: dict[str, int] = {}
    for event_id in event_ids:
        try:
            event = OutboxEvent.objects.get(event_id, consistent=True)
        except DoesNotExist:
            outcome = "missing"
        else:
            outcome = deliver(event)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def relay_pending(*, max_events: int = 1000) -> dict[str, int]:
    """Deliver the current tenant's due pending events, oldest first (the sweep's safety net)."""
    outcomes: dict[str, int] = {}
    cursor, seen = None, 0
    while seen < max_events:
        page = OutboxEvent.objects.query(index="pending", value="PENDING", cursor=cursor, limit=100)
        for event in page.items:
            outcome = deliver(event)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        seen += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    return outcomes
