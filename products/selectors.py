"""Catalogue reads. Each is one DynamoDB round trip inside the current tenant's partition.

Items are returned as stored (``price`` a Decimal, ``stock`` an int); use
``products.models.public_product`` for the API shape.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Iterator

from boto3.dynamodb.conditions import Attr

from saas.tenancy.store import Page

from .models import (
    MAX_WORD_LENGTH,
    SKU_PATTERN,
    WORD_PATTERN,
    Product,
    ProductWord,
    ProductWordCount,
    name_order,
    price_key,
    search_key,
)


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


SORTS = {"name": ("name", False), "-name": ("name", True), "price": ("price", False), "-price": ("price", True)}
MAX_WORD_ITEMS = 20_000  # a search reads at most this many index items (then says "at least")
MAX_STREAMS = 8  # distinct words merged in order; a prefix with more reads its whole range instead
SKU_SORT_LIMIT = 200  # SKU matches up to this many are sorted as asked; more are listed in SKU order
PAGE_READ = 100  # word items read per Query while filling a page


@dataclass(frozen=True)
class SearchResult:
    products: list[dict]  # the page asked for, in order
    count: int            # every matching product (a true count, unless ``capped``)
    capped: bool = False
    by_sku: bool = False  # listed in SKU order (many SKU matches), not in the order asked for


def find_products(*, text: str, category: str | None = None, sort: str = "name", offset: int = 0,
                  limit: int = 20, count: bool = True) -> SearchResult:
    """Products with every word of ``text`` starting a word of their name (anywhere in it), or whose
    SKU starts with ``text``; only ``category``'s when given; sorted; the true count (``count=False``,
    e.g. the order form's picker: the count is 0, only the page is read, word matches first, then SKU
    matches in SKU order).

    Reads, never a Scan and never another tenant's partition:

    * the count of each query word: one Query of the counters (``ProductWordCount``, one item per
      distinct word starting with it), so a common word costs as much as a rare one;
    * one word: the index items of each word starting with it, in the order asked for (name: the
      items' own order; price: the ``by_price`` index), merged, a page at a time, until the page is
      full; the count is the counters';
    * several words: the same, from the rarest word (the smallest count), keeping the items whose name
      has the other words; the true count reads the rarest word's items to the end;
    * a SKU prefix: a ``Select=COUNT`` Query of the by_sku index, and the page from it;
    * then one BatchGetItem for the page shown."""
    words = list(dict.fromkeys(w[:MAX_WORD_LENGTH] for w in WORD_PATTERN.findall(search_key(text))))
    field, reverse = SORTS.get(sort, SORTS["name"])
    sku = " ".join(text.split()).upper()
    sku = sku if sku and SKU_PATTERN.fullmatch(sku) else ""
    word_count, ranked = 0, []
    for word in sorted(words, key=len, reverse=True):  # longer words first: likelier rare, or absent
        ranked.append(_word_counter(word, category) + (word,))
        if ranked[-1][0] == 0:
            break  # no product has all the words if one of them has none
    ranked.sort(key=lambda c: c[0])
    word_count = ranked[0][0] if ranked else 0
    need = offset + limit
    capped = False
    if not count:  # the picker: the first matches by word, then by SKU (in SKU order); no count read
        matches = _word_matches(ranked, category, field, reverse, need=need)[0] if word_count else {}
        ids = list(matches)
        if sku and len(ids) < need:
            more = Product.objects.query(index="by_sku", value="SKU", prefix=sku, limit=need,
                                         filter=Attr("category").eq(category) if category else None).items
            ids += [p["id"] for p in more if p["id"] not in matches]
        return _page(ids[offset:need], 0)
    sku_count = Product.objects.count(index="by_sku", value="SKU", prefix=sku) if sku else 0
    if word_count and sku_count:  # both: the exact union needs both sets (rare: a SKU that is also a word)
        matches, capped = _word_matches(ranked, category, field, reverse, need=None)
        for item in Product.objects.every(index="by_sku", value="SKU", prefix=sku):
            if not category or item.get("category") == category:
                matches.setdefault(item["id"], {"product_id": item["id"], "name_key": search_key(item["name"]),
                                                "price": item["price"], "sku": item["sku"]})
        ordered = sorted(matches.values(), key=lambda m: (m["name_key" if field == "name" else "price"], m["sku"]),
                         reverse=reverse)
        return _page([m["product_id"] for m in ordered[offset:need]], len(ordered), capped)
    if word_count:
        several = len(ranked) > 1
        matches, capped = _word_matches(ranked, category, field, reverse, need=None if several else need)
        ids = list(matches)
        return _page(ids[offset:need], len(ids) if several else word_count, capped)
    if sku_count:
        return _sku_page(sku, sku_count, category, field, reverse, offset, need)
    return SearchResult(products=[], count=0)


def _page(ids: list[str], count: int, capped: bool = False, by_sku: bool = False) -> SearchResult:
    found = Product.objects.batch_get(ids) if ids else {}
    return SearchResult(products=[found[pid] for pid in ids if pid in found], count=count, capped=capped, by_sku=by_sku)


def _word_counter(prefix: str, category: str | None) -> tuple[int, list[str]]:
    """(products with a word starting ``prefix`` [in ``category``], the distinct words that do), from
    the counters: one Query (see ``ProductWordCount``)."""
    attribute = f"c:{category}" if category else "n"
    total, words, cursor = 0, [], None
    while True:
        page = ProductWordCount.objects.query(prefix=prefix, cursor=cursor, limit=1000, max_page=1000)
        for item in page.items:
            value = int(item.get(attribute, 0))
            word, kind = item["id"].rsplit("#", 1)
            if kind == "n":
                total += value
                if value > 0:
                    words.append(word)
            else:
                total -= value
        cursor = page.next_cursor
        if cursor is None:
            return max(total, 0), words


def _stream(word: str, category: str | None, field: str, reverse: bool, first: int) -> Iterator[tuple[str, dict]]:
    """The index items of exactly ``word`` in the order asked for, as (order key, item), page by page:
    the first page is ``first`` items (what the page shown needs), later ones grow to 1,000."""
    only = Attr("category").eq(category) if category else None
    cursor, size = None, max(1, first)
    while True:
        if field == "price":
            page = ProductWord.objects.query(index="by_price", value=f"PRICE#{word}", cursor=cursor, limit=size,
                                             ascending=not reverse, filter=only, max_page=1000)
        else:
            page = ProductWord.objects.query(prefix=f"{word}#", cursor=cursor, limit=size, ascending=not reverse,
                                             filter=only, max_page=1000)
        size = min(size * 4, 1000)
        for item in page.items:
            if "word" not in item:
                continue  # the first format's item of a product not reindexed yet (backfill_product_words)
            key = price_key(item["price"], item["product_id"]) if field == "price" else item["id"][len(word) + 1:]
            yield key, item
        cursor = page.next_cursor
        if cursor is None:
            return


def _word_matches(ranked: list[tuple[int, list[str], str]], category: str | None, field: str, reverse: bool,
                  need: int | None) -> tuple[dict[str, dict], bool]:
    """Matching index items by product id, in order: from the rarest query word's words, keeping the
    items whose name has every other query word; stops once ``need`` are found (None: all)."""
    _, words, _ = ranked[0]
    others = [query_word for _, _, query_word in ranked[1:]]
    if len(words) > MAX_STREAMS:  # e.g. one letter typed: read the range once and sort it here
        items, capped = _whole_range(ranked[0][2], category)
        key = (lambda i: price_key(i["price"], i["product_id"])) if field == "price" else \
            (lambda i: name_order(i["name_key"], i["product_id"]))
        merged: Iterable[tuple[str, dict]] = sorted(((key(i), i) for i in items), key=lambda kv: kv[0], reverse=reverse)
    else:
        capped = False
        first = need if need is not None else PAGE_READ  # other words: later pages grow if few match
        merged = heapq.merge(*(_stream(w, category, field, reverse, first) for w in words), key=lambda kv: kv[0],
                             reverse=reverse)
    matches: dict[str, dict] = {}
    read = 0
    for _, item in merged:
        read += 1
        if read > MAX_WORD_ITEMS:
            return matches, True
        if item["product_id"] in matches:
            continue
        if others:
            name_words = WORD_PATTERN.findall(item["name_key"])
            if not all(any(w.startswith(o) for w in name_words) for o in others):
                continue
        matches[item["product_id"]] = item
        if need is not None and len(matches) >= need:
            break
    return matches, capped


def _whole_range(prefix: str, category: str | None) -> tuple[list[dict], bool]:
    items, cursor = [], None
    while True:
        page = ProductWord.objects.query(prefix=prefix, cursor=cursor, limit=1000, max_page=1000)
        items += [i for i in page.items if "word" in i and (not category or i.get("category") == category)]
        cursor = page.next_cursor
        if cursor is None:
            return items, False
        if len(items) >= MAX_WORD_ITEMS:
            return items, True


def _sku_page(sku: str, total: int, category: str | None, field: str, reverse: bool, offset: int,
              need: int) -> SearchResult:
    """SKU prefix matches (``total`` of them, any category): sorted as asked when there are at most
    ``SKU_SORT_LIMIT`` (or a category is asked for: they are read to be counted), else in SKU order,
    only the page read."""
    if category or total <= SKU_SORT_LIMIT:
        items = [i for i in Product.objects.every(index="by_sku", value="SKU", prefix=sku)
                 if not category or i.get("category") == category]
        if len(items) > SKU_SORT_LIMIT:
            return SearchResult(products=items[offset:need], count=len(items), by_sku=True)
        items.sort(key=lambda i: (search_key(i["name"]) if field == "name" else i["price"], i["sku"]), reverse=reverse)
        return SearchResult(products=items[offset:need], count=len(items))
    shown: list[dict] = []
    cursor: str | None = None
    while len(shown) < need:
        page = Product.objects.query(index="by_sku", value="SKU", prefix=sku, cursor=cursor, limit=min(need, 100))
        shown += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    return SearchResult(products=shown[offset:need], count=total, by_sku=True)


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
