"""Invitations: membership by consent, and leaving a tenant.

An admin invites an email address with a role; that writes a pending ``Invitation`` in the tenant
and its mirror in the invitee's inbox (keyed by a hash of the email), nothing else. The answer is the
same whether or not the email has an account: no user id, no account is created, and no Cognito
attribute is set (``custom:tenant_id`` is no longer written by anyone but the person's own sign-up).
The invitee, signed in with that email, lists their invitations and accepts one (the membership is
created then, in one transaction with the invitation's removal and the plan's member slot) or
declines it. Invitations expire after ``INVITATION_TTL_SECONDS``. Any member may leave a tenant,
except its last admin.

An invitation carries its writer's authority, so it lives no longer than that authority: accepting
checks, in the joining transaction, that the tenant is active and that the inviter is still one of
its admins; removing a member (or a member leaving, or losing the admin role) revokes the
invitations they wrote in that very transaction. People match invitations only by a *verified* email.
"""
from __future__ import annotations

import hashlib
import logging
import time

from boto3.dynamodb.conditions import Attr
from django.conf import settings

import audit as audit_trail
from audit import Entry
from saas import idempotency as idempotency_records
from saas import limits
from saas.errors import NotFound
from saas.idempotency import Claim
from saas.tenancy import get_context, system_context, tenant_context
from saas.tenancy.context import ROLES
from saas.tenancy.store import DoesNotExist, TransactionCancelled, UnitOfWork

from .. import active_tenant, notifications
from ..errors import AlreadyMember, ConcurrentChange, NotAMember, TenantInactive
from ..models import (
    TENANT_DIRECTORY,
    Invitation,
    InvitationInbox,
    InvitationRecord,
    Member,
    Tenant,
    UserMembership,
)
from .members import other_admin_guard, require_admin
from .records import (
    commit_change,
    inbox_partition,
    invitation_removal_ops,
    membership_item_ops,
    normalise_email,
    revoke_ops_of_writer,
)

logger = logging.getLogger("tenants")




def _invitation_id(tenant_id: str, email: str) -> str:
    return hashlib.sha256(f"{tenant_id}\x00{normalise_email(email)}".encode()).hexdigest()[:32]


def public_invitation(invitation: InvitationRecord) -> dict:
    return {"id": invitation.id, "email": invitation.email, "role": invitation.role, "status": "pending",
            "invited_by": invitation.invited_by, "created_at": invitation.created_at,
            "expires_at": invitation.expires_at}


def invite_member(*, email: str, role: str, idempotency: Claim | None = None) -> InvitationRecord:
    """Invite ``email`` to the tenant in context as ``role`` (admins only). Idempotent per email:
    inviting again replaces the pending invitation (new role, new expiry). Refused for someone who is
    already a member (409 ``already_member``) and for the plan's member limit; never says whether the
    email has an account. ``idempotency``: the key's record joins the transaction (``saas.idempotency``)."""
    require_admin()
    ctx = get_context()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    email = normalise_email(email)
    # An admin sees the member list anyway: saying so reveals nothing, and an invitation for someone
    # already in the tenant could never be accepted.
    if any(normalise_email(member.get("email") or "") == email for member in Member.objects.every()):
        raise AlreadyMember(f"{email} is already a member of this tenant; change their role in the list below "
                            f"instead.", fields={"email": ["Already a member of this tenant."]})
    limit = limits.limit_for("members")
    if limit is not None and limits.usage_of("members") >= limit:
        raise limits.exceeded("members")
    invitation_id = _invitation_id(ctx.tenant_id, email)
    expires_at = int(time.time()) + settings.INVITATION_TTL_SECONDS
    try:
        current = Invitation.objects.get(invitation_id, consistent=True)
    except DoesNotExist:
        invitation_op, invitation = Invitation.objects.create_op(
            id=invitation_id, email=email, role=role, invited_by=ctx.user_id, expires_at=expires_at)
    else:
        invitation_op, renewed = Invitation.objects.update_op(
            invitation_id, expected_version=current["version"], current=current, role=role, invited_by=ctx.user_id,
            expires_at=expires_at)
        invitation = renewed
    tenant_name = _tenant_name(ctx.tenant_id)
    with system_context(reason=f"invitation to {ctx.tenant_id}"):
        inbox_op, _ = InvitationInbox.objects.replace_op(
            inbox_partition(email), f"{ctx.tenant_id}.{invitation_id}", tenant_id=ctx.tenant_id,
            tenant_name=tenant_name, invitation_id=invitation_id, role=role, expires_at=expires_at)
    entry = Entry(action="member.invited", target_type="invitation", target_id=invitation_id,
                  tenant_id=ctx.tenant_id, tier=ctx.tier, changes={"role": [None, role], "email": [None, email]})
    invited = InvitationRecord.from_item(invitation)
    tx = UnitOfWork()
    tx.add("invitation", invitation_op)
    tx.put("inbox", inbox_op)
    idempotency_records.join(tx, idempotency, invited)
    commit_change(tx, entry, reason=f"invite {email} to {ctx.tenant_id}")
    logger.info("invitation %s to %s as %s by %s", invitation_id, ctx.tenant_id, role, ctx.user_id)
    notifications.notify_invited(tenant_id=ctx.tenant_id, tenant_name=tenant_name, email=email, role=role,
                                 inbox_id=f"{ctx.tenant_id}.{invitation_id}")
    return invited


