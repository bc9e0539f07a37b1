"""``manage.py backfill_product_words --tenant T``: products written before the word index (or in its
first format, without counters) become searchable with true counts; idempotent, resumable, one
tenant's context only, and a product's version (its ETag) does not change."""
from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from products import selectors, services
from products.models import Product, ProductSku, ProductWord, legacy_word_id, name_words, search_key
from saas.tenancy import NoTenantContext, tenant_context
from saas.tenancy.store import new_id, transact_write


def _stored_before_the_index(name: str, sku: str, *, legacy_words: bool = False, category: str | None = None) -> dict:
    """A product as an older release wrote it: no word items at all, or (``legacy_words``) the first
    format's items (``<word>#<id>#<version>``, no counters)."""
    product_id = new_id()
    extra = {"words_version": 1} if legacy_words else {}
    product_op, product = Product.objects.create_op(id=product_id, sku=sku, name=name, description="",
                                                    price=Decimal("4.00"), currency="USD", stock=1,
                                                    category=category, **extra)
    operations = [product_op, ProductSku.objects.create_op(id=sku, product_id=product_id)[0]]
    if legacy_words:
        operations += [ProductWord.objects.create_op(id=legacy_word_id(word, product_id, 1), product_id=product_id,
                                                     name_key=search_key(name), sku=sku, category=category,
                                                     price=Decimal("4.00"))[0]
                       for word in name_words(name, 20)]
    transact_write(operations)
    return product


def _run(**options) -> str:
    out = io.StringIO()
    call_command("backfill_product_words", stdout=out, **options)
    return out.getvalue()


def test_backfill_indexes_old_products_once_resumably_inside_one_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_a.id, roles={"admin"}):
        old = [_stored_before_the_index("Walnut Tray", "OLD-1", category="wood"),
               _stored_before_the_index("Walnut Bowl", "OLD-2", legacy_words=True),
               _stored_before_the_index("Oak Tray", "OLD-3", legacy_words=True, category="wood")]
        services.create_product(sku="NEW-1", name="Walnut Spoon", price="2.00", currency="USD")  # indexed already
        assert selectors.find_products(text="walnut").count == 1  # the old ones are not counted yet
    with tenant_context(tenant_b.id, roles={"admin"}):
        other = _stored_before_the_index("Walnut Tray of b", "B-1")

    first = _run(tenant=tenant_a.id, limit=2)
    resume = re.search(r"resume with --after (\w+)", first).group(1)
    rest = _run(tenant=tenant_a.id, after=resume)
    again = _run(tenant=tenant_a.id)

    assert re.search(r"(\d+) products indexed", first).group(1) != "0"
    indexed_total = int(re.search(r"(\d+) products indexed", first).group(1)) + \
        int(re.search(r"(\d+) products indexed", rest).group(1))
    assert indexed_total == 3
    assert f"{tenant_a.id}: 0 products indexed, 4 already indexed" in again  # a rerun writes nothing

    with tenant_context(tenant_a.id, roles={"viewer"}):
        assert selectors.find_products(text="walnut").count == 3
        assert selectors.find_products(text="tray", category="wood").count == 2
        assert [p["sku"] for p in selectors.find_products(text="tray").products] == ["OLD-3", "OLD-1"]
        assert selectors.find_products(text="bowl", sort="price").count == 1
        items = list(ProductWord.objects.every())
        assert all("word" in item for item in items)  # the first format's items are gone
        for product in old:
            assert Product.objects.get(product["id"])["version"] == product["version"]  # ETags still valid
    with tenant_context(tenant_b.id, roles={"viewer"}):
        assert selectors.find_products(text="walnut").count == 0  # another tenant's products untouched
        assert Product.objects.get(other["id"]).get("words_format") is None


def test_backfill_needs_a_tenant_and_its_context():
    with pytest.raises(CommandError):
        _run(tenant=" ")
    with pytest.raises(NoTenantContext):
        services.backfill_words()
