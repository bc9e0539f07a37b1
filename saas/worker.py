"""The worker function: Celery jobs from SQS on Lambda, and the scheduled sweeps.

Two entry points, both called by Zappa's real handler (``zappa.handler.lambda_handler``) from the
worker stage's ``events`` in zappa_settings.json:

* ``handle_sqs(event, context)`` - an SQS event source hands it a batch of kombu messages. Each
  record is decoded (kombu's envelope: base64 JSON with ``headers``/``properties``/``body``) and
  run through Celery's own execution path (``celery.app.trace``, as a worker's ``Request`` does):
  ``TenantTask`` restores the tenant from the headers, task signals fire, ``retry`` publishes
  the next attempt. It returns ``batchItemFailures`` (the event source mapping needs
  ``ReportBatchItemFailures``: ``manage.py configure_worker_events``), so only the records that
  must run again come back, after the queue's visibility timeout; after ``maxReceiveCount``
  receives SQS moves them to the dead-letter queue.
* ``handle_schedule(event, context)`` - EventBridge ``rate(1 minute)``: runs every due task of
  ``CELERY_BEAT_SCHEDULE`` (``is_due``) (the outbox sweep, which also recovers stuck orders and stuck silo
  provisioning; the offboarding and exports sweeps; webhook revalidation) through the same execution
  path, in this invocation.

What happens to a record:

=======================================  ==========================================================
task succeeded / ignored                  done (SQS deletes it)
``Reject(requeue=False)`` - no valid      done, logged once by ``TenantTask``: never retried
tenant header, tenant inactive/missing
``retry(countdown=...)`` / autoretry      done: Celery published the next attempt, which SQS
                                          delays (``DelaySeconds``, see ``saas.celery``)
ETA still in the future (delays > 900 s)  sent on with the rest of the delay, then done
expired (``expires``)                     done, logged
task raised / unknown task / undecodable  failure: back after the visibility timeout, then DLQ
not started (function about to time out)  failure, made visible again at once
=======================================  ==========================================================
"""
from __future__ import annotations

import base64
import json
import logging
import math
import os
import socket
import time
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from celery import states
from celery.app.trace import trace_task
from celery.exceptions import Reject
from django.conf import settings
from kombu.serialization import loads as kombu_loads
from kombu.serialization import prepare_accept_content

from saas import aws
from saas.celery import app, sqs_delay
from saas.fairness import interleave_by_group

logger = logging.getLogger("saas.worker")

DONE, RETRY_LATER = "done", "retry_later"


class PoisonMessage(ValueError):
    """A record that is not a Celery task message we can run."""


# --- SQS --------------------------------------------------------------------------------------------
def handle_sqs(event: dict, context: Any = None) -> dict:
    load_task_modules()
    # Round-robin by tenant (the message group): one tenant's run of exports in a batch does not
    # hold another tenant's job to the end of it (saas.fairness).
    records = interleave_by_group(event.get("Records") or [])
    failures: list[dict] = []
    started = time.monotonic()
    for index, record in enumerate(records):
        if _out_of_time(context):
            unstarted = records[index:]
            logger.warning("worker: %d record(s) not started before the timeout; released", len(unstarted))
            _release(unstarted)
            failures += [{"itemIdentifier": r["messageId"]} for r in unstarted]
            break
        try:
            outcome = run_record(record)
        except Exception:  # our own bug or an outage around the task: this record only, never the batch
            logger.exception("worker: message %s could not be handled", record.get("messageId"))
            outcome = RETRY_LATER
        if outcome == RETRY_LATER:
            failures.append({"itemIdentifier": record["messageId"]})
    logger.info("worker: batch of %d in %.3fs, %d to retry", len(records), time.monotonic() - started, len(failures))
    return {"batchItemFailures": failures}