def _tenant_name(tenant_id: str) -> str:
    with system_context(reason=f"name of tenant {tenant_id}"):
        try:
            return Tenant.objects.get(TENANT_DIRECTORY, tenant_id).get("name", "")
        except DoesNotExist:
            return ""


def list_invitations(*, cursor: str | None = None, limit: int = 50) -> tuple[list[InvitationRecord], str | None]:
    """One page of the tenant's pending invitations (admins) and the cursor of the next page (None
    at the end). Expired ones are left out, so a page may hold fewer than ``limit``."""
    require_admin()
    now = time.time()
    page = Invitation.objects.query(cursor=cursor, limit=limit)
    invitations = (InvitationRecord.from_item(item) for item in page.items)
    return [invitation for invitation in invitations if invitation.is_live(now)], page.next_cursor


def revoke_invitation(*, invitation_id: str) -> None:
    require_admin()
    ctx = get_context()
    invitation = Invitation.objects.get(invitation_id, consistent=True)  # another tenant's: 404
    _delete_invitation(ctx.tenant_id, invitation, action="member.invitation_revoked")


def my_invitations(*, email: str) -> list[dict]:
    """The signed-in person's pending invitations (by their verified email)."""
    if not email:
        return []
    now = time.time()
    with system_context(reason="list my invitations"):
        items = InvitationInbox.objects.query(inbox_partition(email), limit=100).items
    return [{"id": i["id"], "tenant": {"id": i["tenant_id"], "name": i.get("tenant_name", "")}, "role": i["role"],
             "expires_at": i["expires_at"]} for i in items if i["expires_at"] > now]


def _find(email: str, inbox_id: str) -> tuple[dict, dict]:
    """The invitation behind ``inbox_id`` in the person's inbox; 404 when it is not theirs or gone."""
    if not email:
        raise NotFound("No such invitation.")
    with system_context(reason="answer an invitation"):
        try:
            inbox = InvitationInbox.objects.get(inbox_partition(email), inbox_id, consistent=True)
        except DoesNotExist:
            raise NotFound("No such invitation.") from None
    with tenant_context(inbox["tenant_id"]):
        try:
            invitation = Invitation.objects.get(inbox["invitation_id"], consistent=True)
        except DoesNotExist:
            raise NotFound("No such invitation.") from None
    if normalise_email(invitation["email"]) != normalise_email(email) or invitation["expires_at"] <= time.time():
        raise NotFound("No such invitation.")
    return inbox, invitation


def _delete_invitation(tenant_id: str, invitation: dict, *, action: str) -> None:
    entry = Entry(action=action, target_type="invitation", target_id=invitation["id"], tenant_id=tenant_id,
                  changes={"email": [invitation["email"], None]})
    commit_change(invitation_removal_ops(tenant_id, invitation), entry, reason=f"{action} in {tenant_id}")


