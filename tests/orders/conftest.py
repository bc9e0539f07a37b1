"""Order test fixtures (the helpers are in tests/orders/factories.py). Every test here gets a reachable broker of its own (placing an order checks
it); no worker runs, so orders stay ``pending`` unless a test drives the pipeline itself."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _broker(redis_broker):
    return redis_broker


@pytest.fixture
def other_member(tenant_a, make_user):
    return tenant_a.add(make_user, "member")
