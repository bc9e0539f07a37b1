"""Notices people get by email. Each function composes one plain-text message and hands it to
``saas.mail.send_later`` (a job: no request waits on SES). Every message names the tenant and carries
no secret but its link; links are built on ``settings.SITE_URL`` and open pages that ask for sign-in
first, so a forwarded email gives nobody access.

Other apps call these (e.g. the webhooks app: ``notify_endpoint_disabled``); they never raise for a
lost notice (the broker being down is logged by ``send_later``).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from django.conf import settings
from django.urls import reverse

from saas import mail
from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import DoesNotExist

from .models import TENANT_DIRECTORY, Member, Tenant

logger = logging.getLogger("tenants.notifications")

SIGNATURE = "\n\n— SaaS Commerce\nYou get this email because of your account there; it needs no reply."


def link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%A %d %B %Y, %H:%M UTC")


def _tenant(tenant_id: str) -> dict:
    with system_context(reason=f"notification about tenant {tenant_id}"):
        try:
            return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)
        except DoesNotExist:
            return {"id": tenant_id, "name": tenant_id}


def notify_invited(*, tenant_id: str, tenant_name: str, email: str, role: str, inbox_id: str) -> bool:
    """To the invitee: who invited them where, and the link that opens the invitation after sign-in."""
    article = "an" if role[:1] in "aeiou" else "a"
    body = (f"You have been invited to join {tenant_name} on SaaS Commerce as {article} {role}.\n\n"
            f"Open the invitation (you will be asked to sign in, or to create an account with this email "
            f"address first):\n{link(reverse('invitation-open', args=[inbox_id]))}\n\n"
            f"If you did not expect this, ignore this email; the invitation expires by itself." + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=[email], subject=f"You are invited to {tenant_name}", body=body)


def notify_member_removed(*, tenant_id: str, tenant_name: str, email: str | None) -> bool:
    """To a member an admin removed: they no longer have access (nothing else to do)."""
    if not email:
        return False
    body = (f"An administrator of {tenant_name} removed you from that tenant on SaaS Commerce. You can no "
            f"longer open its catalogue, orders or settings. Your other tenants are not affected:\n"
            f"{link(reverse('home'))}" + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=[email], subject=f"You were removed from {tenant_name}", body=body)


def notify_deletion_scheduled(*, tenant_id: str, delete_after: float) -> bool:
    """To the owner: the tenant is closed now and will be deleted after the grace period; until then
    the page linked cancels it."""
    tenant = _tenant(tenant_id)
    name = tenant.get("name") or tenant_id
    body = (f"{name} is scheduled for deletion on SaaS Commerce. It is closed now: nobody can sign in to it.\n\n"
            f"Everything in it (products, orders, members, webhooks, files) will be deleted after "
            f"{_when(delete_after)}. Until then you can cancel the deletion (everything comes back as it was), "
            f"and download its final export (we email you when it is ready), here:\n"
            f"{link(reverse('home'))}#leaving-{tenant_id}" + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=[tenant.get("owner_email", "")],
                           subject=f"{name} is scheduled for deletion", body=body)


def notify_deletion_cancelled(*, tenant_id: str) -> bool:
    """To the owner: the scheduled deletion was cancelled; the tenant is open again."""
    tenant = _tenant(tenant_id)
    name = tenant.get("name") or tenant_id
    body = (f"The deletion of {name} was cancelled. Nothing was deleted, and its members can sign in to it "
            f"again:\n{link(reverse('home'))}" + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=[tenant.get("owner_email", "")],
                           subject=f"The deletion of {name} was cancelled", body=body)


def notify_final_export_ready(*, tenant_id: str, delete_after: float) -> bool:
    """To the owner: the final export of a tenant being deleted can be downloaded (after sign-in)."""
    tenant = _tenant(tenant_id)
    name = tenant.get("name") or tenant_id
    body = (f"The final export of {name} is ready. Download it before {_when(delete_after)}, when the tenant "
            f"and the export are deleted:\n{link(reverse('home'))}#leaving-{tenant_id}" + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=[tenant.get("owner_email", "")],
                           subject=f"The final export of {name} is ready", body=body)


def notify_tenant_approved(*, tenant_id: str) -> bool:
    """To the owner of a platinum request: it was approved and is being set up."""
    tenant = _tenant(tenant_id)
    name = tenant.get("name") or tenant_id
    body = (f"Your request for {name} (platinum, its own dedicated stage) was approved. It is being set up now "
            f"and opens by itself when it is ready:\n{link(reverse('home'))}" + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=[tenant.get("owner_email", "")],
                           subject=f"{name} was approved", body=body)


def admin_emails(tenant_id: str) -> list[str]:
    """The tenant's admins' addresses (its member partition, read page by page)."""
    with tenant_context(tenant_id, roles={"admin"}):
        return sorted({m["email"] for m in Member.objects.every() if m.get("role") == "admin" and m.get("email")})


def notify_endpoint_disabled(*, tenant_id: str, endpoint_url: str, reason: str, endpoint_id: str = "") -> bool:
    """To the tenant's admins: deliveries to a webhook endpoint stopped (it was disabled after failing)."""
    tenant = _tenant(tenant_id)
    name = tenant.get("name") or tenant_id
    body = (f"Webhook deliveries of {name} to this endpoint were stopped: it was disabled.\n\n"
            f"Endpoint: {endpoint_url}\nWhy: {reason}\n\n"
            f"Events are kept; once the endpoint works again, enable it and resend what it missed:\n"
            f"{link(reverse('webhooks'))}" + SIGNATURE)
    return mail.send_later(tenant_id=tenant_id, to=admin_emails(tenant_id),
                           subject=f"{name}: a webhook endpoint was disabled", body=body)
