"""Catalogue reads. Each is one DynamoDB round trip inside the current tenant's partition.

Items are returned as stored (``price`` a Decimal, ``stock`` an int); use
``products.models.public_product`` for the API shape.
"""
from __future__ import annotations

from typing import Iterable

from saas.tenancy.store import Page

from .models import SKU_PATTERN, Product, search_key


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
