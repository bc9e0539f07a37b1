"""Writes for tenants, memberships and the active tenant. Keyword-only, typed.

Tenant-scoped operations (members, the current tenant's settings) act on the tenant in context:
the request's ``TenantContext`` is the only authority on which tenant is being changed. Platform
operations (tenant status and tier) run under an explicit ``system_context``. Every change that
affects who may act where drops the resolution cache entries it makes stale in this process.
"""
from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta, timezone

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from saas.celery import broker
from saas.exceptions import ServiceUnavailable
from saas.tenancy import get_context, system_context, tenant_context
from saas.tenancy.store import (
    DoesNotExist,
    StoreError,
    TransactionCancelled,
    VersionConflict,
    now_iso,
    router,
    transact_write,
)
from saas.tenancy import tables

from . import cognito, resolution
from .models import (
    POOLED_TIERS,
    ROLE_RANK,
    ROLES,
    SILO_TIERS,
    TENANT_DIRECTORY,
    TIERS,
    Member,
    Tenant,
    TenantRegistration,
    UserMembership,
)

logger = logging.getLogger("tenants")


# --- errors: one per failure kind; the API maps ``status_code`` / ``code`` ---------------------
class TenancyError(Exception):
    status_code = 400
    code = "invalid"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class NotAMember(TenancyError):
    status_code, code = 403, "not_a_member"
    default_message = "You are not a member of that tenant."


class TenantInactive(TenancyError):
    status_code, code = 403, "tenant_inactive"
    default_message = "That tenant is not active."


class NotAllowed(TenancyError):
    status_code, code = 403, "role_required"
    default_message = "You are not allowed to do this."


class CannotRaiseOwnRole(TenancyError):
    status_code, code = 403, "cannot_raise_own_role"
    default_message = "Nobody can raise their own role."


class AlreadyMember(TenancyError):
    status_code, code = 409, "already_member"
    default_message = "That user is already a member of this tenant."


class LastAdmin(TenancyError):
    status_code, code = 409, "last_admin"
    default_message = "The last admin of a tenant cannot be removed or demoted."


class ConcurrentChange(TenancyError):
    status_code, code = 409, "conflict"
    default_message = "The memberships changed at the same time; try again."


class InvalidTransition(TenancyError):
    status_code, code = 409, "invalid_status"
    default_message = "The tenant's status does not allow this."


class TierChangeNotSupported(TenancyError):
    status_code, code = 409, "tier_change_requires_migration"
    default_message = "Moving a tenant between the pooled and the silo deployment needs a data migration."


class ProvisioningFailed(TenancyError):
    status_code, code = 503, "provisioning_failed"
    default_message = "The tenant's resources could not be provisioned."

    def __init__(self, *, tenant_id: str, reason: str):
        super().__init__(f"Provisioning tenant {tenant_id} failed: {reason}")
        self.tenant_id = tenant_id
        self.reason = reason


class ProvisioningInProgress(TenancyError):
    status_code, code = 409, "provisioning_in_progress"
    default_message = "Another attempt is provisioning this tenant."


class InvalidInput(TenancyError):
    status_code, code = 400, "invalid"


class IdentityProviderUnavailable(TenancyError):
    status_code, code = 503, "service_unavailable"
    default_message = "The identity provider is unavailable; try again shortly."


# --- helpers ----------------------------------------------------------------------------------
def new_tenant_id() -> str:
    """Random and unguessable (80 bits); only [a-z0-9-] so it can never inject a key delimiter."""
    return "t-" + secrets.token_hex(10)


def silo_table_name(tenant_id: str) -> str:
    return f"{settings.DYNAMODB_SILO_TABLE_PREFIX}{tenant_id}"


def _get_tenant(tenant_id: str) -> dict:
    with system_context(reason=f"read tenant {tenant_id}"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)


def _replace_tenant(tenant: dict, *, reason: str, **changes) -> dict:
    """Version-guarded replace of a tenant directory item (VersionConflict on a concurrent change)."""
    with system_context(reason=reason):
        return Tenant.objects.put(TENANT_DIRECTORY, tenant["id"], expected_version=tenant["version"],
                                  **{**tenant, **changes})


def _membership_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None,
                    member_table: str | None = None) -> list[dict]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    fields = {"tenant_id": tenant_id, "user_id": user_id, "email": email, "role": role}
    with system_context(reason=f"membership of {user_id} in {tenant_id}"):
        user_op, _ = UserMembership.objects.put_op(user_id, tenant_id, **fields)
    with tenant_context(tenant_id):
        member_op, _ = Member.objects.create_op(id=user_id, user_id=user_id, email=email, role=role,
                                                invited_by=invited_by)
    if member_table is not None:
        # A silo tenant's first items are written in the very transaction that records its route, so
        # the (manager-built) item is pointed at the silo table explicitly.
        member_op["Put"]["TableName"] = member_table
    return [user_op, member_op]


