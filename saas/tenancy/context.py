"""The tenant context: one frozen value in a ContextVar, fail-closed.

``tenant_context(...)`` sets it for a block and resets it with the token from ``set()``.
``system_context(reason=...)`` is the only way to do cross-tenant work, and it is logged.
Reading the tenant when nothing is set raises ``NoTenantContext``; ``None`` never means "all".
"""
from __future__ import annotations

import contextlib
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from saas.errors import Forbidden

audit = logging.getLogger("saas.audit")  # cross-tenant work is audited (kept at any log level)

# Tenant ids are lowercase letters/digits/hyphens: no '#' or other key delimiter can be injected.
TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
ROLES = ("admin", "manager", "member", "viewer")  # highest first; each includes everything below it
ROLE_RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}  # viewer=0 ... admin=3


class NoTenantContext(RuntimeError, Forbidden):
    """Tenant-scoped work was attempted with no tenant context set (403 ``no_active_tenant``)."""

    code, default_message = "no_active_tenant", "No active tenant."

    def __init__(self, detail: str = ""):
        Forbidden.__init__(self)
        self.args = (detail,) if detail else ()


class InvalidTenantId(ValueError):
    pass


def validate_tenant_id(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise InvalidTenantId(f"invalid tenant id: {tenant_id!r}")
    return tenant_id


@dataclass(frozen=True, slots=True)
class TenantContext:
    tenant_id: str
    user_id: str | None = None
    roles: frozenset[str] = frozenset()
    tier: str = "basic"

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant_id)
        object.__setattr__(self, "roles", frozenset(self.roles))

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def rank(self) -> int:
        """The highest role's rank (-1 without a role)."""
        return max((ROLE_RANK.get(role, -1) for role in self.roles), default=-1)

    def at_least(self, role: str) -> bool:
        """Holds ``role`` or a higher one (roles are ranked: admin > manager > member > viewer)."""
        return self.rank >= ROLE_RANK[role]


@dataclass(frozen=True, slots=True)
class SystemContext:
    """Explicit cross-tenant scope (platform admin, migrations, relays)."""

    reason: str


_current: ContextVar[TenantContext | SystemContext | None] = ContextVar("tenant_context", default=None)


def current_context() -> TenantContext | SystemContext | None:
    return _current.get()


def get_context() -> TenantContext:
    """The current tenant context; raises when none is set (including under system_context)."""
    ctx = _current.get()
    if not isinstance(ctx, TenantContext):
        raise NoTenantContext("no tenant context is set")
    return ctx


def current_tenant_id() -> str:
    return get_context().tenant_id


@contextlib.contextmanager
def request_scope() -> Iterator[None]:
    """The block starts with no context, whatever the thread carried, and whatever it sets is undone
    when it ends (``TenantContextMiddleware``, around each request)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def enter(ctx: TenantContext) -> None:
    """Make ``ctx`` current until the enclosing ``request_scope`` ends (the request's resolved tenant)."""
    _current.set(ctx)


def refresh_current(ctx: TenantContext) -> None:
    """Replace the current context by a fresher view of the *same* tenant (e.g. roles re-read from
    the membership). The outer ``set()``'s token still restores what was there before it."""
    current = _current.get()
    if not isinstance(current, TenantContext) or current.tenant_id != ctx.tenant_id:
        raise NoTenantContext("only the current tenant's context can be refreshed")
    _current.set(ctx)


@contextlib.contextmanager
def tenant_context(
    tenant_id: str, *, user_id: str | None = None, roles: frozenset[str] | set[str] | tuple = (), tier: str = "basic"
) -> Iterator[TenantContext]:
    ctx = TenantContext(tenant_id=tenant_id, user_id=user_id, roles=frozenset(roles), tier=tier)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


@contextlib.contextmanager
def system_context(*, reason: str) -> Iterator[SystemContext]:
    if not reason or not reason.strip():
        raise ValueError("system_context needs a reason")
    audit.info("system context entered: %s", reason, extra={"event": "system_context", "reason": reason})
    token = _current.set(SystemContext(reason=reason))
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)
