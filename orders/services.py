"""Order writes: placing (stock reserved in the same transaction), cancelling, and the pipeline's
status transitions. Keyword-only, typed.

Reservation: one TransactWriteItems holds, per line, ``stock = stock - quantity`` guarded by
``stock >= quantity`` *and* by the price and currency the order was priced at, plus the order, its
idempotency record and its ``order.created`` event. The price guard means an order never commits
against a catalogue it did not see; unlike a version guard it does not make concurrent
reservations of one product fail each other, so only real shortage turns into a 409. Stock can
never go negative: the condition is evaluated by DynamoDB on the item itself.

Pipeline: pending -> confirmed (``orders.confirm`` job) -> fulfilled (``orders.fulfil`` job). Every
transition is a version-guarded update with its event in the same transaction, taken only from the
expected status, so a job that runs twice (redelivery, the sweep) changes nothing the second time.

Broker outage (project rule: a broker or DynamoDB outage -> a clear 503, no lost order or event):
placing an order first checks that the broker is reachable (``saas.celery.broker``: one connect +
PING with a 0.5 s timeout, cached 1.5 s) and otherwise answers 503
``{"code": "service_unavailable", "dependency": "broker"}`` with Retry-After, having written nothing.
If the broker dies between the DynamoDB commit and the enqueue, the order is still 201 ``pending``:
its event stays pending in the outbox and the order stays in the sparse ``open`` index, and the
periodic sweep (``outbox.sweep``) publishes the one and re-enqueues the other once the broker is back.
DynamoDB down -> StoreUnavailable -> 503 ``dynamodb``, and nothing was committed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from django.conf import settings

import audit as audit_trail
from audit import Entry
from products.models import Product, ProductRecord, format_price
from saas.celery import broker, enqueue_after_commit
from saas.errors import Conflict, InvalidInput, ServiceUnavailable
from saas.events import ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_CREATED, ORDER_FULFILLED
from saas.outbox import dispatch, event_op
from saas.tenancy import get_context
from saas.tenancy.store import DoesNotExist, StoreUnavailable, TransactionCancelled, UnitOfWork, now_iso, transact_write
from usage import services as usage

from . import selectors
from .models import (
    CANCELLABLE_STATUSES,
    CANCELLED,
    CONFIRMED,
    FULFILLED,
    IDEMPOTENCY_TTL_SECONDS,
    PENDING,
    IdempotencyRecord,
    Order,
    OrderRecovery,
    new_order_id,
    public_order,
)

logger = logging.getLogger("orders")

MAX_ATTEMPTS = 8  # transaction retries when concurrent writers touch the same items


class InsufficientStock(Conflict):
    code = "insufficient_stock"

    def __init__(self, short: list[dict]):
        ids = ", ".join(line["product_id"] for line in short)
        super().__init__(f"Not enough stock for product(s) {ids}; nothing was reserved.", extra={"lines": short})


class ConcurrentUpdate(Conflict):
    code, default_message = "concurrent_update", "These items are being changed by other requests; try again."


class OrderOutcomeUnknown(ServiceUnavailable):
    """The order's transaction may or may not have committed, and DynamoDB cannot tell us now."""

    def __init__(self, order_id: str):
        check = f"/api/v1/orders/{order_id}"
        super().__init__(
            "dynamodb", f"The data store stopped answering while order {order_id} was being saved, so it may or "
                        f"may not have been placed. GET {check} once the service answers: 200 means it was "
                        f"placed, 404 means it was not and you may place it again. Send an Idempotency-Key "
                        f"header to make retries safe without checking.",
            "outcome_unknown", extra={"order_id": order_id, "check": check})


@dataclass(frozen=True)
class PlacedOrder:
    order: dict
    replayed: bool  # True when an Idempotency-Key matched an earlier identical request


