"""Idempotency-Key and concurrent orders: one reservation per request, stock never below zero."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from orders import services
from orders.models import IdempotencyRecord
from saas.tenancy import tenant_context

from .factories import all_orders, make_product, order_events, place, stock_of


def test_same_key_and_body_returns_the_same_order_and_reserves_once(tenant_a, member):
    product = make_product(tenant_a.id, stock=10)

    first = place(member, [(product["id"], 2)], key="checkout-1")
    second = place(member, [(product["id"], 2)], key="checkout-1")

    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert len(all_orders(tenant_a.id)) == 1
    assert stock_of(tenant_a.id, product["id"]) == 8
    assert [e["type"] for e in order_events(tenant_a.id)] == ["order.created"]


def test_same_key_with_a_different_body_is_a_409_and_changes_nothing(tenant_a, member):
    product = make_product(tenant_a.id, stock=10)
    assert place(member, [(product["id"], 2)], key="checkout-2").status_code == 201

    reused = place(member, [(product["id"], 3)], key="checkout-2")

    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert len(all_orders(tenant_a.id)) == 1
    assert stock_of(tenant_a.id, product["id"]) == 8


def test_keys_are_scoped_per_user(tenant_a, member, other_member):
    product = make_product(tenant_a.id, stock=10)
    mine = place(member, [(product["id"], 1)], key="same-key")
    theirs = place(other_member, [(product["id"], 1)], key="same-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"] and theirs.json()["user_id"] == other_member.sub
    assert stock_of(tenant_a.id, product["id"]) == 8


def test_the_record_expires_24_hours_out_and_an_expired_key_places_a_new_order(tenant_a, member):
    product = make_product(tenant_a.id, stock=10)
    first = place(member, [(product["id"], 1)], key="old-key").json()
    record_id = services._idempotency_record_id(member.sub, "old-key")
    with tenant_context(tenant_a.id):
        record = IdempotencyRecord.objects.get(record_id, consistent=True)
        assert abs(int(record["expires_at"]) - (time.time() + 24 * 3600)) < 60
        assert record["order_id"] == first["id"]
        # DynamoDB deletes expired items lazily (up to days later): an expired record must not replay.
        IdempotencyRecord.objects.update(record_id, expected_version=record["version"], expires_at=int(time.time()) - 1)

    fresh = place(member, [(product["id"], 2)], key="old-key")

    assert fresh.status_code == 201 and fresh.json()["id"] != first["id"]
    assert "Idempotent-Replayed" not in fresh
    assert stock_of(tenant_a.id, product["id"]) == 7


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_idempotency_key_is_a_400_naming_the_header(tenant_a, member, key):
    product = make_product(tenant_a.id)
    response = member.client().post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]},
                                    format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["fields"]
    assert stock_of(tenant_a.id, product["id"]) == 10


def test_concurrent_retries_with_one_key_create_one_order(tenant_a, member):
    product = make_product(tenant_a.id, stock=10)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: place(member, [(product["id"], 1)], key="double-click"), range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(all_orders(tenant_a.id)) == 1
    assert stock_of(tenant_a.id, product["id"]) == 9


def test_20_concurrent_orders_for_the_last_unit_exactly_one_wins(tenant_a, member):
    product = make_product(tenant_a.id, stock=1)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: place(member, [(product["id"], 1)]), range(20)))

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19, [r.json() for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    assert stock_of(tenant_a.id, product["id"]) == 0
    assert len(all_orders(tenant_a.id)) == 1


def test_concurrent_orders_of_one_product_do_not_fail_each_other_while_stock_lasts(tenant_a, member):
    product = make_product(tenant_a.id, stock=6)
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: place(member, [(product["id"], 1)]), range(12)))
    assert sorted(r.status_code for r in responses) == [201] * 6 + [409] * 6
    assert stock_of(tenant_a.id, product["id"]) == 0
    assert len(all_orders(tenant_a.id)) == 6
