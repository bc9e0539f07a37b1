"""A create whose answer is lost (DynamoDB commits, the reply never arrives: the client sees a
timeout or a 503) and that the client repeats with its Idempotency-Key: one object, and the repeat
answers it. Without the key a repeated POST /tenants made a second tenant and took a second slot."""
from __future__ import annotations

import pytest

from tests.factories import unique

TRANSACT = b"DynamoDB_20120810.TransactWriteItems"


def _product_ids(user) -> list[str]:
    return [p["id"] for p in user.client().get("/api/v1/products", {"limit": 100}).json()["results"]]


def _tenant_ids(user) -> list[str]:
    return [m["tenant"]["id"] for m in user.client().get("/api/v1/me").json()["memberships"]]


@pytest.mark.parametrize("what", ["products", "tenants"])
def test_a_create_whose_answer_was_lost_is_repeated_safely_with_its_key(what, dynamodb_proxy, tenant_a, make_user,
                                                                       settings):
    settings.TENANTS_PER_USER = 2
    if what == "products":
        user, path, body = tenant_a.admin, "/api/v1/products", {
            "sku": unique("LOST-").upper(), "name": "Lost answer", "price": "5.00", "currency": "EUR"}
        ids = _product_ids
    else:
        user, path, body = make_user(), "/api/v1/tenants", {"name": unique("Lost Co "), "tier": "basic"}
        ids = _tenant_ids
    api = user.client()
    assert ids(user) == []  # caches warm, nothing there yet

    dynamodb_proxy.drop_responses(TRANSACT, count=None)  # every transaction commits; no answer comes back
    first = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="lost-answer")
    dynamodb_proxy.stop_dropping()
    repeat = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="lost-answer")

    assert first.status_code in (201, 503), first.content
    assert repeat.status_code == 201 and repeat["Idempotent-Replayed"] == "true", repeat.content
    if first.status_code == 201:  # the record was read back within the request itself
        assert first.json() == repeat.json()
    print("first answer:", first.status_code, first.headers.get("Idempotent-Replayed"))
    assert ids(user) == [repeat.json()["id"]]