def membership_ops(*, tenant_id: str, user_id: str, email: str, role: str, invited_by: str | None = None) -> list[dict]:
    """The pair of items that make one membership; both created in the caller's transaction."""
    return _membership_ops(tenant_id=tenant_id, user_id=user_id, email=email, role=role, invited_by=invited_by)


# --- onboarding -------------------------------------------------------------------------------
# How long GET /me keeps showing a registration that failed (its item expires through the table's TTL).
REGISTRATION_RETENTION_SECONDS = 7 * 24 * 3600


def request_tenant(*, name: str, tier: str, owner_id: str, owner_email: str) -> dict:
    """Self-service registration (POST /tenants). Pooled tiers are created at once (``active``).
    A silo tier is recorded as ``provisioning`` and built by a worker (``tenants.provision_silo``),
    because creating its table can outlast an API request; until it is ``active`` (or ``failed``, with
    a reason) its owner sees it under ``pending_tenants`` in GET /me.

    The broker is checked first: when it is down nothing is written (ServiceUnavailable ``broker``).
    An enqueue lost after the write is recovered by the outbox sweep (``provisioning_is_stuck``)."""
    if tier in POOLED_TIERS:
        return create_pooled_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email)
    if tier not in SILO_TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    if not broker.reachable():
        raise ServiceUnavailable("broker", "The provisioning queue is unavailable, so the tenant was not created; "
                                           "try again shortly.")
    tenant = start_silo_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email)
    from . import tasks

    tasks.enqueue_provisioning(tenant["id"])
    return tenant


def register_tenant(*, name: str, tier: str, owner_id: str, owner_email: str) -> dict:
    """Registration that waits for the tenant to be usable, silo provisioning included: for operators
    (``manage.py create_tenant``, ``seed_demo``). The API uses ``request_tenant``."""
    if tier in POOLED_TIERS:
        return create_pooled_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email)
    if tier in SILO_TIERS:
        tenant = start_silo_tenant(name=name, tier=tier, owner_id=owner_id, owner_email=owner_email)
        return provision_silo_tenant(tenant_id=tenant["id"])
    raise ValueError(f"unknown tier {tier!r}")


def create_pooled_tenant(*, name: str, tier: str, owner_id: str, owner_email: str) -> dict:
    """Tenant record + the owner's admin membership, all in one transaction."""
    if tier not in POOLED_TIERS:
        raise ValueError(f"tier {tier!r} is not pooled")
    tenant_id = new_tenant_id()
    with system_context(reason=f"create tenant {tenant_id}"):
        tenant_op, tenant = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, name=name, tier=tier, status="active", deployment="pooled",
            created_by=owner_id, owner_email=owner_email)
    ops = [tenant_op, *membership_ops(tenant_id=tenant_id, user_id=owner_id, email=owner_email, role="admin")]
    with system_context(reason=f"create tenant {tenant_id}"):
        transact_write(ops)
    resolution.cache.invalidate_user(owner_id)
    logger.info("tenant created: %s tier=%s owner=%s", tenant_id, tier, owner_id)
    return tenant


def start_silo_tenant(*, name: str, tier: str = "platinum", owner_id: str, owner_email: str) -> dict:
    """Record a silo tenant as ``provisioning`` (no members, no route, no table yet), together with
    the owner's registration item (so GET /me shows it), in one transaction."""
    if tier not in SILO_TIERS:
        raise ValueError(f"tier {tier!r} is not a silo tier")
    tenant_id = new_tenant_id()
    with system_context(reason=f"start silo tenant {tenant_id}"):
        tenant_op, tenant = Tenant.objects.put_op(
            TENANT_DIRECTORY, tenant_id, name=name, tier=tier, status="provisioning", deployment="silo",
            table=silo_table_name(tenant_id), created_by=owner_id, owner_email=owner_email, provisioning_attempts=0)
        registration_op, _ = TenantRegistration.objects.put_op(
            owner_id, tenant_id, expires_at=int(time.time()) + REGISTRATION_RETENTION_SECONDS)
        transact_write([tenant_op, registration_op])
    logger.info("silo tenant %s: provisioning table %s", tenant_id, tenant["table"])
    return tenant


