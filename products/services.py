"""Catalogue writes. Each change is one DynamoDB transaction holding the product, its SKU
uniqueness record (``ProductSku``) and its outbox event, so the three can never disagree.

Concurrency: every update/delete is guarded by the product's version. The version checked is
the one named by ``If-Match`` (its ETag ``"<id>:<version>"``, 412 when it is not current), else
``expected_version`` (the ``version`` a client sent in the body), else the version just read.
If-Match-less writes are allowed for convenience (scripts, admin tools); they still never
overwrite a change committed between our read and our write (409 ``version_conflict``), and
clients that need protection across their own read-modify-write cycle send If-Match.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlencode

from django.conf import settings
from django.utils.http import parse_etags

import audit as audit_trail
import files
from audit import Entry, diff
from saas import buckets, limits
from saas import idempotency as idempotency_records
from saas.errors import Conflict, InvalidInput, PreconditionFailed
from saas.events import PRODUCT_CREATED, PRODUCT_DELETED, PRODUCT_UPDATED
from saas.idempotency import Claim
from saas.outbox import dispatch, event_op
from saas.tenancy import tenant_context
from saas.tenancy.keys import UPLOADS_ROOT, storage_key
from saas.tenancy.store import (
    DoesNotExist,
    Op,
    TransactionCancelled,
    UnitOfWork,
    VersionConflict,
    new_id,
    transact_write,
)
from usage import services as usage

from .models import (
    LEGACY_MAX_WORDS,
    WORDS_FORMAT,
    Product,
    ProductSku,
    ProductWord,
    ProductWordCount,
    UsedUpload,
    legacy_word_id,
    name_words,
    product_etag,
    public_product,
    search_key,
    word_counter_keys,
    word_id,
)
from .selectors import get_product

logger = logging.getLogger("products")

WRITABLE_FIELDS = ("sku", "name", "description", "price", "currency", "stock", "category")


class DuplicateSku(Conflict):
    code = "duplicate_sku"

    def __init__(self, sku: str):
        super().__init__(f"A product with SKU {sku} already exists.",
                         fields={"sku": ["A product with this SKU already exists."]})


def _stored(fields: Mapping[str, Any]) -> dict:
    """Normalise validated fields for storage: price as a 2-place Decimal (stock arrives as an int)."""
    out = dict(fields)
    if "price" in out:
        out["price"] = Decimal(out["price"]).quantize(Decimal("0.01")).copy_abs()  # copy_abs: no "-0.00"
    return out


def _commit(tx: UnitOfWork, *, sku: str | None = None, audit: Entry | None = None) -> None:
    """Commit a product's unit of work (with its audit record) and translate a cancellation.

    Labels: "product", "new_sku", "old_sku", "event", "quota", "upload", "word:<n>", "counter:<n>".
    A failed quota is the plan's product limit; a failed new-SKU condition is a duplicate SKU; any
    other failure (version guard, a concurrent transaction) means someone else changed it.
    """
    if audit is not None:
        tx.join(audit_trail.records(audit))
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if exc.failed("quota"):
            raise limits.exceeded("products") from exc
        if exc.failed("new_sku"):
            raise DuplicateSku(sku or "") from exc
        if exc.failed("upload"):
            raise InvalidUpload("This upload was already attached; start a new upload to change the image.") from exc
        raise VersionConflict("product was changed by someone else") from exc


WORD_FIELDS = ("name", "sku", "category", "price")  # what the word index items carry
Deltas = dict[str, dict[str, int]]  # counter id -> attribute -> change


def _word_puts(product: Mapping[str, Any], words_version: int) -> list[dict]:
    """The word index items of ``product`` (see ``ProductWord``), as create operations."""
    return [ProductWord.objects.create_op(id=word_id(word, product["name"], product["id"], words_version), word=word,
                                          product_id=product["id"], name_key=search_key(product["name"]),
                                          sku=product["sku"], category=product.get("category"),
                                          price=product["price"])[0]
            for word in name_words(product["name"])]


def _word_deletes(product: Mapping[str, Any]) -> list[dict]:
    """Delete operations for the product's current word items (none before it was first indexed;
    the first format's ids for a product not reindexed since)."""
    if not product.get("words_version"):
        return []
    version = int(product["words_version"])
    if product.get("words_format") == WORDS_FORMAT:
        return [ProductWord.objects.delete_op(word_id(word, product["name"], product["id"], version), expected_version=1)
                for word in name_words(product["name"])]
    return [ProductWord.objects.delete_op(legacy_word_id(word, product["id"], version), expected_version=1)
            for word in name_words(product["name"], LEGACY_MAX_WORDS)]


