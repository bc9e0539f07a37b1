"""Transactional outbox: events are written in the same DynamoDB transaction as the change.

A service that changes state adds ``event_op(...)`` to its ``transact_write`` list, so the event
exists if and only if the change does. After commit it calls ``dispatch(events)`` to ask the relay
to publish at once; if that enqueue fails the event simply stays pending and the periodic sweep
publishes it. Events are published at least once; their ``id`` is stable across retries so
subscribers can de-duplicate.

Pending events sit in a sparse per-tenant index (``GSI2``), so the sweep queries only what is
pending; once sent, the index keys are removed.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Callable

from saas.tenancy import current_tenant_id
from saas.tenancy.store import Index, TenantModel, now_iso

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


def event_op(event_type: str, data: dict[str, Any]) -> tuple[dict, dict]:
    """A Put for one pending event in the current tenant, to go into the caller's transaction."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return OutboxEvent.objects.create_op(
        id=new_event_id(), type=event_type, data=data, status=PENDING, attempts=0, event_created_at=now_iso())


def envelope(event: dict) -> dict:
    """The message subscribers receive: stable ``id`` across retries."""
    return {"id": event["id"], "type": event["type"], "tenant_id": event["tenant_id"],
            "created_at": event.get("event_created_at") or event["created_at"], "data": event["data"]}


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
