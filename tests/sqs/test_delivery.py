"""What SQS delivery can do to a job, against the moto server's SQS and the worker stage's real
Zappa handler: partial batch failures, duplicates, forged headers, poison messages, a dying
worker, and the scheduled sweep."""
from __future__ import annotations

import pytest

from devstack.sqs_poller import schedule_rule_names, scheduled_event
from orders.models import Order
from saas import aws, outbox
from saas.hooks import hooks
from saas.outbox import OutboxEvent, event_op
from saas.tenancy import tenant_context
from saas.tenancy.store import transact_write
from tests.orders.factories import make_product, order_events, place, stock_of
from tests.sqs.harness import MAX_RECEIVE_COUNT, kombu_body, kombu_message, wait_until


def status_of(tenant_id: str, order_id: str) -> dict:
    with tenant_context(tenant_id):
        return Order.objects.get(order_id, consistent=True)


def take_messages(jobs, count: int) -> list[dict]:
    """Receive (and so hide) the next ``count`` messages without running them."""
    taken: list[dict] = []
    wait_until(lambda: taken.extend(jobs.receive_raw(max_messages=10)) or len(taken) >= count, what=f"{count} messages")
    return taken


def task_of(message: dict) -> str:
    return kombu_message(message["Body"])["headers"]["task"]


def deleted(poller, message_id: str) -> bool:
    return any(message_id in batch["deleted"] for batch in poller.source.batches)


def receives(poller, message_id: str) -> int:
    return sum(message_id in batch["received"] for batch in poller.source.batches)


def test_a_batch_with_one_failing_record_reports_only_that_record(jobs, lambda_worker, tenant_a, member):
    products = [make_product(tenant_a.id) for _ in range(2)]
    orders = [place(member, [(p["id"], 1)]).json() for p in products]
    good = [m for m in take_messages(jobs, 4) if task_of(m) == "orders.confirm"]
    assert len(good) == 2
    jobs.send_raw("this is not a Celery message")
    poison = take_messages(jobs, 1)

    answer = lambda_worker.event_source().handle([good[0], poison[0], good[1]])

    assert answer["result"]["response"] == {"batchItemFailures": [{"itemIdentifier": poison[0]["MessageId"]}]}
    assert answer["deleted"] == [good[0]["MessageId"], good[1]["MessageId"]]
    assert [status_of(tenant_a.id, o["id"])["status"] for o in orders] == ["confirmed", "confirmed"]


def test_a_message_delivered_twice_changes_nothing_the_second_time(jobs, lambda_worker, poller, tenant_a, member):
    product = make_product(tenant_a.id, stock=5)
    poller.paused.set()
    order = place(member, [(product["id"], 2)]).json()
    first = take_messages(jobs, 2)
    for message in first:  # SQS's at-least-once: the same message again, later
        aws.client("sqs").change_message_visibility(QueueUrl=jobs.url, ReceiptHandle=message["ReceiptHandle"],
                                                    VisibilityTimeout=0)
    poller.paused.clear()
    wait_until(lambda: status_of(tenant_a.id, order["id"])["status"] == "fulfilled", timeout=60, what="fulfilled")
    wait_until(lambda: jobs.depth() == 0, timeout=30, what="queue drained")
    done = status_of(tenant_a.id, order["id"])
    events = order_events(tenant_a.id, order["id"])

    again = [jobs.send_raw(m["Body"]) for m in first]
    wait_until(lambda: all(deleted(poller, mid) for mid in again), timeout=30, what="duplicates handled")

    assert status_of(tenant_a.id, order["id"]) == done
    assert order_events(tenant_a.id, order["id"]) == events
    assert [e["type"] for e in events] == ["order.created", "order.confirmed", "order.fulfilled"]
    assert stock_of(tenant_a.id, product["id"]) == 3


@pytest.mark.parametrize("forge", ["missing", "delimiter", "unknown tenant"])
def test_a_job_without_a_valid_tenant_header_is_rejected_once_and_never_runs(
        forge, jobs, lambda_worker, poller, tenant_a, member):
    poller.paused.set()
    order = place(member, [(product_id := make_product(tenant_a.id)["id"], 1)]).json()
    taken = take_messages(jobs, 2)  # the order's confirm job and its event's relay job
    real = next(m for m in taken if task_of(m) == "orders.confirm")
    for message in taken:
        aws.client("sqs").delete_message(QueueUrl=jobs.url, ReceiptHandle=message["ReceiptHandle"])
    forged = kombu_message(real["Body"])
    if forge == "missing":
        del forged["headers"]["tenant_id"]
    elif forge == "delimiter":
        forged["headers"]["tenant_id"] = f"{tenant_a.id}#ORDER#{order['id']}"
    else:
        forged["headers"]["tenant_id"] = "t-000000000000000000ff"
    message_id = jobs.send_raw(kombu_body(forged))
    poller.paused.clear()

    wait_until(lambda: deleted(poller, message_id), timeout=30, what="forged job handled")
    assert receives(poller, message_id) == 1  # not returned to the queue: no loop
    assert jobs.depth() == 0 and jobs.depth(jobs.dlq_url) == 0
    task_id = forged["headers"]["id"]
    rejected = [line for line in lambda_worker.log().splitlines() if f"orders.confirm[{task_id}]" in line
                and ("job rejected" in line or "job dropped" in line)]
    assert len(rejected) == 1, rejected
    assert status_of(tenant_a.id, order["id"])["status"] == "pending"  # the job never ran
    assert stock_of(tenant_a.id, product_id) == 9


