"""A frozen SQS or DynamoDB (connections accepted, nothing answered - what a SIGSTOPped server or a
stalled network path looks like; here the fault proxy in "stall" mode in front of the real local
server): no request takes 10 s or more (API Gateway gives up at 29 s and the client then has no
answer at all), and every 503 says how to repeat the request without duplicating anything.

Before: a silent SQS held an order request 45 s, then 201 (one publish = 9 attempts x 5 s read
timeout); a silent DynamoDB cost 20 s per call and up to 67.6 s for an order commit."""
from __future__ import annotations

import time

import pytest

from saas import aws
from tests.orders.factories import all_orders, make_product
from tests.outages.proxy import FaultProxy
from tests.sqs.harness import make_queues, use_sqs_broker

LIMIT_SECONDS = 10.0


def _timed_posts(api, body, count):
    answers = []
    for _ in range(count):
        started = time.monotonic()
        response = api.post("/api/v1/orders", body, format="json")
        answers.append((response.status_code, round(time.monotonic() - started, 2), response.json()))
    return answers


@pytest.fixture
def sqs_behind_proxy(settings):
    """This process publishes its jobs to SQS (the moto server) through a fault proxy."""
    from saas import celery

    queues = make_queues()
    upstream = settings.AWS_ENDPOINT_URLS["sqs"]
    with FaultProxy(int(upstream.rstrip("/").rsplit(":", 1)[1])) as proxy:
        settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "sqs": proxy.url()}
        celery._sqs_probe_client.cache_clear()
        try:
            with use_sqs_broker(queues.url):
                yield proxy
        finally:
            proxy.set("pass")
            settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "sqs": upstream}
            celery._sqs_probe_client.cache_clear()
    for url in (queues.url, queues.dlq_url):
        aws.client("sqs").delete_queue(QueueUrl=url)


def test_a_frozen_sqs_holds_no_order_request_for_10_seconds(sqs_behind_proxy, tenant_a, member):
    product = make_product(tenant_a.id, stock=100)
    api = member.client()
    body = {"lines": [{"product_id": product["id"], "quantity": 1}]}
    assert api.post("/api/v1/orders", body, format="json").status_code == 201  # the probe now says "up"
    sqs_behind_proxy.set("stall")
    answers = _timed_posts(api, body, 3)
    sqs_behind_proxy.set("pass")
    print("answers", [(status, elapsed) for status, elapsed, _ in answers])
    assert max(elapsed for _, elapsed, _ in answers) < LIMIT_SECONDS, answers
    for status, _, reply in answers:
        assert status in (201, 503), reply
        if status == 201:
            assert reply["id"]  # placed: its job is the sweep's to enqueue
        else:
            assert reply["dependency"] == "broker" and "not placed" in reply["message"]
    placed = 1 + [status for status, _, _ in answers].count(201)
    assert len(all_orders(tenant_a.id)) == placed


def test_a_frozen_dynamodb_holds_no_order_request_for_10_seconds(redis_broker, dynamodb_proxy, tenant_a, member):
    product = make_product(tenant_a.id, stock=100)
    api = member.client()
    body = {"lines": [{"product_id": product["id"], "quantity": 1}]}
    assert api.post("/api/v1/orders", body, format="json").status_code == 201  # caches warm
    dynamodb_proxy.set("stall")
    answers = _timed_posts(api, body, 2)
    # The freeze can also begin while the order's transaction is in flight: its answer is lost.
    dynamodb_proxy.set("pass")
    dynamodb_proxy.drop_responses(b"DynamoDB_20120810.TransactWriteItems", count=None)
    started = time.monotonic()
    lost = api.post("/api/v1/orders", body, format="json")
    answers.append((lost.status_code, round(time.monotonic() - started, 2), lost.json()))
    dynamodb_proxy.stop_dropping()
    dynamodb_proxy.set("pass")
    print("answers", [(status, elapsed, reply.get("code")) for status, elapsed, reply in answers])
    assert max(elapsed for _, elapsed, _ in answers) < LIMIT_SECONDS, answers
    assert [status for status, _, _ in answers[:2]] == [503, 503], answers
    assert answers[2][0] in (201, 503), answers  # a lost answer: the order is re-read (201) or named (503)
    for status, _, reply in answers:  # each 503 names the order to check, or says how to repeat safely
        if status == 503:
            assert reply.get("order_id") or "Idempotency-Key" in reply.get("advice", ""), reply
    # Following the advice never duplicates: a named order is there (200) or not (404).
    placed = 1 + [status for status, _, _ in answers].count(201)
    for status, _, reply in answers:
        if status == 503 and reply.get("order_id"):
            check = api.get(reply["check"])
            assert check.status_code in (200, 404)
            placed += check.status_code == 200
    assert len(all_orders(tenant_a.id)) == placed
