"""Catalogue reads. Each is one DynamoDB round trip inside the current tenant's partition.

Items are returned as stored (``price`` a Decimal, ``stock`` a Decimal-backed number); use
``products.models.public_product`` for the API shape.
"""
from __future__ import annotations

from typing import Iterable

from saas.tenancy.store import Page

from .models import Product


def get_product(product_id: str, *, consistent: bool = False) -> dict:
    """Raises ``DoesNotExist`` (-> 404) when missing or another tenant's."""
    return Product.objects.get(product_id, consistent=consistent)


def get_products(product_ids: Iterable[str]) -> dict[str, dict]:
    """The found products by id (missing ids are simply absent)."""
    return Product.objects.batch_get(product_ids)


def list_products(*, category: str | None = None, cursor: str | None = None, limit: int = 20) -> Page:
    """One page, ordered by id; ``category`` reads the tenant's by_category index instead."""
    if category:
        return Product.objects.query(index="by_category", value=category, cursor=cursor, limit=limit)
    return Product.objects.query(cursor=cursor, limit=limit)