# --- placing --------------------------------------------------------------------------------------
def place_order(*, lines: list[dict], idempotency_key: str | None = None) -> PlacedOrder:
    """Price ``lines`` [{product_id, quantity}] from the catalogue and reserve their stock.

    Raises InvalidInput (unknown product, mixed currencies), InsufficientStock (409),
    Conflict ``idempotency_key_reused`` (409), ServiceUnavailable ``broker`` (503)."""
    ctx = get_context()
    request_hash = _request_hash(lines)
    record_id = _idempotency_record_id(ctx.user_id, idempotency_key) if idempotency_key is not None else None
    expired_record = None
    if record_id is not None:
        record = _find_record(record_id)
        if record is not None and _is_live(record):
            return _replay(record, request_hash)
        expired_record = record  # TTL deletion is lazy: reuse the item, conditionally

    if not broker.reachable():
        raise ServiceUnavailable("broker", "The order queue is unavailable, so the order was not placed; "
                                           "try again shortly.")

    for attempt in range(MAX_ATTEMPTS):
        products = _catalogue(lines)
        priced, currency, total = _price(lines, products)
        order_put, order = Order.objects.create_op(
            id=new_order_id(), user_id=ctx.user_id, status=PENDING, currency=currency, total=total, lines=priced)
        event_put, event = event_op(ORDER_CREATED, public_order(order))
        tx = UnitOfWork()
        for line in lines:
            tx.update(f"stock:{line['product_id']}", _reserve_op(line, products[line["product_id"]]))
        tx.put("order", order_put)
        tx.put("event", event_put)
        if record_id is not None:
            tx.add("idempotency", _record_op(record_id, expired_record, request_hash=request_hash,
                                             order_id=order["id"], user_id=ctx.user_id))
        tx.join(audit_trail.records(Entry(
            action="order.placed", target_type="order", target_id=order["id"],
            changes={"status": [None, PENDING], "total": [None, total], "currency": [None, currency],
                     "lines": [None, [{"product_id": line["product_id"], "quantity": line["quantity"]} for line in priced]]})))
        try:
            _commit_order(tx, order_id=order["id"])
        except TransactionCancelled as exc:
            if record_id is not None and exc.failed("idempotency"):
                # A concurrent request with the same key committed first: answer as it did.
                record = _find_record(record_id)
                if record is not None and _is_live(record):
                    return _replay(record, request_hash)
                expired_record = record
            _pause(attempt)  # shortage, a price change or a concurrent transaction: re-read and re-check
            continue
        break
    else:
        raise ConcurrentUpdate()

    dispatch([event])
    usage.add("orders_placed")
    enqueue_after_commit("orders.confirm", order["id"])
    logger.info("order placed: %s lines=%d total=%s %s", order["id"], len(priced), total, currency)
    return PlacedOrder(order=order, replayed=False)


def _commit_order(tx: UnitOfWork, *, order_id: str) -> None:
    """Commit the order's unit of work; a transient DynamoDB failure cannot create a second order.

    The operations are built once and retried in process (``ORDERS_COMMIT_ATTEMPTS``): the first
    attempt carries a ClientRequestToken (botocore's own retries of it are idempotent), and every
    attempt creates the *same* order id under ``attribute_not_exists``, so at most one commits.
    When an attempt's answer is lost, a consistent read of the order tells whether it committed.
    When DynamoDB stays unreachable: ServiceUnavailable ``dynamodb`` if no attempt can have reached
    it (nothing was saved), else OrderOutcomeUnknown, which names the order to check."""
    maybe_reached = False
    started = time.monotonic()
    for attempt in range(settings.ORDERS_COMMIT_ATTEMPTS):
        try:
            tx.commit(token=order_id if attempt == 0 else None)
            return
        except StoreUnavailable as exc:
            maybe_reached = maybe_reached or not isinstance(exc.__cause__, (EndpointConnectionError,
                                                                          ConnectTimeoutError))
            logger.warning("order %s: commit attempt %d failed (%s)", order_id, attempt + 1, exc)
        except TransactionCancelled as exc:
            if attempt and exc.failed("order") and _order_exists(order_id):
                return  # an earlier attempt committed; its answer was lost
            raise
        if time.monotonic() - started >= settings.ORDERS_COMMIT_DEADLINE_SECONDS:
            break  # DynamoDB is not answering: tell the client now (it gets the order id to check)
        if maybe_reached and _order_exists(order_id):
            return
        if attempt + 1 < settings.ORDERS_COMMIT_ATTEMPTS:
            time.sleep(0.05 * 2 ** attempt)
    if maybe_reached:
        raise OrderOutcomeUnknown(order_id)
    raise ServiceUnavailable("dynamodb", "The data store is unavailable, so the order was not placed; "
                                         "try again shortly.")


