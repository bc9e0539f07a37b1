"""The catalogue's DynamoDB items.

``Product`` (entity ``PRODUCT``, id = 32-hex uuid) is stored with these attributes; other apps
(orders reserves ``stock``) may rely on them:

=============  ==========================================================================
id             str, the product id (the item's sort key)
sku            str, ``^[A-Z0-9][A-Z0-9._-]{0,63}$`` — unique per tenant (see ProductSku)
name           str, 1–200 characters
description    str, 0–2000 characters ("" when not given)
price          DynamoDB Number, read back as ``decimal.Decimal``; 0 ≤ price ≤ 10^9, ≤ 2 places.
               The API shows it as a string with exactly two places ("19.90").
currency       str, ISO 4217 code (``CURRENCIES``)
stock          DynamoDB Number, read back as ``int``; ≥ 0
category       str slug ``^[a-z0-9][a-z0-9-]{0,63}$``; attribute absent when the product has none
created_at, updated_at   ISO-8601 UTC strings, set by the store
version        int, starts at 1, +1 on every update (optimistic locking)
tenant_id      str, set by the store
=============  ==========================================================================

``ProductSku`` (entity ``PRODUCTSKU``, id = the SKU, attribute ``product_id``) is the uniqueness
record: it is created, swapped and deleted in the same transaction as the product, so two products
of one tenant can never share a SKU (other tenants have their own partitions).

``ProductRecord`` is the typed view of a stored product (the table above) for code that reads it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from saas.records import Record
from saas.tenancy.store import Index, TenantModel

SKU_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
CATEGORY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
PRICE_MAX = Decimal(10) ** 9
STOCK_MAX = 10**9

# Active ISO 4217 currency codes usable for prices (funds, metals and test codes left out).
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD
XCG XOF XPF YER ZAR ZMW ZWG
""".split())

# The fields a client sees, in order.
PUBLIC_FIELDS = ("id", "sku", "name", "description", "price", "currency", "stock", "category",
                 "created_at", "updated_at", "version")


def search_key(name: str) -> str:
    """How names are matched by prefix: case-insensitive, surrounding spaces ignored."""
    return " ".join(name.split()).casefold()


class Product(TenantModel):
    entity = "PRODUCT"
    export_as = "products"
    money_fields = frozenset({"price"})
    indexes = {
        # Sparse: only products with a category are in it. Partition TENANT#<t>#PRODUCT#<category>.
        "by_category": Index(gsi="GSI1", key=lambda p: (p["category"], p["id"]) if p.get("category") else None),
        # Prefix search ("find by SKU or name"): a Query with begins_with on the sort key, never a scan.
        "by_sku": Index(gsi="GSI2", key=lambda p: ("SKU", p["sku"])),
        "by_name": Index(gsi="GSI3", key=lambda p: ("NAME", search_key(p["name"]))),
    }


@dataclass(frozen=True, slots=True)
class ProductRecord(Record):
    id: str
    sku: str
    name: str
    price: Decimal
    currency: str
    stock: int
    version: int
    description: str = ""
    category: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    image_key: str | None = None
    image_type: str | None = None
    image_size: int | None = None


class ProductSku(TenantModel):
    entity = "PRODUCTSKU"  # id = sku, product_id = the owner


class UsedUpload(TenantModel):
    """An upload form that was used to attach an image (id = upload id): a form is good for one
    attach. Expires (TTL) after the form itself can no longer be used."""
    entity = "UPLOADUSED"


# --- the word index ("find words anywhere in the name", never a Scan) ------------------------------
WORD_PATTERN = re.compile(r"[^\W_]+")  # runs of letters and digits, any script
MAX_WORDS = 15  # words indexed per product: a rename's transaction (old and new items and counters) fits in 100
LEGACY_MAX_WORDS = 20  # what the first index format (before the counters) indexed
MAX_WORD_LENGTH = 64  # longer words are indexed (and searched) by their first 64 characters: ids stay short
NAME_ORDER_LENGTH = 80  # the part of the name an index item's id is ordered by (ids stay under 200 characters)
WORDS_FORMAT = 2  # a product's ``words_format``: 2 = ordered word items + counters; absent = the first format