def _counted(product: Mapping[str, Any], sign: int) -> Deltas:
    """What ``product`` adds to the counters (``sign`` -1: takes away); nothing for a product whose
    words were never counted (the first index format)."""
    if sign < 0 and product.get("words_format") != WORDS_FORMAT:
        return {}
    attributes = ["n"] + ([f"c:{product['category']}"] if product.get("category") else [])
    deltas: Deltas = {}
    for key in word_counter_keys(product["name"]):
        for attribute in attributes:
            deltas.setdefault(key, {})
            deltas[key][attribute] = deltas[key].get(attribute, 0) + sign
    return deltas


def _merged(*changes: Deltas) -> Deltas:
    """Sum of counter changes, without the ones that cancel out (a price change moves no counter)."""
    total: Deltas = {}
    for change in changes:
        for key, attributes in change.items():
            for attribute, delta in attributes.items():
                total.setdefault(key, {})
                total[key][attribute] = total[key].get(attribute, 0) + delta
    return {key: kept for key, attributes in total.items() if (kept := {a: d for a, d in attributes.items() if d})}


def _counter_ops(deltas: Deltas) -> list[dict]:
    """One ADD per counter item (a transaction may name an item once, so changes are merged first)."""
    return [ProductWordCount.objects.add_op(key, deltas=deltas[key]) for key in sorted(deltas)]


def reindex_ops(current: Mapping[str, Any], product: Mapping[str, Any], words_version: int) -> list[dict]:
    """Move the word index from ``current`` (as stored) to ``product`` (as it will be): delete the old
    items, write the new ones and change the counters, all for the caller's transaction."""
    return [*_word_deletes(current), *_word_puts(product, words_version),
            *_counter_ops(_merged(_counted(current, -1), _counted(product, +1)))]


def _guard_version(current: Mapping[str, Any], *, if_match: str | None, expected_version: int | None) -> int:
    """The version the write must find. If-Match wins; a stale one is 412 (RFC 9110 strong match)."""
    if if_match is not None:
        etags = parse_etags(if_match)
        if etags != ["*"] and product_etag(current) not in etags:
            raise PreconditionFailed()
        return current["version"]
    return expected_version if expected_version is not None else current["version"]


def create_product(*, sku: str, name: str, price: Decimal | str, currency: str, stock: int = 0,
                   description: str = "", category: str | None = None,
                   idempotency: Claim | None = None) -> dict:
    """Create a product and claim its SKU. Raises DuplicateSku (409). ``idempotency``: the key's
    record joins the transaction (``saas.idempotency``)."""
    product_id = new_id()
    fields = _stored({"sku": sku, "name": name, "description": description, "price": price,
                      "currency": currency, "stock": stock, "category": category})
    sku_op, _ = ProductSku.objects.create_op(id=sku, product_id=product_id)
    product_op, product = Product.objects.create_op(id=product_id, **fields, words_version=1, words_format=WORDS_FORMAT)
    event_put, event = event_op(PRODUCT_CREATED, public_product(product))
    tx = UnitOfWork()
    tx.put("new_sku", sku_op)
    tx.put("product", product_op)
    tx.put("event", event_put)
    tx.update("quota", limits.reserve_op("products"))
    tx.extend("word", _word_puts(product, 1))
    tx.extend("counter", _counter_ops(_counted(product, +1)))
    idempotency_records.join(tx, idempotency, product)
    _commit(tx, sku=sku, audit=Entry(action="product.created", target_type="product", target_id=product_id,
                                     changes=diff({}, fields)))
    dispatch([event])
    return product


