"""SQS mode: the module's own queues on the moto server, this process publishing to them, the
worker stage's Zappa handler in a separate process fed by the local event source poller."""
from __future__ import annotations

import pytest

from tests.sqs.harness import LambdaWorker, make_queues, use_sqs_broker


@pytest.fixture(scope="module")
def jobs():
    queues = make_queues()
    with use_sqs_broker(queues.url):
        yield queues


@pytest.fixture(scope="module")
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
