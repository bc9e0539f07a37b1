"""The delivery queue's consumers.

* ``handle_sqs(event, context)``: the worker stage's second SQS event source (zappa_settings.json,
  batch 10). Each record body is an event envelope (raw SNS -> SQS delivery); records that could
  not be stored come back as ``batchItemFailures`` (the mapping needs ``ReportBatchItemFailures``).
* ``drain(seconds)``: the same from a process that polls the queue itself (the local stack's
  ``webhooks.consume`` beat job, the tests, the bench).
"""
from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger("webhooks.worker")


def handle_sqs(event: dict, context: Any = None) -> dict:
    from saas.worker import load_task_modules

    load_task_modules()
    from .services.delivery import handle_messages

    records = event.get("Records") or []
    done = handle_messages([r["body"] for r in records])
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r, ok in zip(records, done, strict=True) if not ok]}


def drain(*, seconds: float = 0.0, wait_seconds: int = 0) -> int:
    """Receive and handle batches of 10 until the queue is empty (and ``seconds`` have passed)."""
    from . import queue
    from .services.delivery import handle_messages

    handled, deadline = 0, time.monotonic() + seconds
    while True:
        messages = queue.receive(max_messages=10, wait_seconds=wait_seconds)
        if messages:
            done = handle_messages([m["body"] for m in messages])
            queue.delete([m["receipt"] for m, ok in zip(messages, done, strict=True) if ok])
            handled += len(messages)
        elif time.monotonic() >= deadline:
            return handled
