"""SQS mode: the module's own queues on the moto server, this process publishing to them, the
worker stage's Zappa handler in a separate process fed by the local event source poller."""
from __future__ import annotations

import pytest

from devstack.webhook_receiver import Receiver
from saas import aws
from tests.sqs.harness import LambdaWorker, make_queues, use_sqs_broker


@pytest.fixture
def jobs():
    """A job queue and dead-letter queue of the test's own (2 s visibility, 3 receives)."""
    queues = make_queues()
    with use_sqs_broker(queues.url):
        yield queues
    for url in (queues.url, queues.dlq_url):
        aws.client("sqs").delete_queue(QueueUrl=url)


@pytest.fixture
def lambda_worker(jobs):
    worker = LambdaWorker(jobs)
    yield worker
    worker.close()


@pytest.fixture
def poller(lambda_worker):
    """The event source mapping, running for one test."""
    running = lambda_worker.poller()
    yield running
    running.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()
