"""Outages of the servers the app depends on (DynamoDB, Redis, SQS, a webhook subscriber, the
worker), in bounded form, against the real local servers with faults injected by ``tests.outages.proxy.FaultProxy`` (refuse / reset /
stall / lose answers), SIGSTOP / SIGKILL by PID. Each experiment runs in well under a minute."""
from __future__ import annotations

import pytest

from saas import aws
from tests.outages.proxy import FaultProxy


@pytest.fixture
def dynamodb_proxy(settings):
    """This (web) process talks to DynamoDB Local through a fault proxy."""
    upstream = settings.AWS_ENDPOINT_URLS["dynamodb"]
    port = int(upstream.rstrip("/").rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "dynamodb": proxy.url()}
        aws.reset_clients()
        try:
            yield proxy
        finally:
            settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "dynamodb": upstream}
            aws.reset_clients()
