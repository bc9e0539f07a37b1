"""Tenancy's failure kinds, one class per kind, on the application error model (``saas.errors``)."""
from __future__ import annotations

from saas.errors import AppError, Conflict, Forbidden, InvalidInput, ServiceUnavailable


class NotAMember(Forbidden):
    code, default_message = "not_a_member", "You are not a member of that tenant."


class TenantInactive(Forbidden):
    code, default_message = "tenant_inactive", "That tenant is not active."


class NotAllowed(Forbidden):
    code, default_message = "role_required", "You are not allowed to do this."


class CannotRaiseOwnRole(Forbidden):
    code, default_message = "cannot_raise_own_role", "Nobody can raise their own role."


class AlreadyMember(Conflict):
    code, default_message = "already_member", "That user is already a member of this tenant."


class LastAdmin(Conflict):
    code, default_message = "last_admin", "The last admin of a tenant cannot be removed or demoted."


class ConcurrentChange(Conflict):
    code, default_message = "conflict", "The memberships changed at the same time; try again."


class InvalidTransition(Conflict):
    code, default_message = "invalid_status", "The tenant's status does not allow this."


class TierChangeNotSupported(Conflict):
    code = "tier_change_requires_migration"
    default_message = "Moving a tenant between the pooled and the silo deployment needs a data migration."


class OffboardingError(Conflict):
    code, default_message = "offboarding", "This tenant cannot be offboarded now."


class OwnerRequired(Forbidden):
    code, default_message = "owner_required", "Only the tenant's owner can delete it."


class ConfirmationMismatch(InvalidInput):
    code, default_message = "confirmation_mismatch", "Type the tenant's name exactly to confirm."


class ProvisioningInProgress(Conflict):
    code, default_message = "provisioning_in_progress", "Another attempt is provisioning this tenant."


class ProvisioningFailed(AppError):
    """Building a silo tenant's resources failed; the tenant is recorded as ``failed`` with the reason."""

    status, code, default_message = 503, "provisioning_failed", "The tenant's resources could not be provisioned."

    def __init__(self, *, tenant_id: str, reason: str):
        super().__init__(f"Provisioning tenant {tenant_id} failed: {reason}")
        self.tenant_id = tenant_id
        self.reason = reason


class IdentityProviderUnavailable(ServiceUnavailable):
    default_message = "The identity provider is unavailable; try again shortly."

    def __init__(self, message: str | None = None):
        super().__init__("cognito", message or self.default_message)


__all__ = ["NotAMember", "TenantInactive", "NotAllowed", "CannotRaiseOwnRole", "AlreadyMember",
           "LastAdmin", "ConcurrentChange", "InvalidTransition", "TierChangeNotSupported", "ProvisioningInProgress",
           "ProvisioningFailed", "IdentityProviderUnavailable", "OffboardingError", "OwnerRequired",
           "ConfirmationMismatch"]
