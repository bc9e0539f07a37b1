"""Typed records (``saas.records``): how a store item becomes one, and the little logic records carry."""
from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from products.models import ProductRecord
from tenants.models import CreationQuotaRecord, InvitationRecord
from webhooks.models import WebhookCountsRecord

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

# As the store returns a product: key attributes hidden, numbers typed, no category attribute.
STORED_PRODUCT = {"id": "p1", "sku": "SKU-1", "name": "Mug", "description": "", "price": Decimal("11.00"),
                  "currency": "EUR", "stock": 3, "created_at": "2026-01-05T09:30:00.000Z",
                  "updated_at": "2026-01-05T09:30:00.000Z", "version": 2, "tenant_id": "t-1"}


def test_from_item_takes_declared_fields_ignores_the_rest_and_defaults_absent_optional_ones():
    product = ProductRecord.from_item(STORED_PRODUCT)
    assert (product.id, product.stock, product.price, product.version) == ("p1", 3, Decimal("11.00"), 2)
    assert product.category is None and product.image_key is None  # attributes absent from the item
    assert not hasattr(product, "tenant_id")  # not declared: not carried


def test_from_item_refuses_an_item_without_a_required_field():
    with pytest.raises(TypeError, match="stock"):
        ProductRecord.from_item({k: v for k, v in STORED_PRODUCT.items() if k != "stock"})


def test_records_are_read_only():
    product = ProductRecord.from_item(STORED_PRODUCT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        product.stock = 0  # type: ignore[misc]


def test_an_invitation_is_live_until_its_expiry_second():
    invitation = InvitationRecord.from_item({"id": "i1", "email": "a@b.test", "role": "member", "expires_at": 1000,
                                             "version": 1, "tenant_id": "t-1"})
    assert invitation.invited_by is None and invitation.created_at is None
    assert invitation.is_live(999.5)
    assert not invitation.is_live(1000)


def test_missing_counters_start_at_zero_and_unversioned():
    assert CreationQuotaRecord() == CreationQuotaRecord(used=0, version=None)
    counts = WebhookCountsRecord()
    assert (counts.total, counts.count_of("order.created"), counts.version) == (0, 0, None)
    stored = WebhookCountsRecord.from_item({"id": "subscriptions", "total": 3, "version": 4,
                                            "by_type": {"order.created": 2, "product.updated": 1}})
    assert (stored.total, stored.count_of("order.created"), stored.count_of("order.cancelled")) == (3, 2, 0)
