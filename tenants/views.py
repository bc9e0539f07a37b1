"""Web pages for people and tenants: sign in, home, the tenant switcher, onboarding, the team,
settings (and "sign out of all sessions"), and the platform admin's tenant list.

Sign-in and sign-out themselves are mozilla-django-oidc's views (tenants/web_urls.py,
tenants/backends.py). Every view here parses the form, calls the same services and selectors as
the API and renders; ``web_page`` applies the API's role rules and turns the application errors the
services raise into messages and error pages (tenants/web.py): no view catches them to show their
message. A view catches only an error it says something more about (the last admin's way out).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

import audit
import files
from exports import selectors as export_selectors
from exports import services as export_services
from saas import limits, web
from saas.errors import InvalidInput
from saas.tenancy import system_context
from saas.tenancy.context import ROLES, InvalidTenantId, current_context, validate_tenant_id
from saas.tenancy.store import DoesNotExist
from usage import selectors as usage_selectors
from websessions.backend import end_user_sessions

from . import active_tenant, offboarding, selectors, services
from .errors import AlreadyMember, ConfirmationMismatch, LastAdmin, NotAMember, OwnerRequired
from .models import TENANT_STATUSES, TIERS
from .serializers import (
    MemberInviteSerializer,
    MemberRoleSerializer,
    TenantCreateSerializer,
    TenantTierSerializer,
    TenantUpdateSerializer,
)
from .web import active_role, can, cursor_of, pager, people, redirect, safe_next, switcher, web_page

TENANT_SECTIONS = ("catalogue", "orders", "team", "webhooks", "settings")
ROLE_HELP = {
    "admin": "everything, including members, webhooks and settings",
    "manager": "products and all orders",
    "member": "places and cancels their own orders",
    "viewer": "reads only",
}


def _errors(serializer) -> dict:
    return {name: [str(e) for e in errs] for name, errs in serializer.errors.items()}


def _platform_tenant(request, tenant_id: str, **_) -> str:
    """Where the platform admin's actions on one tenant return to (``back``)."""
    return reverse("platform-tenant", args=[tenant_id])


def _switch_back(request) -> str:
    return safe_next(request, request.POST.get("next", ""), reverse("home"))


@require_GET
def login_page(request):
    if getattr(request, "identity", None) is not None:
        return redirect(request, safe_next(request, request.GET.get("next", ""), reverse("home")))
    return render(request, "tenants/login.html", {
        "next": safe_next(request, request.GET.get("next", ""), ""),
        "failed": "error" in request.GET,
        "local_provider": settings.LOCAL_STACK,
        "signup": bool(settings.OIDC_OP_SIGNUP_ENDPOINT),
    })


@web_page(role=None, tenant=False)
def home(request):
    me = selectors.me(identity=request.identity, resolution=active_tenant.recheck(request.identity, request.resolution))
    closed = any(m["tenant"].get("status") == "deactivated" for m in me["memberships"])
    invitations = services.my_invitations(email=selectors.email_of(request.identity))
    opened = request.GET.get("invitation", "")
    if opened and opened not in {i["id"] for i in invitations}:
        messages.info(request, "That invitation is no longer open: it was answered, revoked or has expired, or it "
                               "was sent to another email address than the one you signed in with.")
    return render(request, "tenants/home.html", {
        "me": me,
        # Tenants the user is deleting (closed, in their grace period): the final export to download.
        "leaving": offboarding.owner_offboardings(request.identity.sub) if closed else [],
        "problem": request.resolution.problem if request.resolution else None,
        "role_help": ROLE_HELP,
        "invitations": invitations, "opened_invitation": opened,
    })


@web_page(role=None, tenant=False)
def invitation_open(request, invitation_id: str):
    """The link in an invitation email: after sign-in (the decorator asks for it and comes back here),
    the home page with that invitation shown first."""
    return HttpResponseRedirect(f"{reverse('home')}?invitation={invitation_id}#invitation-{invitation_id}")


