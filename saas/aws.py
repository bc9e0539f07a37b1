"""boto3 clients for every AWS service we use, one per process, endpoints from settings.

Locally the endpoints point at DynamoDB Local and the moto server; in AWS they are unset and
boto3 uses the real regional endpoints. All clients come from one botocore session so that
hooks registered on it (round-trip counting, the test suite's Scan guard) see every call.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import boto3
import botocore.session
from botocore.config import Config
from django.conf import settings

_lock = threading.Lock()


@lru_cache(maxsize=1)
def botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


def make_client(service: str, *, endpoint_url: str | None, region: str, connect_timeout: float = 2,
                read_timeout: float = 5, max_attempts: int = 3):
    """A client on the shared session (also used before Django's settings exist: saas.config)."""
    with _lock:
        session = boto3.session.Session(botocore_session=botocore_session(), region_name=region)
        return session.client(
            service,
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                # total_max_attempts counts the first try (botocore's "max_attempts" counts retries:
                # 3 meant 4 tries, 4 x 5 s on a silent DynamoDB).
                retries={"total_max_attempts": max_attempts, "mode": "standard"},
                max_pool_connections=50,
            ),
        )


@lru_cache(maxsize=None)
def _client(service: str):
    return make_client(service, endpoint_url=settings.AWS_ENDPOINT_URLS.get(service) or None,
                       region=settings.AWS_REGION, connect_timeout=settings.AWS_CONNECT_TIMEOUT,
                       read_timeout=settings.AWS_READ_TIMEOUT, max_attempts=settings.AWS_MAX_ATTEMPTS)


def client(service: str):
    return _client(service)


def reset_clients() -> None:
    """Forget cached clients (tests that change endpoints)."""
    _client.cache_clear()
