"""The store (DynamoDB tables) and the shared cache (Redis, else per process)."""
from __future__ import annotations

from typing import Any

from saas.settings.environment import env

DYNAMODB_TABLE = env("DYNAMODB_TABLE", "saas-local-pooled")
DYNAMODB_SILO_TABLE_PREFIX = env("DYNAMODB_SILO_TABLE_PREFIX", "saas-local-silo-")

CACHES: dict[str, dict[str, Any]] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "saas"}}
if env("REDIS_CACHE_URL"):
    # Short socket timeouts: a frozen cache must not hold a request (the throttle fails open).
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_CACHE_URL"),
                         "OPTIONS": {"socket_connect_timeout": float(env("REDIS_CACHE_TIMEOUT", "0.25")),
                                     "socket_timeout": float(env("REDIS_CACHE_TIMEOUT", "0.25"))}}