# A transaction holds at most 100 items: per product its SKU claim, the product, its outbox event
# and its word index items; the batch's word counters (shared words merged); then one quota take,
# the audit record and its chain head (3).
BATCH_SIZE = 32
MAX_BATCH_ITEMS = 96


def create_products(*, products: list[Mapping[str, Any]]) -> list[dict]:
    """Create many products (fields as the serializer validates them for ``create_product``),
    at most ``BATCH_SIZE`` (fewer when their word index items fill it) to a transaction, each batch
    whole or not at all. Raises ``DuplicateSku`` naming the SKU, or the plan limit, for the first
    batch that fails; the batches before it stay created."""
    created: list[dict] = []
    pending = [dict(fields) for fields in products]
    while pending:
        tx = UnitOfWork()
        events: list[dict] = []
        made: list[dict] = []
        counters: dict[str, dict[str, int]] = {}
        while pending and len(made) < BATCH_SIZE:
            product_id = new_id()
            stored = _stored({"description": "", "category": None, "stock": 0, **pending[0]})
            words = len(name_words(stored["name"]))
            counted = _merged(counters, _counted({**stored, "id": product_id}, +1))
            if made and len(tx) + 3 + words + len(counted) > MAX_BATCH_ITEMS:
                break
            pending.pop(0)
            counters = counted
            sku_op, _ = ProductSku.objects.create_op(id=stored["sku"], product_id=product_id)
            product_op, product = Product.objects.create_op(id=product_id, **stored, words_version=1,
                                                            words_format=WORDS_FORMAT)
            event_put, event = event_op(PRODUCT_CREATED, public_product(product))
            tx.put(f"new_sku:{stored['sku']}", sku_op)
            tx.put(f"product:{product_id}", product_op)
            tx.put(f"event:{product_id}", event_put)
            tx.extend(f"word:{product_id}", _word_puts(product, 1))
            events.append(event)
            made.append(product)
        tx.extend("counter", _counter_ops(counters))
        tx.update("quota", limits.reserve_op("products", count=len(made)))
        tx.join(audit_trail.records(Entry(
            action="product.imported", target_type="product", target_id=made[0]["id"],
            changes={"count": [None, len(made)], "skus": [None, f"{made[0]['sku']} … {made[-1]['sku']}"]})))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if exc.failed("quota"):
                raise limits.exceeded("products") from exc
            duplicate = next((label.split(":", 1)[1] for label in exc.failed_labels("new_sku:")), None)
            if duplicate:
                raise DuplicateSku(duplicate) from exc
            raise
        dispatch(events)
        created += made
    return created