def run_record(record: dict) -> str:
    """Run one SQS record; DONE (delete it) or RETRY_LATER (leave it to SQS)."""
    message_id = record.get("messageId")
    try:
        message = decode(record["body"])
    except PoisonMessage as exc:
        logger.error("worker: message %s is not a Celery task message (%s); left for the dead-letter queue",
                     message_id, exc)
        return RETRY_LATER
    headers = message["headers"]
    name, task_id = headers["task"], headers["id"]
    if headers.get("eta") and sqs_delay(headers["eta"]) > 0:
        return _send_on(record, delay=sqs_delay(headers["eta"]), task=f"{name}[{task_id}]",
                        group=headers.get("tenant_id"))
    if _expired(headers.get("expires")):
        logger.warning("worker: %s[%s] expired at %s; dropped", name, task_id, headers["expires"])
        return DONE
    task = app.tasks.get(name)
    if task is None:
        logger.error("worker: unknown task %s[%s] (message %s)", name, task_id, message_id)
        return RETRY_LATER  # a newer web stage than this worker: later, or the dead-letter queue
    try:
        args, kwargs, embed = message["body"]
    except (TypeError, ValueError):
        logger.error("worker: %s[%s] has a malformed body", name, task_id)
        return RETRY_LATER
    request = _request(message, record, args, kwargs, embed)
    try:
        _, info, _, _ = trace_task(task, task_id, args, kwargs, request, app=app, hostname=_hostname(),
                                         eager=False, loader=app.loader)
    except Reject as exc:  # raised outside the task body (trace_task re-raises these)
        return RETRY_LATER if exc.requeue else DONE
    if info is None or info.state in (states.IGNORED, states.RETRY):
        return DONE
    if info.state == states.REJECTED:
        return RETRY_LATER if getattr(info.retval, "requeue", False) else DONE
    logger.warning("worker: %s[%s] %s on receive %s; SQS delivers it again", name, task_id, info.state,
                   record.get("attributes", {}).get("ApproximateReceiveCount"))
    return RETRY_LATER


def decode(body: str) -> dict:
    """kombu's SQS envelope -> {"headers", "properties", "body": (args, kwargs, embed)}."""
    try:
        raw = body if body.lstrip().startswith("{") else base64.b64decode(body, validate=True).decode()
        payload = json.loads(raw)
        headers, properties = payload["headers"], payload.get("properties") or {}
        inner = payload["body"]
        if properties.get("body_encoding") == "base64":
            inner = base64.b64decode(inner)
        decoded = kombu_loads(inner, payload["content-type"], payload.get("content-encoding", "utf-8"),
                              accept=prepare_accept_content(app.conf.accept_content))
        if not (isinstance(headers, dict) and headers.get("task") and headers.get("id")):
            raise PoisonMessage("no task/id headers (not Celery message protocol 2)")
    except PoisonMessage:
        raise
    except Exception as exc:  # base64/JSON/UTF-8 errors, missing keys, kombu's ContentDisallowed...
        raise PoisonMessage(f"{type(exc).__name__}: {exc}"[:200]) from None
    return {"headers": headers, "properties": properties, "body": decoded}


def _request(message: dict, record: dict, args, kwargs, embed) -> dict:
    """The task request as Celery's worker builds it (``celery.worker.request.Request``)."""
    headers, properties = message["headers"], message["properties"]
    delivery_info = properties.get("delivery_info") or {}
    receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    request = dict(headers)
    request.update({
        "properties": properties,
        "reply_to": properties.get("reply_to"),
        "correlation_id": properties.get("correlation_id"),
        "hostname": _hostname(),
        "delivery_info": {"exchange": delivery_info.get("exchange"), "routing_key": delivery_info.get("routing_key"),
                          "priority": properties.get("priority"), "redelivered": receives > 1,
                          "sqs_message_id": record.get("messageId")},
        "args": args, "kwargs": kwargs, "is_eager": False,
    }, **(embed or {}))
    return request


def _send_on(record: dict, *, delay: int, task: str, group: str | None = None) -> str:
    """An ETA beyond SQS's 900 s cap: the same message again, delayed by what is left (in its
    tenant's message group, as published)."""
    try:
        aws.client("sqs").send_message(QueueUrl=_queue_url(record["eventSourceARN"]), MessageBody=record["body"],
                                       DelaySeconds=delay, **({"MessageGroupId": group} if group else {}))
    except Exception:
        logger.warning("worker: could not send %s on; SQS delivers it again", task, exc_info=True)
        return RETRY_LATER
    logger.info("worker: %s not due yet; sent on with a %ss delay", task, delay)
    return DONE


def _release(records: list[dict]) -> None:
    """Make records this invocation will not start visible again now (not after the timeout)."""
    for record in records:
        try:
            aws.client("sqs").change_message_visibility(QueueUrl=_queue_url(record["eventSourceARN"]),
                                                        ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)
        except Exception:
            logger.warning("worker: could not release message %s", record.get("messageId"), exc_info=True)


