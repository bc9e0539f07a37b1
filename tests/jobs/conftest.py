"""A Redis and a real worker per module (``celery -A saas worker`` subprocess); tests that need the
worker stopped, killed or reconfigured restart it, and the fixture puts it back."""
from __future__ import annotations

import pytest
import redis as redis_py

from tests.jobs.harness import Worker, redis_broker  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def worker(redis_broker):  # noqa: F811
    running = Worker(redis_broker.url()).start()
    yield running
    running.stop()
    running.discard_log()


@pytest.fixture(autouse=True)
def _worker_running(worker):
    if not worker.running:
        worker.start()
    yield
    if not worker.running:
        worker.start()


@pytest.fixture
def broker_redis(redis_broker):  # noqa: F811
    """A client for inspecting the broker's keys (the queue list ``celery``, the ``unacked`` hash)."""
    client = redis_py.Redis.from_url(redis_broker.url())
    yield client
    client.close()
