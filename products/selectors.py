"""Catalogue reads. Each is one DynamoDB round trip inside the current tenant's partition.

Items are returned as stored (``price`` a Decimal, ``stock`` an int); use
``products.models.public_product`` for the API shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from saas.tenancy.store import Page

from .models import MAX_WORD_LENGTH, SKU_PATTERN, WORD_PATTERN, Product, ProductWord, search_key


def get_product(product_id: str, *, consistent: bool = False) -> dict:
    """Raises ``DoesNotExist`` (-> 404) when missing or another tenant's."""
    return Product.objects.get(product_id, consistent=consistent)


def get_products(product_ids: Iterable[str]) -> dict[str, dict]:
    """The found products by id (missing ids are simply absent)."""
    return Product.objects.batch_get(product_ids)


def list_products(*, category: str | None = None, cursor: str | None = None, limit: int = 20,
                  by_name: bool = False) -> Page:
    """One page, ordered by id (``by_name``: alphabetically, from the by_name index); ``category``
    reads the tenant's by_category index instead."""
    if category:
        return Product.objects.query(index="by_category", value=category, cursor=cursor, limit=limit)
    if by_name:
        return Product.objects.query(index="by_name", value="NAME", cursor=cursor, limit=limit)
    return Product.objects.query(cursor=cursor, limit=limit)


SORTS = {"name": ("name_key", False), "-name": ("name_key", True), "price": ("price", False),
         "-price": ("price", True)}
MAX_WORD_ITEMS = 20_000  # a search reads at most this many index items (then says "at least")


@dataclass(frozen=True)
class SearchResult:
    products: list[dict]  # the page asked for, in order
    count: int            # every matching product (a true count, unless ``capped``)
    capped: bool = False


def find_products(*, text: str, category: str | None = None, sort: str = "name", offset: int = 0,
                  limit: int = 20) -> SearchResult:
    """Products with every word of ``text`` starting a word of their name (anywhere in it), or whose
    SKU starts with ``text``; only ``category``'s when given; sorted; the true count.

    Reads: Queries (paged) of the tenant's word index partition with ``begins_with`` on the query
    word with the fewest matches (``_smallest_word_range``), the other words and the category
    checked on the index items themselves; SKU prefix matches from the by_sku index; then one BatchGetItem for the page shown.
    Never a Scan, never another tenant's partition."""
    words = list(dict.fromkeys(w[:MAX_WORD_LENGTH] for w in WORD_PATTERN.findall(search_key(text))))
    matches: dict[str, dict] = {}
    capped = False
    if words:
        first, items, capped = _smallest_word_range(words)
        others = [w for w in words if w != first]
        for item in items:
            if category and item.get("category") != category:
                continue
            name_words = WORD_PATTERN.findall(item["name_key"])
            if all(any(w.startswith(o) for w in name_words) for o in others):
                matches.setdefault(item["product_id"], item)
    sku = " ".join(text.split()).upper()
    if sku and SKU_PATTERN.fullmatch(sku):
        for item in Product.objects.every(index="by_sku", value="SKU", prefix=sku):
            if not category or item.get("category") == category:
                matches.setdefault(item["id"], {"product_id": item["id"], "name_key": search_key(item["name"]),
                                                "price": item["price"], "sku": item["sku"]})
    field, reverse = SORTS.get(sort, SORTS["name"])
    ordered = sorted(matches.values(), key=lambda m: (m[field], m["sku"]), reverse=reverse)
    page_ids = [m["product_id"] for m in ordered[offset:offset + limit]]
    found = Product.objects.batch_get(page_ids) if page_ids else {}
    return SearchResult(products=[found[pid] for pid in page_ids if pid in found], count=len(ordered), capped=capped)


def _smallest_word_range(words: list[str]) -> tuple[str, list[dict], bool]:
    """The word index items of the query word with the fewest matches, read without knowing the
    counts: one page of each word's range in turn until one range ends (so a rare word next to a
    common one costs about the rare word's pages, never the common word's). Returns (word, items,
    capped)."""
    cursors: dict[str, str | None] = {word: None for word in words}
    read: dict[str, list[dict]] = {word: [] for word in words}
    while True:
        for word in words:
            page = ProductWord.objects.query(prefix=word, cursor=cursors[word], limit=1000, max_page=1000)
            read[word] += page.items
            cursors[word] = page.next_cursor
            if page.next_cursor is None:
                return word, read[word], False
            if len(read[word]) >= MAX_WORD_ITEMS:
                return word, read[word], True


def search_products(*, text: str, limit: int = 20) -> list[dict]:
    """Products whose SKU or name starts with ``text``: a begins_with Query on each index (at most two
    round trips, never a scan), SKU matches first, each product once."""
    text = " ".join(text.split())
    if not text:
        return []
    found: dict[str, dict] = {}
    sku = text.upper()
    if SKU_PATTERN.fullmatch(sku):
        for item in Product.objects.query(index="by_sku", value="SKU", prefix=sku, limit=limit).items:
            found[item["id"]] = item
    if len(found) < limit:
        for item in Product.objects.query(index="by_name", value="NAME", prefix=search_key(text), limit=limit).items:
            found.setdefault(item["id"], item)
    return list(found.values())[:limit]