@web_page(role=None, tenant=False, methods=("POST",))
def final_export_download(request, tenant_id: str):
    """The owner of a tenant being deleted downloads its final export (POST /me/offboardings/{id}/
    final-export/download in the API): a 15-minute link, audit-logged; 404 for anyone else."""
    try:
        link = offboarding.final_export_link(tenant_id=validate_tenant_id(tenant_id), user_id=request.identity.sub)
    except InvalidTenantId:
        raise Http404 from None
    return HttpResponseRedirect(link["url"])


@web_page(role=None, tenant=False, methods=("POST",), back="home")
def cancel_deletion(request, tenant_id: str):
    """The owner cancels their tenant's scheduled deletion during the grace period."""
    try:
        tenant = offboarding.cancel_offboarding(tenant_id=validate_tenant_id(tenant_id), actor_id=request.identity.sub,
                                                as_owner=True)
    except InvalidTenantId:
        raise Http404 from None
    messages.success(request, f"The deletion of {tenant.get('name')} was cancelled; it is open again.")
    return redirect(request, reverse("home"))


@web_page(platform_admin=True, role=None, tenant=False, methods=("POST",), back=_platform_tenant)
def platform_cancel_deletion(request, tenant_id: str):
    """A platform admin cancels a scheduled deletion during the grace period (the owner is emailed)."""
    try:
        tenant = offboarding.cancel_offboarding(tenant_id=validate_tenant_id(tenant_id), actor_id=request.identity.sub)
    except InvalidTenantId:
        raise Http404 from None
    messages.success(request, f"The deletion of {tenant.get('name')} was cancelled; its owner was told.")
    return redirect(request, reverse("platform-tenant", args=[tenant_id]))


@web_page(role=None, tenant=False, methods=("GET", "POST"), back="home")
def leave_tenant(request, tenant_id: str):
    """Leave one of your tenants (not as its last admin), after confirming; the same service as
    DELETE /me/memberships/{id}."""
    if request.method == "GET":
        membership = next((m for m in selectors.memberships_of(request.identity.sub)
                           if m["tenant"]["id"] == tenant_id), None)
        if membership is None:
            raise Http404
        return render(request, "tenants/leave.html", {"membership": membership})
    try:
        services.leave_tenant(user_id=request.identity.sub, tenant_id=validate_tenant_id(tenant_id))
    except InvalidTenantId:
        raise Http404 from None
    messages.success(request, "You left the tenant.")
    return redirect(request, reverse("home"))


@web_page(role=None, tenant=False, methods=("POST",), back="home")
def invitation_answer(request, invitation_id: str, answer: str):
    """Accept or decline one of the signed-in person's invitations (the same services as the API).
    An invitation that is not theirs or is gone (404), a conflict, a plan limit: a message on Home."""
    identity = request.identity
    email = selectors.email_of(identity)
    if answer == "accept":
        joined = services.accept_invitation(user_id=identity.sub, email=email, invitation_id=invitation_id)
        messages.success(request, f"You joined as {joined['role']}. Switch to the tenant to work in it.")
    elif answer == "decline":
        services.decline_invitation(email=email, invitation_id=invitation_id)
        messages.success(request, "The invitation was declined.")
    else:
        raise Http404()
    return redirect(request, reverse("home"))


@web_page(role=None, tenant=False, methods=("POST",), back=_switch_back)
def switch_tenant(request):
    back = _switch_back(request)
    try:
        tenant_id = validate_tenant_id(request.POST.get("tenant_id", ""))
    except InvalidTenantId:
        raise NotAMember() from None  # a malformed id is nobody's tenant
    services.switch_active_tenant(user_id=request.identity.sub, tenant_id=tenant_id)  # not a member, inactive
    switcher.forget(request.identity.sub)
    tenant = selectors.tenant_summary(tenant_id)
    messages.success(request, f"You are now working in {tenant['name'] if tenant else tenant_id}.")
    # A page of the old tenant (an order, a product) means nothing in the new one: go to its section.
    section = urlsplit(back).path.strip("/").split("/", 1)[0]
    return redirect(request, f"/{section}/" if section in TENANT_SECTIONS else reverse("home"))


