"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 that the moto server delivers to, and SNS
helpers that look at topics exactly as an operator would (ListTopics)."""
from __future__ import annotations

import pytest

from devstack.webhook_receiver import Receiver
from saas import aws


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _fresh_topic_cache():
    from webhooks.services import topics

    topics.topic_cache.clear()
    yield
    topics.topic_cache.clear()


@pytest.fixture
def sns_client():
    return aws.client("sns")


@pytest.fixture
def endpoint_receiver():
    from devstack.webhook_receiver import EndpointReceiver

    r = EndpointReceiver()
    yield r
    r.stop()
