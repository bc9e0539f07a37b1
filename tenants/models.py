"""Tenants, memberships and user profiles.

* ``Tenant``          platform directory item (one per tenant), read under system_context.
                      Fields: name, tier, status, deployment ("pooled" | "silo"), table (silo only),
                      failure_reason (failed only), provisioning_attempts (silo), created_by,
                      owner_email.
* ``UserMembership``  platform item in the user's partition: which tenants a user belongs to.
* ``UserProfile``     platform item: the user's active tenant.
* ``TenantRegistration``  platform item in the owner's partition: a silo tenant they registered that
                      is not usable yet (``provisioning``, or ``failed``), so GET /me can show it before
                      any membership exists. Deleted by the activation transaction; expires after a week.
* ``Member``          tenant-scoped mirror of a membership, for listing a tenant's members and for
                      the "last admin" guard (index ``by_role``).

A membership is always written as the pair (UserMembership, Member) in one transaction.

The ``...Record`` classes are typed views (``saas.records``) of the items whose fields code reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from saas.records import Record
from saas.tenancy.store import Index, PlatformModel, TenantModel

TIERS = ("basic", "standard", "premium", "platinum")
POOLED_TIERS = ("basic", "standard", "premium")
SILO_TIERS = ("platinum",)
TENANT_STATUSES = ("pending_approval", "provisioning", "active", "failed", "rejected", "deactivated")
TENANT_DIRECTORY = "ALL"


class Tenant(PlatformModel):
    entity = "TENANT"  # partition TENANT_DIRECTORY, id = tenant id


class UserMembership(PlatformModel):
    entity = "MEMBERSHIP"  # partition = user sub, id = tenant id


class UserProfile(PlatformModel):
    entity = "PROFILE"  # partition = user sub, id = "profile"


class TenantRegistration(PlatformModel):
    entity = "REGISTRATION"  # partition = owner's user sub, id = tenant id


class Member(TenantModel):
    entity = "MEMBER"  # id = user sub
    export_as = "members"
    indexes = {"by_role": Index(gsi="GSI1", key=lambda item: (f"ROLE#{item['role']}", item["id"]))}


class Invitation(TenantModel):
    """A pending invitation of the tenant (id = a hash of tenant + email, so re-inviting replaces it).
    Fields: email, role, invited_by, expires_at (TTL). Nothing about the invitee's account is stored."""

    entity = "INVITATION"


@dataclass(frozen=True, slots=True)
class InvitationRecord(Record):
    id: str
    email: str
    role: str
    expires_at: int  # epoch seconds; also the table's TTL attribute
    invited_by: str | None = None
    created_at: str | None = None

    def is_live(self, now: float) -> bool:
        """DynamoDB removes expired items lazily (up to days later): until then they are ignored."""
        return self.expires_at > now


class InvitationInbox(PlatformModel):
    """The invitee's side of an invitation: partition = a hash of the (lower-case) email, id =
    ``<tenant id>.<invitation id>``. Lets a signed-in person list and answer their invitations."""

    entity = "INVITE"


class TenantCreationQuota(PlatformModel):
    """How many tenants a user created through self-service (partition = user sub, id = "created"):
    ``used``, version-guarded, checked against ``TENANTS_PER_USER`` (one cap per user)."""

    entity = "TENANTQUOTA"


@dataclass(frozen=True, slots=True)
class CreationQuotaRecord(Record):
    used: int = 0  # no item yet: nothing created
    version: int | None = None