# --- onboarding -------------------------------------------------------------------------------------------
@web_page(role=None, tenant=False, methods=("GET", "POST"))
def start(request):
    identity = request.identity
    form, errors = {"name": "", "tier": "basic"}, {}
    if request.method == "POST":
        serializer = TenantCreateSerializer(data={"name": request.POST.get("name", ""),
                                                  "tier": request.POST.get("tier", "")})
        form = {"name": request.POST.get("name", ""), "tier": request.POST.get("tier", "")}
        if serializer.is_valid():
            tenant = services.request_tenant(name=serializer.validated_data["name"],
                                             tier=serializer.validated_data["tier"], owner_id=identity.sub,
                                             owner_email=selectors.email_of(identity))
            switcher.forget(identity.sub)
            if tenant["status"] == "active":
                services.switch_active_tenant(user_id=identity.sub, tenant_id=tenant["id"])
                messages.success(request, f"{tenant['name']} is ready, and you are its admin.")
                return redirect(request, reverse("catalogue"))
            messages.info(request, f"Your request for {tenant['name']} was sent. A platform operator approves "
                                   "platinum tenants; we email you when it is approved, and Home shows it until then.")
            return redirect(request, reverse("home"))
        errors = _errors(serializer)
    return render(request, "tenants/start.html", {
        "form": form, "errors": errors, "tiers": TIERS, "plans": _plans(),
        **_pending(identity.sub),
    })


@web_page(role=None, tenant=False)
def start_progress(request):
    """The pending tenants fragment; htmx polls it while any is awaiting approval or provisioning."""
    return render(request, "tenants/_pending.html", {**_pending(request.identity.sub), "polled": True})


def _plans() -> list[dict]:
    """Each tier's limits as the plan picker shows them (from settings.PLAN_LIMITS)."""
    shown = ("products", "members", "webhook_endpoints")
    return [{"tier": tier, "limits": [{"label": limits.LIMIT_LABELS[name], "max": settings.PLAN_LIMITS[tier].get(name)}
                                      for name in shown]} for tier in TIERS]


def _pending(user_id: str) -> dict:
    """The pending silo tenants, and whether the page keeps watching them (htmx polling)."""
    pending = selectors.pending_tenants_of(user_id)
    return {"pending": pending, "watching": any(t["status"] in ("pending_approval", "provisioning") for t in pending)}


# --- team (admins) ----------------------------------------------------------------------------------------
@web_page(role="admin", methods=("GET", "POST"))
def team(request):
    form, errors = {"email": "", "role": "member"}, {}
    if request.method == "POST":
        form = {"email": request.POST.get("email", "").strip(), "role": request.POST.get("role", "")}
        serializer = MemberInviteSerializer(data=form)
        if serializer.is_valid():
            try:
                invitation = services.invite_member(**serializer.validated_data)
            except (InvalidInput, AlreadyMember) as exc:  # shown on the email field
                errors = {"email": [exc.message]}
            else:
                messages.success(request, f"{invitation.email} was invited as {invitation.role}; they become "
                                          f"a member when they accept.")
                return redirect(request, reverse("team"))
        else:
            errors = _errors(serializer)
    page = selectors.list_members(cursor=cursor_of(request), limit=25)
    # Pending invitations page on their own (``?invitations=<cursor>``): none can hide past a first page.
    invitations, more_invitations = services.list_invitations(cursor=request.GET.get("invitations") or None, limit=50)
    return render(request, "tenants/team.html", {
        "invitations": [services.public_invitation(i) for i in invitations], "more_invitations": more_invitations,
        "members": page.items, "pager": pager(request, page.next_cursor), "form": form, "errors": errors,
        "roles": ROLES, "role_help": ROLE_HELP, "me": request.identity.sub,
    })


