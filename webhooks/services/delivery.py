"""Delivery: from the delivery queue to every endpoint, with durable retries and a log.

* ``handle_messages`` (the worker, one SQS batch): each message is the envelope JSON of one event
  (raw SNS -> SQS delivery). In its tenant's context: store the message, create one delivery item
  per (message, endpoint) subscribed to its type — in one conditional transaction, so a message SQS
  delivers twice creates nothing twice — and make the first attempt at once. Disabled endpoints get
  their delivery as ``failed`` (``endpoint_disabled``): recover-since brings it back.
* ``deliver_due`` (the sweep, every active tenant): the pending deliveries whose ``next_attempt_at``
  has come (retries, first attempts of a worker that died, resends, recoveries).
* Each (message, endpoint) pair is its own unit with its own lease (``next_attempt_at`` moved
  ``LEASE_SECONDS`` ahead before the POST), schedule and log; one unreachable endpoint never
  touches another's state. An attempt and its delivery's new state are one transaction.

Schedule (Svix's): immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; after the eighth
failure the delivery is ``failed`` (resend / recover-since bring it back). 2xx within the timeout
= delivered; 3xx and everything else = failure; 410 Gone disables the endpoint; an endpoint failing
for ``WEBHOOKS_DISABLE_AFTER_SECONDS`` (5 days) without a success is disabled, audit-logged,
logged as an operational event, and its tenant's admins are emailed.

Time comes from ``webhooks.clock`` (injectable).
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
from typing import Any

from django.conf import settings

from saas.celery import enqueue_after_commit
from saas.errors import InvalidInput, NotFound
from saas.tenancy import current_tenant_id, tenant_context
from saas.tenancy.context import validate_tenant_id
from saas.tenancy.store import (
    AlreadyExists,
    DoesNotExist,
    TransactionCancelled,
    VersionConflict,
    transact_write,
)

from .. import clock, signing, transport
from ..models import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
    WebhookRecovery,
    WebhookSecret,
)
from . import endpoints as endpoints_service

logger = logging.getLogger("webhooks.delivery")

SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)  # delay before attempt n+1
LEASE_SECONDS = 60  # > the 15 s delivery timeout: an attempt in flight is not taken by the sweep
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-deliver")


def _expires(now: float) -> int:
    return int(now + settings.WEBHOOKS_LOG_RETENTION_SECONDS)


def _ms(now: float) -> int:
    return int(now * 1000)


def delivery_id(message_id: str, endpoint_id: str) -> str:
    return f"{message_id}.{endpoint_id}"


# --- the worker: messages from the delivery queue -------------------------------------------------
def handle_messages(bodies: list[str]) -> list[bool]:
    """Ingest and first-attempt each message body; one bool per body: done (delete it from the
    queue) or not (SQS delivers it again after the visibility timeout). Per tenant of the batch:
    its endpoints read once, the messages and their deliveries stored in one transaction when they
    fit, the secrets read once, then the POSTs side by side, each recorded as soon as it is made."""
    done = [True] * len(bodies)
    by_tenant: dict[str, list[tuple[int, str, str, str]]] = {}
    for index, body in enumerate(bodies):
        try:
            envelope = json.loads(body)
            tenant_id = validate_tenant_id(envelope["tenant_id"])
            by_tenant.setdefault(tenant_id, []).append((index, str(envelope["id"]), str(envelope["type"]), body))
        except (ValueError, KeyError, TypeError):
            logger.error("webhook delivery: a queue message that is not an event envelope was dropped")
    for tenant_id, items in by_tenant.items():
        try:
            with tenant_context(tenant_id):
                _handle_tenant(tenant_id, items)
        except Exception:
            logger.exception("webhook delivery: %d message(s) of tenant %s not handled; SQS delivers them again",
                             len(items), tenant_id)
            for index, *_ in items:
                done[index] = False
    return done


def _handle_tenant(tenant_id: str, items: list[tuple[int, str, str, str]]) -> None:
    endpoints = list(WebhookEndpoint.objects.every())
    work: list[tuple[dict, dict, str]] = []
    for pairs, (_, _, _, body) in zip(_ingest_batch(items, endpoints), items, strict=True):
        work += [(delivery, endpoint, body) for delivery, endpoint in pairs]
    if not work:
        return
    secrets = WebhookSecret.objects.batch_get({endpoint["id"] for _, endpoint, _ in work})

    def run(item):
        delivery, endpoint, body = item
        with tenant_context(tenant_id):
            return _attempt(delivery, endpoint, body, secrets.get(endpoint["id"]))

    for _ in _pool.map(run, work):
        pass


def _ingest_batch(items: list[tuple[int, str, str, str]], endpoints: list[dict]) -> list[list[tuple[dict, dict]]]:
    """``ingest`` for several messages: one transaction when all their items fit in one (100), the
    message-by-message path otherwise or when any of them was stored before."""
    now = clock.now()
    planned = [_plan(message_id, event_type, body, endpoints, now) for _, message_id, event_type, body in items]
    if sum(1 + len(deliveries) for _, deliveries in planned) <= 100:
        try:
            transact_write([op for message_op, deliveries in planned
                            for op in [message_op, *(op for (op, _), _ in deliveries)]])
        except TransactionCancelled:
            pass
        else:
            return [[(delivery, endpoint) for (_, delivery), endpoint in deliveries if endpoint.get("enabled")]
                    for _, deliveries in planned]
    return [_store(message_op, deliveries) for message_op, deliveries in planned]


def _endpoints_for(event_type: str, endpoints: list[dict]) -> list[dict]:
    return [e for e in endpoints if endpoints_service.subscribes_to(e, event_type)]


def _plan(message_id: str, event_type: str, body: str, endpoints: list[dict], now: float):
    """The message's Put and, per endpoint of its type, its delivery's Put (enabled: pending and
    leased to the caller; disabled: failed, ``endpoint_disabled``)."""
    message_op, _ = WebhookMessage.objects.create_op(id=message_id, type=event_type, body=body, received_at_ms=_ms(now),
                                                     expires_at=_expires(now))
    deliveries = []
    for endpoint in _endpoints_for(event_type, endpoints):
        fields: dict[str, Any] = dict(id=delivery_id(message_id, endpoint["id"]), message_id=message_id,
                                      endpoint_id=endpoint["id"], event_type=event_type, attempts=0,
                                      received_at_ms=_ms(now), expires_at=_expires(now))
        if endpoint.get("enabled"):
            fields.update(status=DELIVERY_PENDING, next_attempt_at=int(now + LEASE_SECONDS))
        else:
            fields.update(status=DELIVERY_FAILED, last_error="endpoint_disabled")
        deliveries.append((WebhookDelivery.objects.create_op(**fields), endpoint))
    return message_op, deliveries


def ingest(*, message_id: str, event_type: str, body: str) -> list[tuple[dict, dict]]:
    """Store the message and its deliveries. Returns the (delivery, endpoint) pairs to attempt now,
    already leased to this caller. The message and the first 99 deliveries are one transaction
    (DynamoDB takes 100 items), further ones follow 100 at a time; a queue message delivered again
    finds its items there and creates (and attempts) only what is missing, the sweep owns the rest."""
    return _store(*_plan(message_id, event_type, body, list(WebhookEndpoint.objects.every()), clock.now()))


def _store(message_op: dict, planned: list) -> list[tuple[dict, dict]]:
    pairs: list[tuple[dict, dict]] = []
    chunks = [planned[:99]] + [planned[n:n + 100] for n in range(99, len(planned), 100)]
    for index, chunk in enumerate(chunks):
        ops = ([message_op] if index == 0 else []) + [op for (op, _), _ in chunk]
        try:
            transact_write(ops)
            created = chunk
        except TransactionCancelled:  # seen before (in part): create what is missing, one by one
            created = [entry for entry in chunk if _create_missing(entry[0][0])]
            if index == 0:
                _create_missing(message_op)
        pairs += [(delivery, endpoint) for (_, delivery), endpoint in created if endpoint.get("enabled")]
    return pairs


def _create_missing(op: dict) -> bool:
    try:
        transact_write([op])
    except TransactionCancelled:
        return False
    return True


# --- one attempt -------------------------------------------------------------------------------------
def _attempt(delivery: dict, endpoint: dict, body: str, secret_item: dict | None = None) -> str:
    """POST ``body`` to the endpoint (``delivery`` is leased to us) and record the outcome."""
    now = clock.now()
    if secret_item is None:
        secret_item = WebhookSecret.objects.get(endpoint["id"], consistent=True)
    raw = body.encode()
    headers = signing.headers(endpoints_service.live_secrets(secret_item, now=now), msg_id=delivery["message_id"],
                              timestamp=int(now), body=raw)
    outcome = transport.post(endpoint["url"], body=raw, headers=headers)
    return record(delivery, endpoint, outcome, now=now)


def record(delivery: dict, endpoint: dict, outcome: transport.Outcome, *, now: float) -> str:
    n = int(delivery.get("attempts") or 0) + 1  # every attempt ever (its log id)
    step = int(delivery.get("step") or 0) + 1  # attempts of the current schedule (a resend starts one)
    succeeded = outcome.error is None
    attempt_op, _ = WebhookAttempt.objects.create_op(
        id=f"{delivery['id']}.{n:02d}", message_id=delivery["message_id"], endpoint_id=endpoint["id"],
        event_type=delivery.get("event_type"), at_ms=_ms(now), status_code=outcome.status_code,
        latency_ms=outcome.latency_ms, response=outcome.response, error=outcome.error, succeeded=succeeded,
        expires_at=_expires(now))
    gone = outcome.status_code == 410
    if succeeded:
        change: dict[str, Any] = dict(status=DELIVERY_DELIVERED, next_attempt_at=None, delivered_at_ms=_ms(now))
    elif gone or step >= len(SCHEDULE):
        change = dict(status=DELIVERY_FAILED, next_attempt_at=None)
    else:
        change = dict(status=DELIVERY_PENDING, next_attempt_at=int(now + SCHEDULE[step]))
    update_op, _ = WebhookDelivery.objects.update_op(
        delivery["id"], expected_version=delivery["version"], current=delivery, attempts=n, step=step,
        last_status_code=outcome.status_code, last_error=outcome.error, last_attempt_at_ms=_ms(now), **change)
    try:
        transact_write([attempt_op, update_op])
    except TransactionCancelled:
        logger.warning("webhook delivery %s: lease lost, outcome not recorded", delivery["id"])
        return "lost"
    log = logger.info if succeeded else logger.warning
    log("webhook attempt endpoint=%s message=%s n=%d status=%s error=%s latency_ms=%d", endpoint["id"],
        delivery["message_id"], n, outcome.status_code, outcome.error, outcome.latency_ms)
    _endpoint_health(endpoint, succeeded=succeeded, gone=gone, now=now)
    return change["status"]


def _endpoint_health(endpoint: dict, *, succeeded: bool, gone: bool, now: float) -> None:
    """Track ``failing_since``; disable on 410 or after failing too long (and tell the admins)."""
    for _ in range(3):
        failing_since = endpoint.get("failing_since")
        reason = None
        if gone:
            reason = "The endpoint answered 410 Gone."
        elif not succeeded and failing_since is not None and now - float(failing_since) >= settings.WEBHOOKS_DISABLE_AFTER_SECONDS:
            days = settings.WEBHOOKS_DISABLE_AFTER_SECONDS / 86400
            reason = f"Every delivery failed for {days:g} days."
        try:
            if reason and endpoint.get("enabled"):
                if endpoints_service.disable_endpoint(endpoint, reason=reason) is None:
                    raise VersionConflict("changed meanwhile")
                _tell_admins(endpoint, reason)
            elif succeeded and failing_since is not None:
                WebhookEndpoint.objects.update(endpoint["id"], expected_version=endpoint["version"], current=endpoint,
                                               failing_since=None)
            elif not succeeded and failing_since is None:
                WebhookEndpoint.objects.update(endpoint["id"], expected_version=endpoint["version"], current=endpoint,
                                               failing_since=int(now))
            return
        except (VersionConflict, DoesNotExist):
            try:
                endpoint = WebhookEndpoint.objects.get(endpoint["id"], consistent=True)
            except DoesNotExist:
                return


def _tell_admins(endpoint: dict, reason: str) -> None:
    tenant_id = current_tenant_id()
    logger.error("webhook endpoint disabled tenant=%s endpoint=%s reason=%s", tenant_id, endpoint["id"], reason,
                 extra={"event": "webhook.endpoint_disabled"})
    from tenants.notifications import notify_endpoint_disabled  # the email to the tenant's admins

    notify_endpoint_disabled(tenant_id=tenant_id, endpoint_url=endpoint["url"], reason=reason, endpoint_id=endpoint["id"])


# --- the sweep: due deliveries ------------------------------------------------------------------------
def deliver_due(*, max_deliveries: int = 500) -> int:
    """Attempt the current tenant's pending deliveries that are due; returns how many were attempted."""
    now = clock.now()
    due: list[dict] = []
    cursor = None
    while len(due) < max_deliveries:
        page = WebhookDelivery.objects.query(index="due", value="DUE", between=("0", f"{int(now):012d}.~"),
                                             cursor=cursor, limit=100)
        due += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    if not due:
        return 0
    endpoint_items = WebhookEndpoint.objects.batch_get({d["endpoint_id"] for d in due})
    secret_items = WebhookSecret.objects.batch_get(endpoint_items)
    messages = WebhookMessage.objects.batch_get({d["message_id"] for d in due})
    work = []
    for delivery in due[:max_deliveries]:
        endpoint, message = endpoint_items.get(delivery["endpoint_id"]), messages.get(delivery["message_id"])
        claimed = _claim(delivery, endpoint, message, now)
        if claimed is not None and endpoint is not None and message is not None:  # _claim checked both
            work.append((claimed, endpoint, message["body"], secret_items.get(endpoint["id"])))
    tenant_id = current_tenant_id()

    def run(item):
        with tenant_context(tenant_id):
            return _attempt(*item)

    return sum(1 for _ in _pool.map(run, work))


