"""A fair share per tenant on SQS (saas.fairness): tenant jobs carry their tenant as the message group
of the standard jobs queue (an SQS fair queue), and the Lambda worker runs a batch round-robin by group.

The AWS rule modelled: on a standard queue, ``MessageGroupId`` turns on fair queues (SQS hands quiet
tenants' messages out first while one tenant holds a large share of the in-flight messages; a
message without a group is a tenant of its own). The moto server accepts and returns the attribute
but delivers in arrival order, so the delivery side cannot be shown locally: the test checks what
we send to SQS and what the worker does with a batch in the worst arrival order."""
from __future__ import annotations

from exports import selectors as export_selectors
from exports import services as export_services
from exports.tasks import enqueue_export
from orders.tasks import confirm_order
from saas.celery import app
from saas.tenancy import tenant_context
from tests.jobs.test_tenant_jobs import pending_order, status_of
from tests.sqs.harness import kombu_message
from tests.sqs.test_delivery import take_messages, task_of


def test_tenant_jobs_carry_their_tenant_as_message_group_and_a_batch_runs_round_robin_by_tenant(
        jobs, lambda_worker, tenant_a, tenant_b):
    with tenant_context(tenant_a.id, user_id="burst"):
        burst = [export_services.request_export()["id"] for _ in range(9)]
        assert all(enqueue_export(export_id) for export_id in burst)
    order_id = pending_order(tenant_b.id)
    with tenant_context(tenant_b.id):
        confirmation = confirm_order.delay(order_id)
    platform = app.send_task("outbox.sweep")  # no tenant context: no group
    messages = take_messages(jobs, 11)

    groups = {kombu_message(m["Body"])["headers"]["id"]: m["Attributes"].get("MessageGroupId") for m in messages}
    assert groups.pop(platform.id) is None
    assert groups.pop(confirmation.id) == tenant_b.id
    assert set(groups.values()) == {tenant_a.id} and len(groups) == 9

    # The worst arrival order: A's nine exports, then B's confirmation.
    batch = sorted((m for m in messages if task_of(m) != "outbox.sweep"), key=lambda m: task_of(m) == "orders.confirm")
    answer = lambda_worker.event_source().handle(batch)
    assert answer["result"]["response"] == {"batchItemFailures": []}
    assert status_of(tenant_b.id, order_id) in ("confirmed", "fulfilled")

    finished = [line for line in lambda_worker.log().splitlines() if "succeeded in" in line]
    assert len(finished) == 10, finished
    assert f"orders.confirm[{confirmation.id}]" in finished[1]  # second, not tenth
    with tenant_context(tenant_a.id):
        assert {export_selectors.get_export(export_id)["status"] for export_id in burst} == {"completed"}