def accept_invitation(*, user_id: str, email: str, invitation_id: str) -> dict:
    """Become a member with the invited role. Returns the membership."""
    inbox, invitation = _find(email, invitation_id)
    tenant_id = inbox["tenant_id"]
    with system_context(reason=f"tier of {tenant_id}"):
        tenant = Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        # The same facts are checked again inside the transaction (a deactivation may race this).
        if tenant.get("status") != "active" or tenant.get("offboarding"):
            raise TenantInactive("That tenant is closed, so it takes no new members.")
        open_check = Tenant.objects.condition_op(TENANT_DIRECTORY, tenant_id, Attr("status").eq("active"))
    tier = tenant.get("tier", "basic")
    inviter = invitation.get("invited_by")
    user_op, member_op = membership_item_ops(tenant_id=tenant_id, user_id=user_id, email=normalise_email(email),
                                             role=invitation["role"], invited_by=inviter)
    tx = UnitOfWork()
    tx.put("membership", user_op)
    tx.put("member", member_op)
    tx.extend("invitation", invitation_removal_ops(tenant_id, invitation))
    tx.condition("open", open_check)
    with tenant_context(tenant_id, tier=tier):
        if inviter:  # the writer's authority must still hold: an admin of this tenant
            tx.condition("inviter", Member.objects.condition_op(inviter, Attr("role").eq("admin")))
        tx.update("quota", limits.reserve_op("members"))  # a failed condition here is the plan's limit
        tx.join(audit_trail.records(Entry(
            action="member.joined", target_type="member", target_id=user_id, tenant_id=tenant_id, tier=tier,
            changes={"role": [None, invitation["role"]], "email": [None, normalise_email(email)]})))
        try:
            with system_context(reason=f"{user_id} accepts an invitation to {tenant_id}"):
                tx.commit()
        except TransactionCancelled as exc:
            if exc.failed("open"):
                raise TenantInactive("That tenant is closed, so it takes no new members.") from None
            if exc.failed("inviter"):  # its writer is no longer an admin there: the invitation is void
                raise NotFound("No such invitation.") from None
            if exc.failed_labels() == ["quota"]:
                raise limits.exceeded("members") from None
            if exc.failed("membership"):
                raise AlreadyMember("You are already a member of this tenant.") from None
            raise ConcurrentChange() from exc
    active_tenant.cache.invalidate_user(user_id)
    logger.info("member %s joined %s as %s (invitation %s)", user_id, tenant_id, invitation["role"], invitation["id"])
    return {"tenant_id": tenant_id, "role": invitation["role"]}


def decline_invitation(*, email: str, invitation_id: str) -> None:
    inbox, invitation = _find(email, invitation_id)
    _delete_invitation(inbox["tenant_id"], invitation, action="member.invitation_declined")


def leave_tenant(*, user_id: str, tenant_id: str) -> None:
    """The person leaves ``tenant_id`` (403 ``not_a_member`` if they are not in it; 409 ``last_admin``
    for its last admin). Their active tenant moves to another membership on the next request."""
    with system_context(reason=f"{user_id} leaves {tenant_id}"):
        try:
            UserMembership.objects.get(user_id, tenant_id, consistent=True)
            tier = Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True).get("tier", "basic")
        except DoesNotExist:
            raise NotAMember() from None
    with tenant_context(tenant_id, user_id=user_id, tier=tier):
        member = Member.objects.get(user_id, consistent=True)
        ops = [Member.objects.delete_op(user_id, expected_version=member["version"]), limits.release_op("members")]
        if member["role"] == "admin":
            ops.append(other_admin_guard(leaving=user_id))
        with system_context(reason=f"{user_id} leaves {tenant_id}"):
            ops.append(UserMembership.objects.delete_op(user_id, tenant_id))
        revoke, revoked = revoke_ops_of_writer(tenant_id, user_id)
        entry = Entry(action="member.left", target_type="member", target_id=user_id, tenant_id=tenant_id, tier=tier,
                      changes={"role": [member["role"], None]},
                      detail={"invitations_revoked": revoked} if revoked else None)
        ops += revoke
        commit_change(ops, entry, reason=f"{user_id} leaves {tenant_id}")
    active_tenant.cache.invalidate_user(user_id)
    logger.info("member %s left %s", user_id, tenant_id)
