"""Trails and their heads: which trail an entry goes to, the context its items are read and written
in, and the last known head per trail (cached per process)."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, ContextManager

from django.conf import settings

from saas.tenancy.context import SystemContext, TenantContext, current_context, tenant_context
from saas.tenancy.store import DoesNotExist

from .models import HEAD_ID, PLATFORM, AuditHead, AuditRecord, Entry, PlatformAuditHead


class _Heads:
    """Last known head per trail, per process, per pooled table (a process pointed at another table
    must not chain onto this one's trail). A stale entry only costs one cancelled attempt."""

    def __init__(self) -> None:
        self._heads: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(trail: str) -> tuple[str, str]:
        return settings.DYNAMODB_TABLE, trail

    def get(self, trail: str) -> tuple[bool, dict[str, Any] | None]:
        with self._lock:
            if self._key(trail) in self._heads:
                return True, self._heads[self._key(trail)]
        return False, None

    def put(self, trail: str, head: dict[str, Any] | None) -> None:
        with self._lock:
            self._heads[self._key(trail)] = head

    def forget(self, trail: str | None = None) -> None:
        with self._lock:
            if trail is None:
                self._heads.clear()
            else:
                self._heads.pop(self._key(trail), None)


heads = _Heads()


def trail_of(entry: Entry) -> str:
    if entry.platform:
        return PLATFORM
    if entry.tenant_id:
        return entry.tenant_id
    ctx = current_context()
    if not isinstance(ctx, TenantContext):
        raise ValueError(f"audit entry {entry.action!r} names no tenant and there is no tenant context")
    return ctx.tenant_id


def scoped(trail: str) -> ContextManager[Any]:
    """The context in which a trail's managers build keys: the tenant's own context (kept as is
    when it is the current one), system context for the platform trail."""
    ctx = current_context()
    if trail == PLATFORM:
        if isinstance(ctx, SystemContext):
            return contextlib.nullcontext()
        from saas.tenancy.context import system_context

        return system_context(reason="audit: platform trail")
    if isinstance(ctx, TenantContext) and ctx.tenant_id == trail:
        return contextlib.nullcontext()
    return tenant_context(trail)


def read_head(trail: str) -> dict[str, Any] | None:
    with scoped(trail):
        try:
            if trail == PLATFORM:
                return PlatformAuditHead.objects.get(PLATFORM, HEAD_ID, consistent=True)
            return AuditHead.objects.get(HEAD_ID, consistent=True)
        except DoesNotExist:
            return None


def read_tip(trail: str) -> dict[str, Any] | None:
    """A tenant trail's newest record (``seq``, ``hash``, ``last_expires_at``), or its checkpoint if
    that is further along (the records after it expired)."""
    with scoped(trail):
        newest = AuditRecord.objects.query(ascending=False, limit=1, consistent=True).items
    checkpoint = read_head(trail)
    tip = ({"seq": int(newest[0]["seq"]), "hash": newest[0]["hash"], "last_expires_at": newest[0].get("expires_at")}
           if newest else None)
    if checkpoint and (tip is None or int(checkpoint["seq"]) > tip["seq"]):
        tip = {"seq": int(checkpoint["seq"]), "hash": checkpoint["hash"],
               "last_expires_at": checkpoint.get("last_expires_at")}
    return tip


def head_of(trail: str, *, refresh: bool) -> dict[str, Any] | None:
    known, head = heads.get(trail)
    if refresh or not known:
        head = read_head(trail) if trail == PLATFORM else read_tip(trail)
        heads.put(trail, head)
    return head



def record_at(trail: str, seq: int) -> dict[str, Any] | None:
    try:
        return AuditRecord.objects.get(f"{seq:012d}", consistent=True)
    except DoesNotExist:
        return None