def _pending_invitation(invitation_id: str):
    """One of the tenant's pending invitations by id (None when gone), through the paged listing."""
    cursor = None
    while True:
        items, cursor = services.list_invitations(cursor=cursor, limit=50)
        found = next((i for i in items if i.id == invitation_id), None)
        if found is not None or not cursor:
            return found


@web_page(role="admin", methods=("POST",))
def invitation_revoke(request, invitation_id: str):
    """Withdraw a pending invitation (the API's DELETE /tenants/current/invitations/{id})."""
    invitation = _pending_invitation(invitation_id)
    if invitation is None:
        raise Http404
    services.revoke_invitation(invitation_id=invitation_id)
    messages.success(request, f"The invitation to {invitation.email} was revoked; its link no longer works.")
    return redirect(request, reverse("team"))


@web_page(role="admin", methods=("POST",))
def invitation_resend(request, invitation_id: str):
    """Send a pending invitation again, with a fresh expiry (the same invitation, the same role)."""
    invitation = _pending_invitation(invitation_id)
    if invitation is None:
        raise Http404
    services.invite_member(email=invitation.email, role=invitation.role)
    messages.success(request, f"The invitation to {invitation.email} was sent again.")
    return redirect(request, reverse("team"))


@web_page(role="admin", methods=("POST",), back="team")
def member_role(request, user_id: str):
    serializer = MemberRoleSerializer(data={"role": request.POST.get("role", "")})
    if not serializer.is_valid():
        messages.error(request, "Choose one of the roles in the list.")
        return redirect(request, reverse("team"))
    try:
        member = services.change_member_role(user_id=user_id, role=serializer.validated_data["role"])
    except LastAdmin:
        messages.error(request, "That would leave the tenant without an admin. A tenant always needs at least "
                                "one admin: make someone else an admin first, then change this role.")
    else:
        messages.success(request, f"{member['email']} is now {member['role']}.")
    return redirect(request, reverse("team"))


@web_page(role="admin", methods=("GET", "POST"), back="team")
def member_remove(request, user_id: str):
    member = selectors.get_member(user_id)  # another tenant's user: 404
    if request.method == "POST":
        try:
            services.remove_member(user_id=user_id)
        except LastAdmin:
            messages.error(request, f"{member['email']} is the last admin. A tenant always needs at least one "
                                    "admin: make someone else an admin first, then remove them.")
        else:
            messages.success(request, f"{member['email']} was removed from the tenant.")
        return redirect(request, reverse("team"))
    return render(request, "tenants/member_remove.html", {"member": member})


# --- settings ----------------------------------------------------------------------------------------------
@web_page(role=None, tenant=False, methods=("GET", "POST"))
def settings_page(request):
    tenant, errors = None, {}
    role = active_role(current_context())
    if role is not None:
        tenant = selectors.current_tenant()
    if request.method == "POST":
        if not can(role, "admin"):
            return web.error_page(request, 403, "Only the tenant's admins can change its settings.",
                                  code="role_required")
        serializer = TenantUpdateSerializer(data={"name": request.POST.get("name", "")})
        if serializer.is_valid():
            services.update_current_tenant(name=serializer.validated_data["name"])
            messages.success(request, "The tenant's name was saved.")
            return redirect(request, reverse("settings"))
        errors = _errors(serializer)
        tenant = {**tenant, "name": request.POST.get("name", "")}
    return render(request, "tenants/settings.html", {"tenant": tenant, "errors": errors, "role": role,
                                                     "identity": request.identity})


@web_page(role=None, tenant=False, methods=("POST",))
def end_all_sessions(request):
    ended = end_user_sessions(request.identity.sub, keep=request.session.session_key)
    request.session.flush()  # and this one
    messages.success(request, f"You were signed out of all your sessions ({ended + 1}).")
    return redirect(request, reverse("login"))


