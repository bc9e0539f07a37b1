"""The delivery worker killed mid-batch: every (message, endpoint) pair is delivered, none twice
to a healthy endpoint. The kill is modelled by an exception no handler catches, raised as the worker
starts the fifth POST of a batch of ten (the process dies there: nothing after it runs, no queue
message of the batch is deleted); SQS then makes the batch visible again (what its visibility
timeout does) and the sweep takes over the pairs whose lease ran out."""
from __future__ import annotations

import pytest

from devstack.webhook_receiver import EndpointReceiver
from saas import aws, outbox
from saas.tenancy import tenant_context
from tests.webhooks.factories import ENDPOINTS, sweep
from webhooks import queue, transport
from webhooks.services import delivery
from webhooks.worker import drain


class Killed(BaseException):
    pass


@pytest.fixture
def receiver():
    r = EndpointReceiver()
    yield r
    r.stop()


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(tenant_a, receiver, monkeypatch,
                                                                        delivery_clock):
    api = tenant_a.admin.client()
    for path in ("/a", "/b"):
        assert api.post(ENDPOINTS, {"url": receiver.url(path), "event_types": ["product.created"]},
                        format="json").status_code == 201
    for i in range(10):
        assert api.post("/api/v1/products", {"sku": f"KILL-{i}", "name": "n", "price": "1.00", "currency": "USD",
                                             "stock": 1}, format="json").status_code == 201
    with tenant_context(tenant_a.id):
        outbox.relay_pending()

    batch = queue.receive(max_messages=10, wait_seconds=1)
    assert len(batch) == 10
    real_post, posts = transport.post, []

    def dying_post(url, **kwargs):
        posts.append(url)
        if len(posts) == 5:
            raise Killed()
        return real_post(url, **kwargs)

    monkeypatch.setattr(transport, "post", dying_post)
    monkeypatch.setattr(delivery, "_pool", type("Serial", (), {"map": staticmethod(map)})())  # one thread: dies in order
    with pytest.raises(Killed):
        delivery.handle_messages([m["body"] for m in batch])
    assert len(posts) == 5 and sum(len(receiver.received(p)) for p in ("/a", "/b")) == 4

    monkeypatch.setattr(transport, "post", real_post)
    sqs = aws.client("sqs")
    for message in batch:  # the visibility timeout runs out: SQS delivers the whole batch again
        sqs.change_message_visibility(QueueUrl=queue.url(), ReceiptHandle=message["receipt"], VisibilityTimeout=0)
    drain()
    delivery_clock.now += delivery.LEASE_SECONDS + 1  # the killed attempt's lease runs out
    sweep(tenant_a.id)
    a, b = receiver.ids("/a"), receiver.ids("/b")
    assert len(a) == len(set(a)) == 10 and len(b) == len(set(b)) == 10
    assert set(a) == set(b)
