"""Connection flapping on DynamoDB during orders, with and without Idempotency-Key: 0 duplicates.

The failure guarded against: an unkeyed client that retries a 503 gets a duplicate order (155
orders for 154 purchases). Here a flapper switches the proxy between passing, resetting every
connection and losing the answers of transactions while clients buy; every purchase must end as
exactly one order and stock must be conserved."""
from __future__ import annotations

import random
import threading
import uuid

from tests.orders.factories import all_orders, make_product, stock_of

PURCHASES = 25  # per client kind


def _flap(proxy, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        fault = rng.choice(["reset", "lose", "pass", "pass"])
        if fault == "lose":
            proxy.drop_responses(b"DynamoDB_20120810.TransactWriteItems", count=rng.randint(1, 6))
        elif fault == "reset":
            proxy.set("reset")
        stop.wait(rng.uniform(0.02, 0.15))
        proxy.set("pass")
        stop.wait(rng.uniform(0.05, 0.3))
    proxy.stop_dropping()
    proxy.set("pass")


def _buy_with_key(api, lines) -> dict:
    key = uuid.uuid4().hex
    for _ in range(40):
        response = api.post("/api/v1/orders", {"lines": lines}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        if response.status_code == 201:
            return response.json()
        assert response.status_code in (503, 409), response.content  # 409: a concurrent same-key request
    raise AssertionError("purchase never completed")


def _buy_without_key(api, lines) -> dict:
    """Follows the API: on a 503 that names an order, check that order before buying again."""
    for _ in range(40):
        response = api.post("/api/v1/orders", {"lines": lines}, format="json")
        if response.status_code == 201:
            return response.json()
        assert response.status_code == 503, response.content
        body = response.json()
        while body.get("order_id"):
            check = api.get(body["check"])
            if check.status_code == 200:
                return check.json()
            if check.status_code == 404:
                break
            assert check.status_code == 503  # DynamoDB still flapping: ask again
    raise AssertionError("purchase never completed")


def _experiment(tenant, member, buy, seed: int, proxy) -> None:
    product = make_product(tenant.id, stock=1000)
    api = member.client()
    assert api.get("/api/v1/me").status_code == 200
    stop = threading.Event()
    flapper = threading.Thread(target=_flap, args=(proxy, stop, seed), daemon=True)
    flapper.start()
    bought = []
    try:
        for n in range(PURCHASES):
            bought.append(buy(api, [{"product_id": product["id"], "quantity": 1 + n % 3}]))
    finally:
        stop.set()
        flapper.join(5)
    orders = all_orders(tenant.id)
    assert sorted(o["id"] for o in orders) == sorted(o["id"] for o in bought)  # 0 duplicates, 0 lost
    assert stock_of(tenant.id, product["id"]) == 1000 - sum(1 + n % 3 for n in range(PURCHASES))


def test_flapping_dynamodb_with_idempotency_keys_gives_no_duplicates(redis_broker, dynamodb_proxy, tenant_a,
                                                                      member):
    _experiment(tenant_a, member, _buy_with_key, 11, dynamodb_proxy)


def test_flapping_dynamodb_without_keys_gives_no_duplicates(redis_broker, dynamodb_proxy, tenant_a, member):
    _experiment(tenant_a, member, _buy_without_key, 12, dynamodb_proxy)