def test_a_poison_message_reaches_the_dead_letter_queue_after_max_receive_count(jobs, lambda_worker, poller):
    message_id = jobs.send_raw('{"headers": {"task": "orders.confirm"}, "body": "not what kombu wrote"}')

    dead = wait_until(lambda: jobs.receive_raw(url=jobs.dlq_url, wait=1), timeout=60, what="dead-lettered")
    assert [m["MessageId"] for m in dead] == [message_id]
    assert receives(poller, message_id) == MAX_RECEIVE_COUNT
    assert not deleted(poller, message_id)
    assert jobs.depth() == 0


def test_a_worker_killed_mid_batch_loses_nothing_and_the_job_runs_once_after_the_visibility_timeout(
        jobs, lambda_worker, tenant_a, member):
    started = []

    def start_lambda():
        # The first container fulfils slowly (and is killed); the next one, like a new Lambda container, is quick.
        slow = not started
        started.append(lambda_worker.start_container(**({"ORDERS_FULFILMENT_DELAY_SECONDS": "60"} if slow else {})))
        return started[-1]

    source = lambda_worker.event_source(start_lambda=start_lambda)
    from devstack.sqs_poller import PollerThread

    poller = PollerThread(source)
    poller.start()
    try:
        product = make_product(tenant_a.id)
        order = place(member, [(product["id"], 1)]).json()
        wait_until(lambda: f"fulfilment started: order {order['id']}" in lambda_worker.log(), timeout=60,
                   what="fulfilment started in the first container")
        started[0].kill()
        assert status_of(tenant_a.id, order["id"])["status"] == "confirmed"

        wait_until(lambda: status_of(tenant_a.id, order["id"])["status"] == "fulfilled", timeout=60,
                   what="fulfilled by a new container")
    finally:
        poller.stop()
    assert len(started) == 2
    assert any("error" in batch["result"] and batch["deleted"] == [] for batch in source.batches)
    assert [e["type"] for e in order_events(tenant_a.id, order["id"])] == [
        "order.created", "order.confirmed", "order.fulfilled"]
    assert stock_of(tenant_a.id, product["id"]) == 9


def failing_publisher(events: list[dict]) -> list:
    return [RuntimeError("SNS is unavailable") for _ in events]


def test_the_scheduled_handler_sweeps_an_event_left_pending_by_a_failed_publish(
        jobs, lambda_worker, poller, receiver, tenant_a, monkeypatch, settings):
    response = tenant_a.admin.client().post("/api/v1/webhooks/subscriptions",
                                            {"event_type": "order.created", "url": receiver.url("/swept")},
                                            format="json")
    assert response.status_code == 201, response.json()
    settings.OUTBOX_RETRY_BASE_SECONDS = 0  # due again at once
    monkeypatch.setattr(hooks, "publish_events", failing_publisher)
    with tenant_context(tenant_a.id):
        put, event = event_op("order.created", {"id": "order-swept"})
        transact_write([put])
        assert outbox.deliver(OutboxEvent.objects.get(event["id"], consistent=True)) == "failed"
        assert OutboxEvent.objects.get(event["id"], consistent=True)["status"] == "pending"

    rule = schedule_rule_names("dev_worker")[0]
    answer = lambda_worker.start_container().invoke(scheduled_event(rule_name=rule, region=settings.AWS_REGION))

    assert "error" not in answer, answer
    assert answer["response"]["outbox.sweep"] >= 1  # one sweep job per active tenant, through SQS
    assert receiver.wait_for_ids({event["id"]}, timeout=60)
    [delivered] = receiver.envelopes("/swept")
    assert (delivered["id"], delivered["tenant_id"]) == (event["id"], tenant_a.id)

    def status() -> str:
        with tenant_context(tenant_a.id):
            return OutboxEvent.objects.get(event["id"], consistent=True)["status"]

    wait_until(lambda: status() == "sent", what="marked sent")  # right after the publish


def test_records_the_function_has_no_time_left_for_are_released_at_once_not_after_the_visibility_timeout(tenant_a):
    from orders.tasks import confirm_order
    from tests.sqs.harness import LambdaWorker, make_queues, use_sqs_broker

    roomy = make_queues(visibility=300)  # a held message would stay hidden for 5 minutes
    with use_sqs_broker(roomy.url), tenant_context(tenant_a.id):
        for n in range(3):
            confirm_order.apply_async(args=[f"order-{n}"])
    messages = []
    wait_until(lambda: messages.extend(roomy.receive_raw()) or len(messages) >= 3, what="3 jobs")
    worker = LambdaWorker(roomy)
    try:
        # Less time left than the margin a record needs: nothing is started.
        container = worker.start_container(WORKER_STOP_MARGIN_SECONDS="1000")
        answer = worker.event_source(start_lambda=lambda: container).handle(messages)

        assert answer["result"]["response"]["batchItemFailures"] == [
            {"itemIdentifier": m["MessageId"]} for m in messages]
        again = wait_until(lambda: roomy.receive_raw(wait=1), timeout=10, what="released messages")
        assert again and {m["MessageId"] for m in again} <= {m["MessageId"] for m in messages}
        assert "not started before the timeout; released" in worker.log()
    finally:
        worker.close()
