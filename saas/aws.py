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


@lru_cache(maxsize=None)
def _client(service: str):
    with _lock:
        session = boto3.session.Session(botocore_session=botocore_session(), region_name=settings.AWS_REGION)
        return session.client(
            service,
            endpoint_url=settings.AWS_ENDPOINT_URLS.get(service) or None,
            config=Config(
                connect_timeout=settings.AWS_CONNECT_TIMEOUT,
                read_timeout=settings.AWS_READ_TIMEOUT,
                retries={"max_attempts": settings.AWS_MAX_ATTEMPTS, "mode": "standard"},
                max_pool_connections=50,
            ),
        )


def client(service: str):
    return _client(service)


def reset_clients() -> None:
    """Forget cached clients (tests that change endpoints)."""
    _client.cache_clear()