# --- platform (platform admins) -----------------------------------------------------------------------------
@web_page(role=None, tenant=False, platform_admin=True)
def platform(request):
    status = request.GET.get("status") if request.GET.get("status") in TENANT_STATUSES else None
    tier = request.GET.get("tier") if request.GET.get("tier") in TIERS else None
    page = selectors.list_tenants(cursor=cursor_of(request), limit=25, status=status, tier=tier)
    waiting, cursor = [], None
    for _ in range(10):  # a status filter leaves pages short: read on (bounded) to find the requests
        found = selectors.list_tenants(cursor=cursor, limit=100, status="pending_approval")
        waiting, cursor = waiting + found.items, found.next_cursor
        if not cursor or len(waiting) >= 25:
            break
    return render(request, "tenants/platform.html", {
        "waiting": waiting, "tenants": page.items, "pager": pager(request, page.next_cursor), "status": status or "", "tier": tier or "",
        "statuses": TENANT_STATUSES, "tiers": TIERS,
    })


def _tenant_or_404(tenant_id: str) -> dict:
    try:
        return selectors.admin_tenant(selectors.get_tenant(validate_tenant_id(tenant_id)))
    except InvalidTenantId:
        raise Http404 from None


@web_page(role=None, tenant=False, platform_admin=True, methods=("GET", "POST"), back=_platform_tenant)
def platform_tenant(request, tenant_id: str):
    tenant = _tenant_or_404(tenant_id)
    if request.method == "POST":
        serializer = TenantTierSerializer(data={"tier": request.POST.get("tier", "")})
        if not serializer.is_valid():
            messages.error(request, "Choose one of the tiers in the list.")
        else:
            services.change_tenant_tier(tenant_id=tenant["id"], tier=serializer.validated_data["tier"],
                                        actor_id=request.identity.sub)
            messages.success(request, f"{tenant['name']} is now on the {serializer.validated_data['tier']} tier.")
        return redirect(request, reverse("platform-tenant", args=[tenant["id"]]))
    try:
        leaving = offboarding.public_offboarding(offboarding.get_offboarding(tenant["id"]))
    except DoesNotExist:
        leaving = None
    return render(request, "tenants/platform_tenant.html", {"tenant": tenant, "tiers": TIERS, "offboarding": leaving})


@web_page(role=None, tenant=False, platform_admin=True, methods=("GET", "POST"), back=_platform_tenant)
def platform_tenant_status(request, tenant_id: str, action: str):
    tenant = _tenant_or_404(tenant_id)
    target = {"deactivate": "deactivated", "reactivate": "active"}.get(action)
    if target is None:
        raise Http404
    if request.method == "POST":
        services.set_tenant_status(tenant_id=tenant["id"], status=target, actor_id=request.identity.sub)
        done = "deactivated: its members lost access" if target == "deactivated" else "reactivated"
        messages.success(request, f"{tenant['name']} was {done}.")
        return redirect(request, reverse("platform-tenant", args=[tenant["id"]]))
    return render(request, "tenants/platform_status.html", {"tenant": tenant, "action": action, "target": target})


@web_page(role=None, tenant=False, platform_admin=True, methods=("POST",), back=_platform_tenant)
def platform_tenant_approval(request, tenant_id: str, decision: str):
    """Approve (provision) or reject a platinum tenant that is waiting for the platform team."""
    tenant = _tenant_or_404(tenant_id)
    decide = {"approve": services.approve_silo_tenant, "reject": services.reject_silo_tenant}.get(decision)
    if decide is None:
        raise Http404
    decide(tenant_id=tenant["id"], actor_id=request.identity.sub)  # a 409 status, a 503 broker: a message
    messages.success(request, f"{tenant['name']} was {'approved: provisioning started' if decision == 'approve' else 'rejected'}.")
    return redirect(request, reverse("platform-tenant", args=[tenant["id"]]))


