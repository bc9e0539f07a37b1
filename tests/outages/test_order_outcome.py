"""What an order request tells the client when a dependency fails:

* DynamoDB connections reset mid-request (the order may be committed ~90 ms before the client sees a
  503 ``dynamodb``): a retry, even an unkeyed one, does not make a duplicate order;
* when the outcome cannot be known, the 503 says so and how to check."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from saas import aws
from tests.orders.factories import all_orders, make_product, stock_of
from tests.outages.proxy import FaultProxy

TRANSACT = b"DynamoDB_20120810.TransactWriteItems"
ORDER_ITEM = b'#ORDER"'  # a request naming an order item (its key), e.g. the GetItem that checks it


@pytest.fixture
def dynamodb_proxy(settings):
    """This (web) process talks to DynamoDB Local through a fault proxy."""
    upstream = int(settings.AWS_ENDPOINT_URLS["dynamodb"].rsplit(":", 1)[1].strip("/"))
    with FaultProxy(upstream) as proxy:
        settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "dynamodb": proxy.url()}
        aws.reset_clients()
        try:
            yield proxy
        finally:
            settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "dynamodb": f"http://127.0.0.1:{upstream}"}
            aws.reset_clients()


def retrying_client_places(api: APIClient, lines: list[dict], *, attempts: int = 5) -> list[int]:
    """A client without an Idempotency-Key that follows what the API tells it: on a 503 naming an
    order it checks that order before trying again."""
    statuses = []
    for _ in range(attempts):
        response = api.post("/api/v1/orders", {"lines": lines}, format="json")
        statuses.append(response.status_code)
        if response.status_code == 201:
            return statuses
        body = response.json()
        if response.status_code == 503 and body.get("order_id"):
            check = api.get(body["check"])
            statuses.append(check.status_code)
            if check.status_code == 200:
                return statuses
    return statuses


def test_a_lost_commit_answer_does_not_lead_to_a_duplicate_order(redis_broker, dynamodb_proxy, tenant_a, member,
                                                                 settings):
    product = make_product(tenant_a.id, stock=10)
    api = member.client()
    assert api.get("/api/v1/me").status_code == 200  # identity resolved and cached before the faults
    attempts = settings.AWS_MAX_ATTEMPTS  # botocore's tries of one call (total, first included) reuse its token
    dynamodb_proxy.drop_responses(TRANSACT, count=attempts)
    statuses = retrying_client_places(api, [{"product_id": product["id"], "quantity": 1}])
    assert dynamodb_proxy.dropped == attempts, statuses
    assert statuses[-1] in (200, 201), statuses
    assert len(all_orders(tenant_a.id)) == 1, statuses
    assert stock_of(tenant_a.id, product["id"]) == 9


def test_when_the_outcome_cannot_be_known_the_503_says_so_and_how_to_check(redis_broker, dynamodb_proxy, tenant_a,
                                                                         member):
    product = make_product(tenant_a.id, stock=10)
    api = member.client()
    assert api.get("/api/v1/me").status_code == 200
    dynamodb_proxy.drop_responses(TRANSACT, ORDER_ITEM, count=None)  # writes' and order reads' answers are lost
    response = api.post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]}, format="json")
    dynamodb_proxy.stop_dropping()
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "outcome_unknown" and body["dependency"] == "dynamodb"
    assert body["check"] == f"/api/v1/orders/{body['order_id']}"
    assert "Idempotency-Key" in body["message"] and response["Retry-After"]
    # Once DynamoDB answers again the client can find out: here the write did happen.
    assert api.get(body["check"]).json()["status"] in ("pending", "confirmed", "fulfilled")
    assert len(all_orders(tenant_a.id)) == 1