def update_product(*, product_id: str, changes: Mapping[str, Any], if_match: str | None = None,
                   expected_version: int | None = None) -> dict:
    """Apply ``changes`` (validated writable fields; ``category=None`` removes it).

    A change of SKU releases the old one and claims the new one in the same transaction.
    Unchanged values are not written; a request that changes nothing writes nothing (no event).
    """
    unknown = set(changes) - set(WRITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    current = get_product(product_id, consistent=True)
    version = _guard_version(current, if_match=if_match, expected_version=expected_version)
    changed = {k: v for k, v in _stored(changes).items() if current.get(k) != v}
    if not changed:
        if version != current["version"]:
            raise VersionConflict("product was changed by someone else")
        return current

    # The next word set is numbered after the current one (never after the version the caller expects:
    # a stale caller must fail on the version guard, not reuse the current set's ids).
    words_version = int(current.get("words_version") or 0) + 1
    reindex = ({"words_version": words_version, "words_format": WORDS_FORMAT}
               if set(WORD_FIELDS) & set(changed) else {})
    update_op, product = Product.objects.update_op(product_id, expected_version=version, current=current,
                                                   **changed, **reindex)
    tx = UnitOfWork()
    tx.update("product", update_op)
    if reindex:
        tx.extend("word", reindex_ops(current, product, words_version))
    if "sku" in changed:
        new_sku_op, _ = ProductSku.objects.create_op(id=changed["sku"], product_id=product_id)
        tx.delete("old_sku", ProductSku.objects.delete_op(current["sku"], expected_version=1))
        tx.put("new_sku", new_sku_op)
    event_put, event = event_op(PRODUCT_UPDATED, public_product(product))
    tx.put("event", event_put)
    _commit(tx, sku=changed.get("sku"),
            audit=Entry(action="product.updated", target_type="product", target_id=product_id,
                        changes=diff(current, changed)))
    dispatch([event])
    return product


def delete_product(*, product_id: str, if_match: str | None = None, expected_version: int | None = None) -> None:
    """Delete a product and release its SKU."""
    current = get_product(product_id, consistent=True)
    version = _guard_version(current, if_match=if_match, expected_version=expected_version)
    event_put, event = event_op(PRODUCT_DELETED, public_product(current), sequence=current["version"] + 1)
    tx = UnitOfWork()
    tx.delete("product", Product.objects.delete_op(product_id, expected_version=version))
    tx.delete("old_sku", ProductSku.objects.delete_op(current["sku"], expected_version=1))
    tx.put("event", event_put)
    tx.update("quota", limits.release_op("products"))
    tx.extend("word", _word_deletes(current))
    tx.extend("counter", _counter_ops(_counted(current, -1)))
    _commit(tx, audit=Entry(action="product.deleted", target_type="product", target_id=product_id,
                        changes=diff(current, {}, fields=WRITABLE_FIELDS)))
    dispatch([event])
    if current.get("image_key"):
        _discard_image(current["image_key"])


# --- product image (S3, browser upload through a presigned POST) -------------------------------------
UPLOAD_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class InvalidUpload(InvalidInput):
    def __init__(self, message: str):
        super().__init__(fields={"upload_id": [message]})


def image_key(product_id: str, upload_id: str) -> str:
    """Where an attached image is kept. Built from the context's tenant, the product and our own
    ids: never from input, and never a key an upload form can write to."""
    return storage_key("products", product_id, "images", f"{upload_id}-{uuid.uuid4().hex[:8]}")


def upload_key(product_id: str, upload_id: str) -> str:
    """Where the browser's upload lands (the form's key): the pending-uploads prefix."""
    return storage_key("products", product_id, upload_id, root=UPLOADS_ROOT)


def start_image_upload(*, product_id: str, return_to: str | None = None) -> dict:
    """A presigned POST for one image of one product: exact key, size range, ``image/*`` type.
    ``return_to`` (browser uploads): S3 redirects there with ``?upload=<upload id>`` afterwards."""
    get_product(product_id)  # 404 for a missing or foreign product
    pending = files.pending_upload_bytes()
    if pending >= settings.FILES_PENDING_UPLOADS_MAX_BYTES:
        raise Conflict(f"Your unattached uploads already hold {pending} bytes; attach them or wait until they "
                       f"expire (after {buckets.UPLOADS_EXPIRE_DAYS} day) before starting another.",
                       code="too_many_pending_uploads", extra={"pending_upload_bytes": pending})
    upload_id = uuid.uuid4().hex
    redirect = f"{return_to}?{urlencode({'upload': upload_id})}" if return_to else None
    form = files.presigned_post(key=upload_key(product_id, upload_id), max_bytes=settings.PRODUCT_IMAGE_MAX_BYTES,
                                content_type_prefix="image/", redirect=redirect)
    return {"upload_id": upload_id, "url": form["url"], "fields": form["fields"],
            "max_bytes": settings.PRODUCT_IMAGE_MAX_BYTES, "content_types": sorted(files.IMAGE_SIGNATURES),
            "expires_in": settings.FILES_UPLOAD_EXPIRE_SECONDS}


def attach_image(*, product_id: str, upload_id: str, if_match: str | None = None) -> dict:
    """Check the uploaded object (present, within the size limit, really an image by its first bytes)
    and make it the product's image: copied to a key of its own (the form cannot write there), the
    upload deleted, the form marked used in the same transaction as the product (one attach per
    form). A rejected upload is deleted; a replaced image is deleted."""
    if not isinstance(upload_id, str) or not UPLOAD_ID_PATTERN.fullmatch(upload_id):
        raise InvalidUpload("Not a valid upload id.")
    current = get_product(product_id, consistent=True)
    version = _guard_version(current, if_match=if_match, expected_version=None)
    if _upload_used(upload_id):
        raise InvalidUpload("This upload was already attached; start a new upload to change the image.")
    source = upload_key(product_id, upload_id)
    stored = files.head(source)
    if stored is None:
        raise InvalidUpload("Nothing was uploaded for this upload id.")
    content_type = files.sniff_image(files.first_bytes(source)) if stored.size else None
    if stored.size > settings.PRODUCT_IMAGE_MAX_BYTES or content_type is None:
        files.delete(source)
        raise InvalidUpload(f"The file must be a PNG, JPEG, GIF or WebP image of at most "
                            f"{settings.PRODUCT_IMAGE_MAX_BYTES} bytes.")
    key = image_key(product_id, upload_id)
    files.copy(source, key, content_type=content_type)
    used_op, _ = UsedUpload.objects.create_op(
        id=upload_id, product_id=product_id,
        expires_at=int(time.time()) + settings.FILES_UPLOAD_EXPIRE_SECONDS + 86400)
    try:
        product = _change_image(current, version, "product.image_attached",
                                {"image_key": key, "image_type": content_type, "image_size": stored.size},
                                extra={"upload": used_op})
    except Exception:
        _discard_image(key)  # our copy; the product keeps its image
        raise
    _discard_image(source)
    usage.add("stored_bytes", stored.size)
    if current.get("image_key"):
        _discard_image(current["image_key"])
    return product


def _upload_used(upload_id: str) -> bool:
    try:
        UsedUpload.objects.get(upload_id, consistent=True)
        return True
    except DoesNotExist:
        return False


def remove_image(*, product_id: str, if_match: str | None = None) -> dict:
    current = get_product(product_id, consistent=True)
    version = _guard_version(current, if_match=if_match, expected_version=None)
    if not current.get("image_key"):
        return current
    product = _change_image(current, version, "product.image_removed",
                            {"image_key": None, "image_type": None, "image_size": None})
    _discard_image(current["image_key"])
    return {k: v for k, v in product.items() if v is not None}


def _change_image(current: dict, version: int, action: str, changes: dict,
                  extra: Mapping[str, Op] | None = None) -> dict:
    """Write the product's image fields with its ``product.updated`` event and audit record."""
    update_op, product = Product.objects.update_op(current["id"], expected_version=version, current=current,
                                                   **changes)
    event_put, event = event_op(PRODUCT_UPDATED, public_product(product))
    tx = UnitOfWork()
    tx.update("product", update_op)
    tx.put("event", event_put)
    for label, op in (extra or {}).items():
        tx.add(label, op)
    _commit(tx, audit=Entry(action=action, target_type="product", target_id=current["id"], changes=diff(current, changes)))
    dispatch([event])
    return product


def _discard_image(key: str) -> None:
    try:
        files.delete(key)
    except Exception:  # an orphan costs storage, not correctness; offboarding removes the prefix
        logger.warning("could not delete replaced image %s", key, exc_info=True)


def image_url(product: dict) -> str | None:
    if not product.get("image_key"):
        return None
    return files.presigned_get(product["image_key"], content_type=product.get("image_type"))


# --- demo data ---------------------------------------------------------------------------------
_DEMO_CATALOGUE = (
    ("House Blend Coffee 1 kg", "coffee", "24.90", 120),
    ("Single Origin Ethiopia 250 g", "coffee", "12.50", 80),
    ("Decaf Colombia 500 g", "coffee", "14.00", 40),
    ("Sencha Green Tea 100 g", "tea", "8.75", 60),
    ("Earl Grey Tea 100 g", "tea", "7.20", 75),
    ("Chamomile Infusion 50 g", "tea", "5.90", 30),
    ("Pour-over Kettle", "equipment", "49.00", 15),
    ("Burr Grinder", "equipment", "129.00", 8),
    ("Glass Dripper", "equipment", "22.00", 25),
    ("Paper Filters x100", "supplies", "4.50", 300),
    ("Stoneware Mug", "supplies", "11.00", 90),
    ("Barista Gift Card", None, "50.00", 1000),
)


def seed_demo_products(*, tenant_id: str, count: int = 12) -> list[dict]:
    """Idempotent demo catalogue (SKUs DEMO-0001...): existing demo products are kept as they are."""
    products = []
    with tenant_context(tenant_id, roles={"admin"}):
        for n in range(count):
            name, category, price, stock = _DEMO_CATALOGUE[n % len(_DEMO_CATALOGUE)]
            sku = f"DEMO-{n + 1:04d}"
            if n >= len(_DEMO_CATALOGUE):
                name = f"{name} ({n // len(_DEMO_CATALOGUE) + 1})"
            try:
                owner = ProductSku.objects.get(sku, consistent=True)
                products.append(get_product(owner["product_id"], consistent=True))
                continue
            except DoesNotExist:
                pass
            try:
                products.append(create_product(sku=sku, name=name, price=price, currency="USD", stock=stock,
                                               description=f"Demo product: {name}.", category=category))
            except DuplicateSku:  # seeded concurrently by another process
                owner = ProductSku.objects.get(sku, consistent=True)
                products.append(get_product(owner["product_id"], consistent=True))
    logger.info("demo catalogue ready for tenant %s (%d products)", tenant_id, len(products))
    return products


# --- word index backfill ---------------------------------------------------------------------------
@dataclass
class BackfillReport:
    indexed: int = 0   # products (re)indexed now
    current: int = 0   # already in the current format: nothing written
    last_id: str = ""  # the last product looked at: ``after`` to resume from it


def backfill_words(*, after: str = "", limit: int | None = None, progress=None) -> BackfillReport:
    """Index, in the current tenant (its context is required: the store refuses without one), the
    products written before the word index or its counters (``words_format`` not current): per
    product one transaction with its word items, the counters and the new format marker, guarded by
    the product's version (``annotate_op``: no new version, a client's ETag stays valid). Products are
    read in id order from ``after``; ones already current are skipped, so a rerun writes nothing and
    an interrupted run resumes anywhere (``after`` only saves reading). A product changed meanwhile is
    read again (its change may already have indexed it)."""
    report = BackfillReport()
    between = (after + "0", "~") if after else None  # ids are 32 hex digits: the ones after ``after``
    for product in Product.objects.every(between=between) if between else Product.objects.every():
        for _attempt in range(5):
            if product.get("words_format") == WORDS_FORMAT:
                report.current += 1
                break
            words_version = int(product.get("words_version") or 0) + 1
            target = {**product, "words_format": WORDS_FORMAT}
            try:
                transact_write([Product.objects.annotate_op(product["id"], expected_version=product["version"],
                                                            words_version=words_version, words_format=WORDS_FORMAT),
                                *reindex_ops(product, target, words_version)])
                report.indexed += 1
                break
            except TransactionCancelled:
                try:
                    product = get_product(product["id"], consistent=True)
                except DoesNotExist:
                    break  # deleted meanwhile: nothing to index
        else:
            raise VersionConflict(f"product {product['id']} kept changing during the backfill; run it again")
        report.last_id = product["id"]
        if progress is not None:
            progress(report)
        if limit is not None and report.indexed + report.current >= limit:
            break
    return report