# --- tenant lifecycle: audit trail, usage, export, offboarding ------------------------------------
def _audit_query(request) -> tuple[dict, dict]:
    """(validated filters, errors) from the page's GET form, checked by the API's serializer."""
    from .serializers import AuditQuerySerializer

    raw = {k: v.strip() for k, v in request.GET.items() if k in (
        "actor", "action", "target_type", "target_id", "since", "until") and v.strip()}
    serializer = AuditQuerySerializer(data=raw)
    if not serializer.is_valid():
        return {}, {name: [str(e) for e in errs] for name, errs in serializer.errors.items()}
    params = serializer.validated_data
    return {k: params[k] for k in ("actor", "action", "target_type", "target_id", "since", "until") if params.get(k)}, {}


def _audit_context(request, page_reader) -> dict:
    filters, errors = _audit_query(request)
    records, links = [], {}
    if not errors:
        page = page_reader(cursor=cursor_of(request), limit=25, **filters)
        records, links = [audit.public_record(r) for r in page.items], pager(request, page.next_cursor)
    form = {k: request.GET.get(k, "") for k in ("actor", "action", "target_type", "target_id", "since", "until")}
    actions = AUDIT_ACTIONS + ([form["action"]] if form["action"] and form["action"] not in AUDIT_ACTIONS else [])
    return {"records": records, "pager": links, "form": form, "errors": errors, "actions": actions}


# The action filter's choices: every kind of change, then each action the trail records.
AUDIT_ACTIONS = ["product.*", "order.*", "member.*", "webhook.*", "export.*", "tenant.*",
                 "product.created", "product.updated", "product.deleted", "product.imported",
                 "product.image_attached", "product.image_removed",
                 "order.placed", "order.cancelled", "member.invited", "member.joined", "member.role_changed",
                 "member.removed", "member.left", "member.invitation_revoked", "member.invitation_declined",
                 "webhook.subscribed", "webhook.unsubscribed", "webhook.suspended", "webhook.test_sent",
                 "export.requested", "export.completed", "export.downloaded", "export.failed",
                 "tenant.created", "tenant.renamed", "tenant.tier_changed", "tenant.offboarding_scheduled",
                 "tenant.offboarding_cancelled", "tenant.final_export_downloaded"]


def _named(records: list[dict]) -> list[dict]:
    """Records with people and products by name, linked: members from the tenant's member list (one
    batch read), products by the name the change recorded (the product may be gone since)."""
    names = people([r["actor_id"] for r in records if r.get("actor_type") == "user"] +
                   [r["target_id"] for r in records if r.get("target_type") == "member"])
    product_names = {r["target_id"]: (r.get("changes") or {})["name"][1] or (r.get("changes") or {})["name"][0]
                     for r in reversed(records)
                     if r.get("target_type") == "product" and "name" in (r.get("changes") or {})}
    for r in records:
        r["actor_name"] = names.get(r.get("actor_id") or "") or r.get("actor_email") or r.get("actor_id")
        if r.get("target_type") == "member":
            r["target_name"] = names.get(r["target_id"]) or (r.get("changes") or {}).get("email", [None, None])[0]
            r["target_url"] = reverse("team")
        elif r.get("target_type") == "product":
            name = (r.get("changes") or {}).get("name") or [None, None]
            r["target_name"] = name[1] or name[0] or product_names.get(r["target_id"])
            r["target_url"] = reverse("product", args=[r["target_id"]])
            r["history_url"] = f"{reverse('audit')}?target_type=product&target_id={r['target_id']}"
    return records


@web_page(role="admin")
def audit_page(request):
    context = _audit_context(request, audit.list_records)
    return render(request, "tenants/audit.html", {**context, "records": _named(context["records"]), "platform": False})


@web_page(role=None, tenant=False, platform_admin=True)
def platform_audit_page(request):
    with system_context(reason=f"platform audit trail read by {request.identity.sub}"):
        context = _audit_context(request, audit.list_platform_records)
    return render(request, "tenants/audit.html", {**context, "platform": True})