def provisioning_is_stuck(tenant: dict) -> bool:
    """A ``provisioning`` tenant untouched for TENANT_PROVISIONING_RETRY_SECONDS: its job was lost or
    its worker died (an attempt's claim refreshes ``updated_at``). The sweep re-enqueues it."""
    if tenant.get("status") != "provisioning":
        return False
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=settings.TENANT_PROVISIONING_RETRY_SECONDS)
    return tenant["updated_at"] <= cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def provision_silo_tenant(*, tenant_id: str) -> dict:
    """Build a ``provisioning`` silo tenant (the ``tenants.provision_silo`` job's body): claim it,
    create the silo table, then in ONE transaction: route -> table, status active, the owner's admin
    membership, the owner's registration item gone. On failure the table is deleted and the tenant
    is marked ``failed`` with a reason; no route and no membership exist, so nothing half-made is
    left behind.

    Raises InvalidTransition (no longer provisioning: done or failed), ProvisioningInProgress
    (another attempt holds it) or ProvisioningFailed."""
    tenant = _claim_provisioning(tenant_id)
    table = tenant["table"]
    try:
        tables.ensure_table(table)  # idempotent: a retry after a dead worker finds its table
        with system_context(reason=f"activate silo tenant {tenant_id}"):
            activate_op, _ = Tenant.objects.put_op(TENANT_DIRECTORY, tenant_id, expected_version=tenant["version"],
                                                   **{**tenant, "status": "active"})
            registration_done = TenantRegistration.objects.delete_op(tenant["created_by"], tenant_id)
            del registration_done["Delete"]["ConditionExpression"]  # gone either way
            ops = [activate_op, registration_done, router.route_op(tenant_id, table),
                   *_membership_ops(tenant_id=tenant_id, user_id=tenant["created_by"], email=tenant["owner_email"],
                                    role="admin", member_table=table)]
            transact_write(ops)
    except Exception as exc:  # a cleanup boundary: whatever failed, leave nothing half-made
        router.forget(tenant_id)
        outcome = _attempt_outcome(tenant)
        if outcome == "committed":  # the commit happened but its answer was lost
            return _activated(tenant)
        if outcome == "superseded":  # a newer attempt owns the tenant (and the table) now
            raise ProvisioningInProgress() from exc
        if outcome == "unknown":  # the directory is unreachable: touch nothing; the sweep retries
            raise
        reason = _failure_reason(exc)
        logger.exception("silo tenant %s failed: %s", tenant_id, reason)
        raise _fail_provisioning(tenant, reason=reason) from exc
    router.forget(tenant_id)  # this process looked the route up (and cached "pooled") while building ops
    return _activated(tenant)


def _claim_provisioning(tenant_id: str) -> dict:
    """Take the tenant for one attempt: a version-guarded write, so duplicate deliveries of the job
    (an ``acks_late`` redelivery, a sweep's re-enqueue) run it once. The claim holds until the tenant
    counts as stuck again; after TENANT_PROVISIONING_MAX_ATTEMPTS the tenant is given up (``failed``)."""
    tenant = _get_tenant(tenant_id)
    if tenant.get("status") != "provisioning":
        raise InvalidTransition(f"Tenant {tenant_id} is {tenant.get('status')}, not provisioning.")
    attempts = int(tenant.get("provisioning_attempts", 0))
    if attempts and not provisioning_is_stuck(tenant):
        raise ProvisioningInProgress()
    if attempts >= settings.TENANT_PROVISIONING_MAX_ATTEMPTS:
        raise _fail_provisioning(tenant, reason=f"gave up after {attempts} attempts that did not finish")
    try:
        return _replace_tenant(tenant, reason=f"provision silo tenant {tenant_id}", provisioning_attempts=attempts + 1)
    except VersionConflict:
        raise ProvisioningInProgress() from None


def _attempt_outcome(claimed: dict) -> str:
    """After a failed attempt: did its activation commit anyway, has a newer attempt taken the tenant
    over, is the tenant still this attempt's to clean up, or is the directory unreachable?"""
    try:
        current = _get_tenant(claimed["id"])
    except StoreError:
        return "unknown"
    if current.get("status") == "active":
        return "committed"
    return "ours" if current.get("version") == claimed["version"] else "superseded"


def _fail_provisioning(tenant: dict, *, reason: str) -> ProvisioningFailed:
    """Drop the table and mark the tenant ``failed``; returns the error to raise."""
    _discard_table(tenant["table"])
    try:
        _replace_tenant(tenant, reason=f"mark tenant {tenant['id']} failed", status="failed", failure_reason=reason,
                        table=None)
    except StoreError:
        logger.exception("could not mark tenant %s failed; it stays 'provisioning'", tenant["id"])
    resolution.cache.invalidate_tenant(tenant["id"])
    return ProvisioningFailed(tenant_id=tenant["id"], reason=reason)


