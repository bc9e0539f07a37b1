"""Role checks matching the API's role table (docs/ARCHITECTURE.md, README).

viewer reads; member also places/cancels own orders; manager also manages products and all
orders; admin also members, webhooks and tenant settings. Roles are ranked, so a higher role
includes everything below it.
"""
from __future__ import annotations

from rest_framework import exceptions, permissions

from saas.tenancy.context import TenantContext, current_context, refresh_current

from . import active_tenant

SAFE_METHODS = permissions.SAFE_METHODS


def role_rank(ctx: TenantContext) -> int:
    return ctx.rank


def _active_context(request) -> TenantContext:
    ctx = current_context()
    if isinstance(ctx, TenantContext):
        return ctx
    resolution = getattr(request._request, "resolution", None)
    if resolution is not None and resolution.problem == "tenant_inactive":
        raise exceptions.PermissionDenied(f"Your active tenant is {resolution.tenant_status}.", "tenant_inactive")
    raise exceptions.PermissionDenied("You have no active tenant.", "no_active_tenant")


def _consistent_context(ctx: TenantContext) -> TenantContext:
    """Privileged actions (every write, every admin-only read) re-read the caller's membership with
    a consistent read (one GetItem) instead of trusting the per-process resolution cache, so role
    changes and removals take effect at once on every process."""
    fresh = active_tenant.fresh_context(ctx)
    if fresh is None:
        raise exceptions.PermissionDenied("You are no longer a member of this tenant.", "not_a_member")
    if fresh != ctx:
        refresh_current(fresh)
    return fresh


class HasActiveTenant(permissions.BasePermission):
    """Authenticated and resolved to an active tenant."""

    min_role = "viewer"
    write_role: str | None = None  # role needed for unsafe methods, if higher than min_role

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        ctx = _active_context(request)
        needed = self.min_role
        if self.write_role and request.method not in SAFE_METHODS:
            needed = self.write_role
        if request.method not in SAFE_METHODS or needed == "admin":
            ctx = _consistent_context(ctx)
        if not ctx.at_least(needed):
            raise exceptions.PermissionDenied(f"This needs the {needed} role.", "role_required")
        return True


def require_role(min_role: str, *, write_role: str | None = None) -> type[HasActiveTenant]:
    return type(f"Requires{min_role.title()}", (HasActiveTenant,), {"min_role": min_role, "write_role": write_role})


IsViewer = require_role("viewer")
IsMember = require_role("member")
IsManager = require_role("manager")
IsAdmin = require_role("admin")
ReadViewerWriteManager = require_role("viewer", write_role="manager")
ReadViewerWriteMember = require_role("viewer", write_role="member")
ReadViewerWriteAdmin = require_role("viewer", write_role="admin")


class IsSystemAdmin(permissions.BasePermission):
    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not getattr(user, "is_system_admin", False):
            raise exceptions.PermissionDenied("Platform operators only.", "system_admin_required")
        # The audit trail of a tenant an operator acts on names "platform operator", not the person.
        getattr(request, "_request", request).acting_as_operator = True
        return True


def has_role(ctx: TenantContext, role: str) -> bool:
    return ctx.at_least(role)