@web_page(role="admin")
def usage_page(request):
    days = usage_selectors.daily(days=30)
    return render(request, "tenants/usage.html", {"days": days, "totals": usage_selectors.totals(days),
                                                  "limits": [{**row, "label": limits.LIMIT_LABELS[row["limit"]]}
                                                             for row in limits.overview()],
                                                  "tier": current_context().tier,
                                                  "unattached_upload_bytes": files.pending_upload_bytes()})


@web_page(role="admin", methods=("GET", "POST"))
def export_page(request):
    if request.method == "POST":
        from saas.celery import broker

        if not broker.reachable():
            messages.error(request, "The job queue is unavailable, so no export was started. Try again shortly.")
        else:
            job = export_services.request_export()
            from exports.tasks import enqueue_export

            enqueue_export(job["id"])
            messages.success(request, "The export has started. It appears below when it is ready.")
        return redirect(request, reverse("export-page"))
    jobs = [export_selectors.public_export(j) for j in export_selectors.list_exports(limit=10).items]
    return render(request, "tenants/export.html", {"jobs": jobs})


@web_page(role="admin")
def export_status(request, export_id: str):
    """The htmx fragment of one export: polled while it runs (entities done / total)."""
    return render(request, "tenants/_export_row.html", {"job": export_selectors.public_export(export_selectors.get_export(export_id))})


@web_page(role="admin", methods=("POST",))
def export_download(request, export_id: str):
    link = export_services.download_link(export_id=export_id)  # audit-logged, valid 15 minutes
    return HttpResponseRedirect(link["url"])


@web_page(role="admin", methods=("GET", "POST"))
def tenant_delete(request):
    """The owner deletes the tenant: confirmed by typing its name."""
    tenant = selectors.current_tenant()
    is_owner = tenant.get("created_by") == request.identity.sub if "created_by" in tenant else None
    error = None
    if request.method == "POST":
        try:
            record = offboarding.schedule_offboarding(
                tenant_id=current_context().tenant_id, actor_id=request.identity.sub,
                confirm_name=request.POST.get("confirm_name", ""), as_owner=True)
        except ConfirmationMismatch:
            error = "That is not the tenant's name. Type it exactly as shown to confirm."
        except OwnerRequired as exc:
            error = exc.message
        else:
            from .tasks import enqueue_offboarding

            enqueue_offboarding(record["id"])
            messages.success(request, f"{tenant['name']} is closed now. A final export is being made; everything "
                                      f"is deleted after {offboarding.public_offboarding(record)['delete_after'][:10]}.")
            return redirect(request, reverse("home"))
    return render(request, "tenants/tenant_delete.html", {"tenant": tenant, "error": error, "is_owner": is_owner,
                                                           "grace_days": settings.OFFBOARDING_GRACE_SECONDS / 86400})


@web_page(role=None, tenant=False, platform_admin=True, methods=("GET", "POST"), back=_platform_tenant)
def platform_offboard(request, tenant_id: str):
    tenant = _tenant_or_404(tenant_id)
    if request.method == "POST":
        record = offboarding.schedule_offboarding(tenant_id=tenant["id"], actor_id=request.identity.sub)
        from .tasks import enqueue_offboarding

        enqueue_offboarding(record["id"])
        messages.success(request, f"{tenant['name']} is deactivated and scheduled for deletion.")
        return redirect(request, reverse("platform-tenant", args=[tenant["id"]]))
    return render(request, "tenants/platform_offboard.html", {
        "tenant": tenant, "grace_days": settings.OFFBOARDING_GRACE_SECONDS / 86400})


@web_page(role=None, tenant=False, platform_admin=True)
def platform_receipt(request, tenant_id: str):
    """An offboarding's state and, once done, its deletion receipt (also for a tenant that is gone)."""
    try:
        record = offboarding.public_offboarding(offboarding.get_offboarding(validate_tenant_id(tenant_id)))
    except (InvalidTenantId, DoesNotExist):
        raise Http404 from None
    return render(request, "tenants/platform_receipt.html", {"record": record})
