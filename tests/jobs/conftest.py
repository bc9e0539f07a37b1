"""A Redis and a real worker per module (``celery -A saas worker`` subprocess); tests that need the
worker stopped, killed or reconfigured restart it, and the fixture puts it back."""
from __future__ import annotations

import pytest

from tests.jobs.harness import broker_redis, redis_broker, running_worker, worker  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _worker_running(running_worker):  # noqa: F811
    yield
