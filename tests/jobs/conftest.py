"""A Redis and a real worker per module (``celery -A saas worker`` subprocess); tests that need the
worker stopped, killed or reconfigured restart it, and the fixture puts it back."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _worker_running(running_worker):
    yield
