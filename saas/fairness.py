"""A fair share of the job workers between tenants (docs/ARCHITECTURE.md, "Jobs: a fair share per tenant").

One tenant's burst of heavy jobs (40 exports) must not hold another tenant's order confirmation.

SQS broker (AWS): every tenant job is published with ``MessageGroupId=<tenant id>`` on the standard
jobs queue (``saas.celery.sqs_fair_queue_group``). That turns the queue into an SQS *fair queue*: SQS
counts each group's in-flight messages and, once one tenant holds a disproportionate share, hands
consumers the quiet tenants' messages first (no ordering or one-at-a-time rule, as on a FIFO queue:
messages of one group still run in parallel). A message without a group (a platform job) counts as
a tenant of its own. The Lambda worker also runs each batch round-robin by group
(``interleave_by_group``), so a batch of nine exports and one confirmation runs the confirmation second.

Redis broker (local stack, Celery workers):

* bulk jobs (a task declared ``bulk = True``: ``exports.run``) are published at ``BULK_PRIORITY``:
  kombu's Redis transport keeps one list per priority step and a worker pops the most urgent
  non-empty one first, so a job enqueued behind a burst of exports is taken next;
* at most ``BULK_JOBS_PER_TENANT`` bulk jobs of one tenant run at a time, across every worker
  process: a running bulk job holds a *slot*, a Redis key ``SET NX`` with an expiry (a worker killed
  mid-job frees it after ``BULK_SLOT_SECONDS``), released by compare-and-delete. A bulk job that
  finds no free slot is *deferred*: the same job is published again with a countdown (doubling,
  at most ``BULK_DEFER_MAX_SECONDS``) and only then is its delivery acknowledged. Publish before
  acknowledge: a worker dying in between costs a duplicate delivery (jobs are idempotent: an export
  claims its run), never a lost job; a failed publish requeues the delivery. The slots fail open: a
  Redis error runs the job (logged), as the broker being down stops every job anyway.

Written here rather than taken from a library: Celery has per-task rate limits per worker, not
per-tenant concurrency across workers.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Iterable

from django.conf import settings

from saas.queues import CELERY_QUEUE

logger = logging.getLogger("saas.fairness")

# Lower is more urgent on kombu's Redis transport (lists "celery", "celery\x06\x163", ... "\x06\x169",
# popped in that order); the default (no priority) is 0. SQS ignores priorities.
BULK_PRIORITY = 9
DEFERRALS_HEADER = "fair_deferrals"

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def route(name, args, kwargs, options, task=None, **kw) -> dict | None:
    """Celery router (``CELERY_TASK_ROUTES``): bulk tasks go to the one job queue at ``BULK_PRIORITY``."""
    if task is None:
        from celery import current_app

        task = current_app.tasks.get(name)
    if getattr(task, "bulk", False):
        return {"queue": CELERY_QUEUE, "priority": BULK_PRIORITY}
    return None


def slots_apply(app) -> bool:
    """Per-tenant slots need the Redis broker (Lambda on SQS relies on SQS fair queues)."""
    return str(app.conf.broker_write_url or app.conf.broker_url or "").startswith(("redis://", "rediss://"))


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    timeout = float(settings.BROKER_SOCKET_TIMEOUT_SECONDS)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _slot_key(tenant_id: str, index: int) -> str:
    return f"fair:bulk:{tenant_id}:{index}"


class Slot:
    def __init__(self, client, key: str, holder: str):
        self.client, self.key, self.holder = client, key, holder

    def release(self) -> None:
        try:
            self.client.eval(_RELEASE, 1, self.key, self.holder)
        except Exception:  # it expires after BULK_SLOT_SECONDS anyway
            logger.warning("could not release bulk slot %s", self.key, exc_info=True)


class NoSlot(Exception):
    """Every bulk slot of the tenant is held: defer the job."""


def acquire_slot(app, tenant_id: str, holder: str) -> Slot | None:
    """A free bulk slot of ``tenant_id`` for ``holder`` (the task id); raises ``NoSlot`` when all are
    held; None when slots do not apply or Redis failed (the job runs: fail open)."""
    if not slots_apply(app):
        return None
    try:
        client = _client(str(app.conf.broker_write_url or app.conf.broker_url))
        for index in range(max(1, int(settings.BULK_JOBS_PER_TENANT))):
            key = _slot_key(tenant_id, index)
            if client.set(key, holder, nx=True, ex=int(settings.BULK_SLOT_SECONDS)):
                return Slot(client, key, holder)
            if client.get(key) == holder.encode():  # a redelivery of the job that holds it
                return Slot(client, key, holder)
    except Exception:
        logger.warning("bulk slots unavailable; %s runs without one", holder, exc_info=True)
        return None
    raise NoSlot()


def defer_delay(deferrals: int) -> float:
    return min(float(settings.BULK_DEFER_MAX_SECONDS), float(settings.BULK_DEFER_SECONDS) * 2 ** deferrals)


def defer(task, request) -> float:
    """Publish the running job again with a countdown (inside its tenant context, so the copy keeps
    the tenant header); the caller then returns, which acknowledges this delivery. Raises when the
    publish failed (the caller requeues the delivery)."""
    deferrals = int(getattr(request, DEFERRALS_HEADER, None) or 0)
    delay = defer_delay(deferrals)
    task.apply_async(args=tuple(request.args or ()), kwargs=dict(request.kwargs or {}), countdown=delay,
                     headers={DEFERRALS_HEADER: deferrals + 1})
    return delay


# --- SQS -------------------------------------------------------------------------------------------
def interleave_by_group(records: list[dict]) -> list[dict]:
    """A batch of SQS records in round-robin order of their message group (first appearance order;
    within a group, arrival order). A record without a group is a group of its own, as for SQS."""
    groups: dict[Any, list[dict]] = {}
    for index, record in enumerate(records):
        group = (record.get("attributes") or {}).get("MessageGroupId") or ("no group", index)
        groups.setdefault(group, []).append(record)
    return list(_round_robin(groups.values()))


def _round_robin(queues: Iterable[list[dict]]):
    queues = [list(q) for q in queues]
    depth = max((len(q) for q in queues), default=0)
    for level in range(depth):
        for queue in queues:
            if level < len(queue):
                yield queue[level]