def _activated(tenant: dict) -> dict:
    resolution.cache.invalidate_user(tenant["created_by"])
    resolution.cache.invalidate_tenant(tenant["id"])
    logger.info("silo tenant %s active in %s", tenant["id"], tenant["table"])
    return _get_tenant(tenant["id"])


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".strip()[:500]
    if isinstance(exc, TransactionCancelled):
        return f"transaction cancelled: {exc.reasons}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _discard_table(table: str) -> None:
    try:
        tables.delete_table(table)
    except (ClientError, BotoCoreError):
        logger.exception("could not delete silo table %s", table)


# --- the current tenant -------------------------------------------------------------------------
def update_current_tenant(*, name: str) -> dict:
    ctx = get_context()
    tenant = _get_tenant(ctx.tenant_id)
    updated = _replace_tenant(tenant, reason=f"rename tenant {ctx.tenant_id}", name=name)
    logger.info("tenant %s renamed by %s", ctx.tenant_id, ctx.user_id)
    return updated


# --- memberships (the tenant in context) ----------------------------------------------------------
def _require_admin() -> None:
    ctx = get_context()
    if max((ROLE_RANK.get(r, -1) for r in ctx.roles), default=-1) < ROLE_RANK["admin"]:
        raise NotAllowed("Only admins manage members.")


def _other_admin_guard(*, leaving: str) -> dict:
    """A transaction check that some admin other than ``leaving`` still is one.

    The role index is read to find a candidate (it may lag); the ConditionCheck inside the
    transaction is what guarantees it: two admins demoting each other at the same time conflict,
    so a tenant can never end up without an admin."""
    page = Member.objects.query(index="by_role", value="ROLE#admin", limit=10)
    for candidate in page.items:
        if candidate["id"] != leaving and candidate.get("role") == "admin":
            return Member.objects.condition_op(candidate["id"], Attr("role").eq("admin"))
    raise LastAdmin()


def invite_member(*, email: str, role: str) -> dict:
    """Add a person by email: the Cognito user is created (with ``custom:tenant_id``) if they have
    none yet, then the membership pair is written. 409 if they are already a member."""
    _require_admin()
    ctx = get_context()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    email = email.strip().lower()
    try:
        user = cognito.find_or_create_user(email=email, tenant_id=ctx.tenant_id)
    except cognito.CognitoUnavailable as exc:
        raise IdentityProviderUnavailable() from exc
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("InvalidParameterException", "InvalidParameterValue"):
            raise InvalidInput(f"The identity provider refused the user: {exc.response['Error'].get('Message', '')}")
        raise
    try:
        Member.objects.get(user.sub, consistent=True)
    except DoesNotExist:
        pass
    else:
        raise AlreadyMember()
    ops = _membership_ops(tenant_id=ctx.tenant_id, user_id=user.sub, email=user.email or email, role=role,
                          invited_by=ctx.user_id)
    try:
        with system_context(reason=f"invite {user.sub} to {ctx.tenant_id}"):
            transact_write(ops)
    except TransactionCancelled:
        if user.created:
            cognito.delete_user(user.username)
        raise AlreadyMember() from None
    except StoreError:
        if user.created:
            cognito.delete_user(user.username)
        raise
    resolution.cache.invalidate_user(user.sub)
    logger.info("member %s invited to %s as %s by %s", user.sub, ctx.tenant_id, role, ctx.user_id)
    return Member.objects.get(user.sub, consistent=True)


def change_member_role(*, user_id: str, role: str) -> dict:
    _require_admin()
    ctx = get_context()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    member = Member.objects.get(user_id, consistent=True)  # another tenant's user: DoesNotExist -> 404
    if member["role"] == role:
        return member
    if user_id == ctx.user_id and ROLE_RANK[role] > ROLE_RANK.get(member["role"], -1):
        raise CannotRaiseOwnRole()
    member_op, updated = Member.objects.update_op(user_id, expected_version=member["version"], current=member,
                                                  role=role)
    with system_context(reason=f"role of {user_id} in {ctx.tenant_id}"):
        mirror = UserMembership.objects.get(user_id, ctx.tenant_id, consistent=True)
        mirror_op, _ = UserMembership.objects.put_op(user_id, ctx.tenant_id, expected_version=mirror["version"],
                                                     **{**mirror, "role": role})
    ops = [member_op, mirror_op]
    if member["role"] == "admin":
        ops.append(_other_admin_guard(leaving=user_id))
    try:
        with system_context(reason=f"change role of {user_id} in {ctx.tenant_id}"):
            transact_write(ops)
    except TransactionCancelled as exc:
        raise ConcurrentChange() from exc
    resolution.cache.invalidate_user(user_id)
    logger.info("member %s of %s is now %s (by %s)", user_id, ctx.tenant_id, role, ctx.user_id)
    return Member.objects.get(user_id, consistent=True)