def _order_exists(order_id: str) -> bool:
    try:
        Order.objects.get(order_id, consistent=True)
        return True
    except (DoesNotExist, StoreUnavailable):
        return False


def quote_order(*, lines: list[dict]) -> dict:
    """What ``place_order`` would charge for ``lines`` right now, without reserving anything:
    ``{"lines": [...priced], "currency", "total"}``. Raises as ``place_order`` would for unknown
    products, mixed currencies (ValidationError) and shortage (InsufficientStock)."""
    priced, currency, total = _price(lines, _catalogue(lines))
    return {"lines": priced, "currency": currency, "total": total}


def _catalogue(lines: list[dict]) -> dict[str, ProductRecord]:
    """The lines' products by id, read consistently; another tenant's product is simply not found."""
    found = Product.objects.batch_get(line["product_id"] for line in lines)
    return {product_id: ProductRecord.from_item(item) for product_id, item in found.items()}


def _price(lines: list[dict], products: dict[str, ProductRecord]) -> tuple[list[dict], str, str]:
    """Server-side prices from the catalogue; 400 for unknown products or mixed currencies, 409 for
    shortage. Another tenant's product is simply not found in this tenant's partition."""
    errors = {index: {"product_id": ["Unknown product."]}
              for index, line in enumerate(lines) if line["product_id"] not in products}
    if errors:
        raise InvalidInput(fields={"lines": errors})
    currencies = sorted({products[line["product_id"]].currency for line in lines})
    if len(currencies) > 1:
        raise InvalidInput(fields={"lines": [f"All lines must share one currency; these products are priced in "
                                         f"{', '.join(currencies)}."]})
    short = [{"index": index, "product_id": line["product_id"], "requested": line["quantity"],
              "available": products[line["product_id"]].stock}
             for index, line in enumerate(lines) if products[line["product_id"]].stock < line["quantity"]]
    if short:
        raise InsufficientStock(short)
    priced, total = [], Decimal("0")
    for line in lines:
        product = products[line["product_id"]]
        line_total = product.price * line["quantity"]
        total += line_total
        priced.append({"product_id": product.id, "sku": product.sku, "name": product.name,
                       "quantity": line["quantity"], "unit_price": format_price(product.price),
                       "line_total": format_price(line_total)})
    return priced, currencies[0], format_price(total)


def _reserve_op(line: dict, product: ProductRecord) -> dict:
    return Product.objects.increment_op(
        product.id, deltas={"stock": -line["quantity"]},
        condition=Attr("stock").gte(line["quantity"]) & Attr("price").eq(product.price)
        & Attr("currency").eq(product.currency))


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.01 * 2 ** attempt, 0.3)))