def _claim(delivery: dict, endpoint: dict | None, message: dict | None, now: float) -> dict | None:
    """Lease a due delivery for one attempt; a delivery whose endpoint or message is gone, or whose
    endpoint is disabled, fails without an attempt."""
    if endpoint is None or message is None or not endpoint.get("enabled"):
        reason = "endpoint_disabled" if endpoint is not None and message is not None else "gone"
        try:
            WebhookDelivery.objects.update(delivery["id"], expected_version=delivery["version"], current=delivery,
                                           status=DELIVERY_FAILED, next_attempt_at=None, last_error=reason)
        except (VersionConflict, DoesNotExist):
            pass
        return None
    try:
        return WebhookDelivery.objects.update(delivery["id"], expected_version=delivery["version"], current=delivery,
                                              next_attempt_at=int(now + LEASE_SECONDS))
    except (VersionConflict, DoesNotExist):
        return None  # another sweep took it


# --- resend and recover ----------------------------------------------------------------------------------
def resend(*, message_id: str, endpoint_id: str) -> dict:
    """Send one message to one endpoint again (a fresh schedule; ``attempts`` keeps counting, so
    the log keeps every attempt), now or at the next sweep."""
    endpoint = WebhookEndpoint.objects.get(endpoint_id)
    message = WebhookMessage.objects.get(message_id)
    now = clock.now()
    try:
        delivery = WebhookDelivery.objects.get(delivery_id(message_id, endpoint_id), consistent=True)
    except DoesNotExist:
        if not endpoints_service.subscribes_to(endpoint, message["type"]):
            raise NotFound("This endpoint does not receive this message's event type.") from None
        try:
            delivery = WebhookDelivery.objects.create(
                id=delivery_id(message_id, endpoint_id), message_id=message_id, endpoint_id=endpoint_id,
                event_type=message["type"], attempts=0, status=DELIVERY_PENDING, next_attempt_at=int(now),
                received_at_ms=int(message.get("received_at_ms") or _ms(now)), expires_at=_expires(now))
        except AlreadyExists:
            delivery = WebhookDelivery.objects.get(delivery_id(message_id, endpoint_id), consistent=True)
        else:
            enqueue_after_commit("webhooks.deliver_due")
            return delivery
    delivery = _requeue(delivery, now)
    enqueue_after_commit("webhooks.deliver_due")
    return delivery