def name_words(name: str, limit: int = MAX_WORDS) -> list[str]:
    """The distinct words of a name as the index stores them: casefolded, in order, at most ``limit``."""
    words: list[str] = []
    for word in WORD_PATTERN.findall(search_key(name)):
        word = word[:MAX_WORD_LENGTH]
        if word not in words:
            words.append(word)
    return words[:limit]


def price_key(price: Any, product_id: str) -> str:
    """The by_price sort value: the price zero-padded (0 ≤ price ≤ 10^9, 2 places), then the id."""
    return f"{Decimal(price):013.2f}#{product_id}"


class ProductWord(TenantModel):
    """One item per (word of a product's name, product), id ``<word>#<name>\\x1f<product id>\\x1f<words_version>``
    (``<name>`` = the first 80 characters of the casefolded name), in the tenant's own ``PRODUCTWORD``
    partition. A Query with ``begins_with(SK, "blend#")`` reads the products with the word "blend" in
    name order, a page at a time; the ``by_price`` index (partition ``PRICE#<word>``) reads them in
    price order. Each item carries what the search filters and sorts on (``word``, ``product_id``,
    ``name_key``, ``sku``, ``category``, ``price``), so a search reads one page of word items and
    then the one page of products it shows. Written in the same transaction as the product
    (``products.services``), together with the counters (``ProductWordCount``); rewritten when name,
    SKU, category or price change (the product's ``words_version`` names the current set; stock
    changes by orders never touch them). Not exported: it is derived from the products."""

    entity = "PRODUCTWORD"
    money_fields = frozenset({"price"})
    indexes = {
        "by_price": Index(gsi="GSI1", key=lambda w: (f"PRICE#{w['word']}", price_key(w["price"], w["product_id"]))
                          if w.get("word") else None),
    }


class ProductWordCount(TenantModel):
    """The word index's counters, in the tenant's ``PRODUCTWORDN`` partition, changed (``ADD``) in the
    same transaction as the word items:

    * ``<word>#n``: how many products have the word; attribute ``n`` over the catalogue and
      ``c:<category>`` per category;
    * ``<prefix>#x``: for each product, the longest common prefix of each two neighbouring words of its
      sorted word list (same attributes).

    The products with a word starting with ``p`` are then ``sum(n of <w>#n) - sum(n of <x>#x)`` over the
    items whose id starts with ``p`` (one Query, one item per distinct word, not per product): a
    product with several words starting ``p`` ("Tea Teapot" for "tea") has them next to each other in
    its sorted list, and each neighbouring pair adds one ``#x`` under ``p``, so it is counted once."""

    entity = "PRODUCTWORDN"


ORDER_SEPARATOR = "\x1f"  # below every character of a name (whitespace is a single space): "tea" < "tea pot"


def name_order(name_key: str, product_id: str) -> str:
    """Where a product sorts by name in the word index: the name's first 80 characters, then its id."""
    return f"{name_key[:NAME_ORDER_LENGTH]}{ORDER_SEPARATOR}{product_id}"


def word_id(word: str, name: str, product_id: str, words_version: int) -> str:
    return f"{word}#{name_order(search_key(name), product_id)}{ORDER_SEPARATOR}{words_version}"


def legacy_word_id(word: str, product_id: str, words_version: int) -> str:
    """The first format's id (no name order), still deleted for products not yet reindexed."""
    return f"{word}#{product_id}#{words_version}"


def word_counter_keys(name: str) -> list[str]:
    """The counter ids (``ProductWordCount``) one product adds to."""
    words = name_words(name)
    ordered = sorted(words)
    shared = [os.path.commonprefix([a, b]) for a, b in zip(ordered, ordered[1:], strict=False)]
    return [f"{w}#n" for w in words] + [f"{p}#x" for p in shared if p]


def format_price(price: Decimal | str | int) -> str:
    return f"{Decimal(price):.2f}"


def public_product(item: Mapping[str, Any]) -> dict:
    """The API (and event payload) shape of a stored product: price as a 2-place string."""
    return {
        "id": item["id"],
        "sku": item["sku"],
        "name": item["name"],
        "description": item.get("description", ""),
        "price": format_price(item["price"]),
        "currency": item["currency"],
        "stock": item["stock"],
        "category": item.get("category"),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "version": item["version"],
    }


def product_etag(item: Mapping[str, Any]) -> str:
    """Strong ETag ``"<id>:<version>"``: changes with every write, so If-Match can use it."""
    return f'"{item["id"]}:{item["version"]}"'
