"""Callers without a tenant are throttled too, and a cache outage never becomes a 500.

Before: signed-in users with no active tenant, unauthenticated callers and bad-signature tokens were
never throttled (each bad token cost an RSA verification, each /health a DescribeTable); with the
shared cache configured, a cache outage turned every throttled request into a 500."""
from __future__ import annotations

import socket

import pytest
from rest_framework.test import APIClient

from devstack.services import free_port


@pytest.fixture
def rates(settings):
    settings.CALLER_THROTTLE_RATES = {"anonymous": "5/min", "no_tenant": "5/min", "bad_token": "3/min"}
    from django.core.cache import cache

    cache.clear()
    yield settings.CALLER_THROTTLE_RATES
    cache.clear()


def _statuses(call, n):
    return [call().status_code for _ in range(n)]


def test_signed_in_user_without_a_tenant_is_throttled(rates, make_user):
    lonely = make_user().client()
    statuses = _statuses(lambda: lonely.get("/api/v1/me"), 8)
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3
    limited = lonely.get("/api/v1/me")
    assert int(limited["Retry-After"]) > 0 and limited.json()["code"] == "throttled"


def test_unauthenticated_callers_are_throttled_by_address(rates):
    anonymous = APIClient()
    statuses = _statuses(lambda: anonymous.get("/api/v1/products", REMOTE_ADDR="198.51.100.7"), 7)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 2
    # another address has its own budget
    assert anonymous.get("/api/v1/products", REMOTE_ADDR="198.51.100.8").status_code == 401


def test_health_is_throttled_and_costs_at_most_one_dynamodb_call_per_window(rates, settings):
    from saas import aws

    calls = []
    hook = lambda **kwargs: calls.append(1)  # noqa: E731  counts real DescribeTable calls sent
    aws.botocore_session().register("before-call.dynamodb.DescribeTable", hook)
    try:
        client = APIClient()
        statuses = _statuses(lambda: client.get("/health", REMOTE_ADDR="198.51.100.20"), 7)
    finally:
        aws.botocore_session().unregister("before-call.dynamodb.DescribeTable", hook)
    assert statuses == [200] * 5 + [429] * 2
    assert len(calls) <= 1


def test_bad_tokens_are_throttled_per_address(rates, tenant_a):
    forged = tenant_a.admin.id_token[:-10] + "AAAAAAAAAA"  # signature no longer matches
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    statuses = _statuses(lambda: client.get("/api/v1/me", REMOTE_ADDR="198.51.100.30"), 6)
    assert statuses[:3] == [401] * 3
    assert statuses[3:] == [429] * 3


def test_valid_tokens_behind_an_address_that_sends_bad_ones_keep_working(rates, tenant_a, tenant_b):
    """Many callers share one address (an office NAT, a proxy): one of them sending bad tokens
    must not lock the others out. Bad tokens stay refused (429) once over budget."""
    forged = tenant_a.admin.id_token[:-10] + "AAAAAAAAAA"
    attacker = APIClient()
    attacker.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    _statuses(lambda: attacker.get("/api/v1/me", REMOTE_ADDR="198.51.100.33"), 5)
    for user in (tenant_a.admin, tenant_b.admin):
        response = user.client().get("/api/v1/me", REMOTE_ADDR="198.51.100.33")
        assert response.status_code == 200, f"a valid token behind the address answered {response.status_code}"
    assert attacker.get("/api/v1/me", REMOTE_ADDR="198.51.100.33").status_code == 429


def test_a_good_token_from_another_address_is_unaffected(rates, tenant_a):
    forged = tenant_a.admin.id_token[:-10] + "AAAAAAAAAA"
    attacker = APIClient()
    attacker.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    _statuses(lambda: attacker.get("/api/v1/me", REMOTE_ADDR="198.51.100.31"), 6)
    assert tenant_a.admin.client().get("/api/v1/me", REMOTE_ADDR="198.51.100.32").status_code == 200


@pytest.fixture
def dead_cache(settings):
    """The shared (Redis) cache pointed at a loopback port nobody listens on."""
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{port}/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    settings.TENANT_THROTTLE_RATES = {tier: "5/s" for tier in settings.TENANT_THROTTLE_RATES}
    yield


def test_a_cache_outage_lets_requests_through_instead_of_500(dead_cache, tenant_a, make_user):
    assert tenant_a.admin.client().get("/api/v1/me").status_code == 200
    assert make_user().client().get("/api/v1/me").status_code == 200
    assert APIClient().get("/api/v1/products").status_code == 401