@lru_cache(maxsize=16)
def _queue_url(arn: str) -> str:
    _, _, _, _, account, name = arn.split(":", 5)
    return aws.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _expired(expires: str | None) -> bool:
    if not expires:
        return False
    when = datetime.fromisoformat(expires)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)) < datetime.now(timezone.utc)


def _out_of_time(context: Any) -> bool:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining is not None and remaining() < settings.WORKER_STOP_MARGIN_SECONDS * 1000


# --- the schedule ---------------------------------------------------------------------------------
def handle_schedule(event: dict | None = None, context: Any = None) -> dict:
    """Run every ``CELERY_BEAT_SCHEDULE`` task once, through Celery's execution path. Raises when
    one failed, so the invocation counts as an error (EventBridge retries it; the next minute's
    run does the same work anyway: every sweep is idempotent)."""
    load_task_modules()
    outcomes: dict[str, Any] = {}
    failed = []
    minute = _event_minute(event)
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if not is_due(float(entry["schedule"]), minute=minute):
            continue
        name = entry["task"]
        task_id = str(uuid.uuid4())
        request = {"id": task_id, "task": name, "hostname": _hostname(), "is_eager": False, "args": [], "kwargs": {},
                   "delivery_info": {"exchange": "", "routing_key": "schedule", "redelivered": False}}
        retval, info, _, _ = trace_task(app.tasks[name], task_id, [], {}, request, app=app, hostname=_hostname(),
                                        eager=False, loader=app.loader)
        outcomes[name] = retval if info is None else info.state
        if info is not None and info.state not in (states.RETRY, states.IGNORED):
            failed.append(name)
    logger.info("schedule: %s", outcomes)
    _schedule_within_the_minute()
    if failed:
        raise RuntimeError(f"scheduled task(s) failed: {failed}")
    return outcomes


def _schedule_within_the_minute() -> int:
    """EventBridge fires at most once a minute; a task scheduled more often (the outbox sweep, every
    10 s, which recovers orphaned orders) gets its other runs of this minute as SQS messages delayed
    by 10, 20, ... s (``DelaySeconds``), so on Lambda it runs as often as on a Celery beat and an
    orphaned order is finished ~30 s after it stopped, not ~55 s. Only with the SQS broker (locally
    with Redis, Celery beat does the timing). Best effort: a lost message costs one run."""
    from saas.celery import task_named
    from saas.queues import published_queue_url

    if published_queue_url(app) is None:
        return 0
    sent = 0
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        period = float(entry["schedule"])
        if period >= 60:
            continue
        for k in range(1, int(math.ceil(60 / period))):
            try:
                task_named(entry["task"]).apply_async(countdown=k * period)
                sent += 1
            except Exception:
                logger.warning("could not schedule %s in %.0f s", entry["task"], k * period, exc_info=True)
                return sent
    return sent


def is_due(schedule_seconds: float, *, minute: int) -> bool:
    """EventBridge fires once a minute (its floor): a task scheduled every N >= 2 minutes runs on
    the minutes divisible by N (``webhooks.revalidate`` every 15 min, not every minute); anything
    scheduled at a minute or less runs every time. A period that is not a whole number of minutes
    is rounded *down* (210 s -> every 3 minutes): a sweep may run a little more often than asked,
    never less often (``round`` would make 210 s every 4 minutes, banker's rounding 150 s every 2)."""
    every = max(1, int(schedule_seconds // 60))
    return minute % every == 0


def _event_minute(event: dict | None) -> int:
    """Minutes since the epoch of the scheduled event's own ``time`` (a retried delivery keeps it),
    else now."""
    stamp = (event or {}).get("time")
    if isinstance(stamp, str):
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() // 60)
        except ValueError:
            pass
    return int(time.time() // 60)


# --- process set-up -------------------------------------------------------------------------------
_loaded = False


def load_task_modules() -> None:
    """What a Celery worker does at start: import every task module (autodiscovery)."""
    global _loaded
    if not _loaded:
        import django

        django.setup()  # a no-op after Zappa's handler set Django up
        app.loader.import_default_modules()
        _loaded = True


@lru_cache(maxsize=1)
def _hostname() -> str:
    return f"lambda@{os.environ.get('AWS_LAMBDA_FUNCTION_NAME') or socket.gethostname()}"