def remove_member(*, user_id: str) -> None:
    _require_admin()
    ctx = get_context()
    member = Member.objects.get(user_id, consistent=True)
    ops = [Member.objects.delete_op(user_id, expected_version=member["version"])]
    with system_context(reason=f"remove {user_id} from {ctx.tenant_id}"):
        ops.append(UserMembership.objects.delete_op(user_id, ctx.tenant_id))
    if member["role"] == "admin":
        ops.append(_other_admin_guard(leaving=user_id))
    try:
        with system_context(reason=f"remove {user_id} from {ctx.tenant_id}"):
            transact_write(ops)
    except TransactionCancelled as exc:
        raise ConcurrentChange() from exc
    resolution.cache.invalidate_user(user_id)
    logger.info("member %s removed from %s by %s", user_id, ctx.tenant_id, ctx.user_id)


# --- the active tenant ------------------------------------------------------------------------------
def switch_active_tenant(*, user_id: str, tenant_id: str) -> dict:
    """Raises NotAMember when the user has no membership there (callers answer 403, no leak)."""
    with system_context(reason=f"switch active tenant for {user_id}"):
        try:
            membership = UserMembership.objects.get(user_id, tenant_id, consistent=True)
        except DoesNotExist:
            raise NotAMember() from None
        try:
            tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        except DoesNotExist:
            raise NotAMember() from None
        if tenant.get("status") != "active":
            raise TenantInactive(f"That tenant is {tenant.get('status')}.")
        resolution.set_active_tenant_record(user_id, tenant_id)
    return membership


# --- platform administration -------------------------------------------------------------------------
_TRANSITIONS = {("active", "deactivated"), ("deactivated", "active")}


def set_tenant_status(*, tenant_id: str, status: str, actor_id: str) -> dict:
    """Deactivate or reactivate a tenant. Takes effect at once in this process, within the
    membership-cache TTL everywhere else."""
    tenant = _get_tenant(tenant_id)
    if tenant.get("status") == status:
        return tenant
    if (tenant.get("status"), status) not in _TRANSITIONS:
        raise InvalidTransition(f"A {tenant.get('status')} tenant cannot become {status}.")
    if status == "active" and tenant.get("offboarding"):
        raise InvalidTransition("This tenant is being deleted (offboarding); it cannot be reactivated.")
    updated = _replace_tenant(tenant, reason=f"platform admin {actor_id}: {tenant_id} -> {status}", status=status,
                              status_changed_at=now_iso(), status_changed_by=actor_id)
    resolution.cache.invalidate_tenant(tenant_id)
    logger.info("tenant %s is now %s (by %s)", tenant_id, status, actor_id)
    return updated


def change_tenant_tier(*, tenant_id: str, tier: str, actor_id: str) -> dict:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    tenant = _get_tenant(tenant_id)
    if tenant.get("tier") == tier:
        return tenant
    if tenant.get("deployment") == "silo" or tier in SILO_TIERS:
        raise TierChangeNotSupported()
    if tenant.get("status") not in ("active", "deactivated"):
        raise InvalidTransition(f"A {tenant.get('status')} tenant cannot change tier.")
    updated = _replace_tenant(tenant, reason=f"platform admin {actor_id}: tier of {tenant_id}", tier=tier)
    resolution.cache.invalidate_tenant(tenant_id)
    logger.info("tenant %s tier %s -> %s (by %s)", tenant_id, tenant.get("tier"), tier, actor_id)
    return updated


__all__ = [
    "TIERS", "TenancyError", "NotAMember", "TenantInactive", "NotAllowed", "CannotRaiseOwnRole", "AlreadyMember",
    "LastAdmin", "ConcurrentChange", "InvalidTransition", "TierChangeNotSupported", "ProvisioningFailed",
    "ProvisioningInProgress", "IdentityProviderUnavailable", "InvalidInput", "request_tenant", "register_tenant",
    "create_pooled_tenant", "start_silo_tenant", "provisioning_is_stuck", "provision_silo_tenant", "membership_ops",
    "new_tenant_id", "silo_table_name", "update_current_tenant",
    "invite_member", "change_member_role", "remove_member", "switch_active_tenant", "set_tenant_status",
    "change_tenant_tier",
]