# --- idempotency ----------------------------------------------------------------------------------
def _request_hash(lines: list[dict]) -> str:
    canonical = json.dumps([{"product_id": line["product_id"], "quantity": line["quantity"]} for line in lines],
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _idempotency_record_id(user_id: str | None, key: str) -> str:
    """Keys are scoped to the user (and, by the partition, the tenant); hashed so no caller text
    reaches a DynamoDB key."""
    return hashlib.sha256(f"{user_id or '-'}\x00{key}".encode()).hexdigest()


def _find_record(record_id: str) -> dict | None:
    try:
        return IdempotencyRecord.objects.get(record_id, consistent=True)
    except DoesNotExist:
        return None


def _is_live(record: dict) -> bool:
    return record["expires_at"] > time.time()


def _record_op(record_id: str, expired: dict | None, **fields) -> dict:
    fields["expires_at"] = int(time.time()) + IDEMPOTENCY_TTL_SECONDS
    if expired is None:
        return IdempotencyRecord.objects.create_op(id=record_id, **fields)[0]
    return IdempotencyRecord.objects.update_op(record_id, expected_version=expired["version"], **fields)[0]


def _replay(record: dict, request_hash: str) -> PlacedOrder:
    if record["request_hash"] != request_hash:
        raise Conflict("This Idempotency-Key was already used with a different request.", "idempotency_key_reused")
    order = Order.objects.get(record["order_id"], consistent=True)
    # The client retried: perhaps because the first answer or the first job was lost. Restart the
    # pipeline of an order still open (the jobs are idempotent, so a duplicate changes nothing).
    _enqueue_next_step(order)
    return PlacedOrder(order=order, replayed=True)


def _enqueue_next_step(order: dict) -> bool:
    if order["status"] == PENDING:
        return enqueue_after_commit("orders.confirm", order["id"])
    if order["status"] == CONFIRMED:
        return enqueue_after_commit("orders.fulfil", order["id"])
    return False


# --- cancelling -----------------------------------------------------------------------------------
def cancel_order(*, order_id: str) -> dict:
    """Pending or confirmed -> cancelled, releasing the stock in the same transaction.

    Members may cancel their own orders (someone else's is a 404), managers any. Raises Conflict
    ``invalid_status`` (409) for other statuses."""
    ctx = get_context()
    for attempt in range(MAX_ATTEMPTS):
        order = selectors.get_order(order_id, consistent=True)
        if order["status"] not in CANCELLABLE_STATUSES:
            raise Conflict(f"A {order['status']} order cannot be cancelled.", "invalid_status",
                           extra={"status": order["status"]})
        # A product deleted since the order was placed has no stock left to return to.
        listed = Product.objects.batch_get(line["product_id"] for line in order["lines"])
        order_update, cancelled = Order.objects.update_op(
            order_id, expected_version=order["version"], current=order, status=CANCELLED, cancelled_at=now_iso(),
            cancelled_by=ctx.user_id)
        releases = {line["product_id"]: Product.objects.increment_op(line["product_id"], deltas={"stock": line["quantity"]})
                    for line in order["lines"] if line["product_id"] in listed}
        event_put, event = event_op(ORDER_CANCELLED, public_order(cancelled))
        tx = UnitOfWork()
        tx.update("order", order_update)
        for product_id, release in releases.items():
            tx.update(f"stock:{product_id}", release)
        tx.put("event", event_put)
        tx.join(audit_trail.records(Entry(action="order.cancelled", target_type="order", target_id=order_id,
                                          changes={"status": [order["status"], CANCELLED]})))
        try:
            tx.commit()
        except TransactionCancelled:
            _pause(attempt)  # the pipeline moved it, or a product changed: look again
            continue
        dispatch([event])
        logger.info("order cancelled: %s by %s", order_id, ctx.user_id)
        return cancelled
    raise ConcurrentUpdate()


# --- the pipeline (called by orders.tasks, inside the job's tenant context) -----------------------
def confirm_order(*, order_id: str) -> dict | None:
    """pending -> confirmed. Returns the order as it now is (None if it does not exist)."""
    return _advance(order_id, PENDING, CONFIRMED, ORDER_CONFIRMED, "confirmed_at")


def fulfil_order(*, order_id: str) -> dict | None:
    """confirmed -> fulfilled, after the (simulated) fulfilment work."""
    order = _find_order(order_id)
    if order is None or order["status"] != CONFIRMED:
        return order
    _simulate_fulfilment(order)
    return _advance(order_id, CONFIRMED, FULFILLED, ORDER_FULFILLED, "fulfilled_at")


def _simulate_fulfilment(order: dict) -> None:
    logger.info("fulfilment started: order %s", order["id"])
    time.sleep(settings.ORDERS_FULFILMENT_DELAY_SECONDS)


def _find_order(order_id: str) -> dict | None:
    try:
        return Order.objects.get(order_id, consistent=True)
    except DoesNotExist:
        logger.warning("order %s not found in tenant %s", order_id, get_context().tenant_id)
        return None


def _advance(order_id: str, from_status: str, to_status: str, event_type: str, stamp: str) -> dict | None:
    for attempt in range(MAX_ATTEMPTS):
        order = _find_order(order_id)
        if order is None or order["status"] != from_status:
            return order  # already done, or cancelled meanwhile: nothing to do
        update, advanced = Order.objects.update_op(order_id, expected_version=order["version"], current=order,
                                                   status=to_status, **{stamp: now_iso()})
        event_put, event = event_op(event_type, public_order(advanced))
        tx = UnitOfWork()
        tx.update("order", update)
        tx.put("event", event_put)
        tx.join(audit_trail.records(Entry(action=f"order.{to_status}", target_type="order", target_id=order_id,
                                          changes={"status": [from_status, to_status]})))
        try:
            tx.commit()
        except TransactionCancelled:
            _pause(attempt)
            continue
        dispatch([event])
        logger.info("order %s: %s -> %s", order_id, from_status, to_status)
        return advanced
    raise ConcurrentUpdate()


# --- recovery (the sweep) --------------------------------------------------------------------------
def recover_stuck_orders(*, older_than: float | None = None, max_orders: int = 1000, now: float | None = None) -> int:
    """Re-enqueue the next job of open orders untouched for ``older_than`` seconds (a lost enqueue,
    a broker restart that dropped its queue, a worker killed mid-job). The jobs are idempotent, but
    a queue that is merely backed up must not be flooded with copies: each re-enqueue of an order
    is noted (``OrderRecovery``, claimed conditionally so concurrent sweeps enqueue once) and the
    next one waits twice as long (``older_than`` x 2^n, at most ``ORDERS_RECOVERY_MAX_BACKOFF_SECONDS``)
    unless the order moved meanwhile."""
    older_than = settings.ORDERS_STUCK_AFTER_SECONDS if older_than is None else older_than
    now = time.time() if now is None else now
    cursor, seen, enqueued = None, 0, 0
    while seen < max_orders:
        page = Order.objects.query(index="open", value="OPEN", cursor=cursor, limit=100)
        stuck = [order for order in page.items if order["updated_at"] <= _iso(now - older_than)]
        notes = OrderRecovery.objects.batch_get([order["id"] for order in stuck]) if stuck else {}
        for order in stuck:
            if _claim_recovery(order, notes.get(order["id"]), older_than=older_than, now=now):
                enqueued += _enqueue_next_step(order)
        seen += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    if enqueued:
        logger.info("sweep re-enqueued %d open order(s) in tenant %s", enqueued, get_context().tenant_id)
    return enqueued


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _claim_recovery(order: dict, note: dict | None, *, older_than: float, now: float) -> bool:
    stored = int(note["count"]) if note else 0
    moved = note is not None and order["updated_at"] > note["at"]  # it progressed since: start over
    count = 0 if moved or note is None else stored
    wait = min(settings.ORDERS_RECOVERY_MAX_BACKOFF_SECONDS, older_than * 2 ** count)
    last = order["updated_at"] if note is None or moved else note["at"]
    if last > _iso(now - wait):
        return False
    claim = OrderRecovery.objects.checkpoint_op(
        order["id"], condition=Attr("count").eq(stored), count=count + 1, at=_iso(now),
        status=order["status"], expires_at=int(now) + 86400)
    try:
        transact_write([claim])
    except TransactionCancelled:
        return False  # another sweep claimed it first
    return True
