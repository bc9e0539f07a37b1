"""The tenant directory as jobs see it: records read through the ``get_tenant`` hook, cached briefly.

Its own module (not ``saas.tenancy.jobs``, which subclasses Celery's ``Task``) so that a web process
that only forgets cached records (offboarding) does not import Celery."""
from __future__ import annotations

import time
from typing import Any, Callable

from django.conf import settings

from saas.cache import TTLCache
from saas.hooks import hooks


class TenantDirectory:
    """Tenant records as the worker sees them (through the ``get_tenant`` hook the tenants app
    registers); cached briefly so a burst of jobs costs one read, while a deactivation still stops a
    tenant's jobs within ``TENANT_JOB_CACHE_SECONDS``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._cache: TTLCache[dict[str, Any] | None] = TTLCache(maxsize=10_000, ttl=lambda _: settings.TENANT_JOB_CACHE_SECONDS,
                                                      clock=clock)

    def get(self, tenant_id: str) -> dict[str, Any] | None:
        return self._cache.get_or_load(tenant_id, lambda: hooks.require("get_tenant")(tenant_id))

    def forget(self) -> None:
        self._cache.clear()


tenant_directory = TenantDirectory()