def _requeue(delivery: dict, now: float) -> dict:
    return WebhookDelivery.objects.update(delivery["id"], expected_version=delivery["version"], current=delivery,
                                          status=DELIVERY_PENDING, step=0, next_attempt_at=int(now),
                                          last_error=None)


def start_recovery(*, endpoint_id: str, since: float) -> dict:
    """Queue a recover-since job: every failed delivery of the endpoint whose message arrived
    since ``since`` is sent again. ``since`` in the future or beyond the retention -> 400."""
    now = clock.now()
    if since > now:
        raise InvalidInput(fields={"since": ["The time is in the future."]})
    if since < now - settings.WEBHOOKS_LOG_RETENTION_SECONDS:
        days = settings.WEBHOOKS_LOG_RETENTION_SECONDS // 86400
        raise InvalidInput(fields={"since": [f"Messages are kept {days} days; give a time within them."]})
    WebhookEndpoint.objects.get(endpoint_id)
    job = WebhookRecovery.objects.create(endpoint_id=endpoint_id, since=int(since), status="queued", scanned=0,
                                         requeued=0)
    enqueue_after_commit("webhooks.recover", job["id"])
    return job


def run_recovery(*, recovery_id: str) -> dict:
    """The recover job: walk the endpoint's deliveries whose message arrived since ``since`` (the
    endpoint index), requeue the failed ones, record progress after every page."""
    job = WebhookRecovery.objects.get(recovery_id, consistent=True)
    if job["status"] == "done":
        return job
    now = clock.now()
    start = f"{int(float(job['since']) * 1000):015d}"
    cursor, scanned, requeued = None, 0, 0
    while True:
        page = WebhookDelivery.objects.query(index="endpoint", value=f"EP#{job['endpoint_id']}",
                                             between=(start, "~"), cursor=cursor, limit=100)
        for delivery in page.items:
            scanned += 1
            if delivery.get("status") == DELIVERY_FAILED:
                try:
                    _requeue(delivery, now)
                    requeued += 1
                except (VersionConflict, DoesNotExist):
                    pass
        cursor = page.next_cursor
        job = WebhookRecovery.objects.update(recovery_id, expected_version=job["version"],
                                             status="done" if not cursor else "running", scanned=scanned,
                                             requeued=requeued)
        if not cursor:
            return job
