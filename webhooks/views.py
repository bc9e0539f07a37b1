"""Webhook pages (tenant admins): event types with a sample payload each, subscribe (URL errors
shown on the field), the subscriptions with their status, send a test, delete with confirmation,
and the subscriber verification guide. Calls webhooks.services / selectors as the API does."""
from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse

from saas import web
from saas.errors import AppError
from saas.tenancy import current_tenant_id
from saas.tenancy.store import DoesNotExist
from tenants.web import cursor_of, pager, redirect, web_page

from . import selectors, services
from .serializers import EndpointCreateSerializer, SubscriptionCreateSerializer


def _event_types() -> list[dict]:
    tenant_id = current_tenant_id()
    return [{**t, "sample": json.dumps(selectors.sample_envelope(event_type=t["type"], tenant_id=tenant_id), indent=2)}
            for t in selectors.event_types()]


def _refused(request, exc: AppError) -> tuple[dict, int]:
    """(field errors, status) of a form the service refused. An error about a field shows at that
    field; any other (a plan limit, a dependency down) is a message above the form, whose values
    are kept for another try."""
    if exc.fields:
        return {k: web.flatten(v) for k, v in exc.fields.items()}, exc.status
    messages.error(request, f"Nothing was saved: {exc.message}")
    return {}, exc.status


def _endpoint_form(request) -> tuple[dict, dict, int, tuple[dict, str] | None]:
    """The endpoint creation form: (form, errors, status, (endpoint, secret) when created)."""
    form = {"url": request.POST.get("url", ""), "description": request.POST.get("description", ""),
            "event_types": request.POST.getlist("event_types")}
    serializer = EndpointCreateSerializer(data=form)
    if not serializer.is_valid():
        return form, {name: web.flatten(errs) for name, errs in serializer.errors.items()}, 400, None
    try:
        return form, {}, 200, services.create_endpoint(**serializer.validated_data)
    except AppError as exc:
        return form, *_refused(request, exc), None


@web_page(role="admin", methods=("GET", "POST"))
def webhooks(request):
    form, errors, status = {"event_type": "", "url": ""}, {}, 200
    endpoint_form, endpoint_errors, created = {"url": "", "description": "", "event_types": []}, {}, None
    if request.method == "POST" and request.POST.get("form") == "endpoint":
        endpoint_form, endpoint_errors, status, created = _endpoint_form(request)
        if created:  # the form starts empty again; the secret is shown below, once
            endpoint_form = {"url": "", "description": "", "event_types": []}
            messages.success(request, f"{created[0]['url']} now receives {', '.join(created[0]['event_types'])} events.")
    elif request.method == "POST":
        form = {"event_type": request.POST.get("event_type", ""), "url": request.POST.get("url", "")}
        serializer = SubscriptionCreateSerializer(data=form)
        if serializer.is_valid():
            try:
                subscription = services.subscribe(**serializer.validated_data)
            except AppError as exc:
                errors, status = _refused(request, exc)
            else:
                messages.success(request, f"{subscription['url']} now receives {subscription['event_type']} events.")
                return redirect(request, reverse("webhooks"))
        else:
            errors, status = {name: [str(e) for e in errs] for name, errs in serializer.errors.items()}, 400
    page = selectors.subscription_page(cursor=cursor_of(request), limit=20)
    endpoints = list(selectors.endpoint_page(limit=100).items)
    return render(request, "webhooks/webhooks.html", {
        "subscriptions": services.refresh_statuses(subscriptions=page.items), "pager": pager(request, page.next_cursor),
        "event_types": _event_types(), "form": form, "errors": errors,
        "endpoints": endpoints, "disabled": [e for e in endpoints if not e.get("enabled")],
        "endpoint_form": endpoint_form, "endpoint_errors": endpoint_errors,
        "created": created[0] if created else None, "new_secret": created[1] if created else None,
    }, status=status)


@web_page(role="admin", methods=("POST",))
def webhook_test(request, subscription_id: str):
    subscription = selectors.subscription(subscription_id=subscription_id)
    try:
        message = services.send_test_event(subscription_id=subscription_id)
    except AppError as exc:
        messages.error(request, f"The test was not sent: {exc.message}")
    else:
        messages.success(request, f"A test event ({message['id']}) was sent to {subscription['url']}.")
    return redirect(request, reverse("webhooks"))


@web_page(role="admin", methods=("GET", "POST"))
def webhook_delete(request, subscription_id: str):
    subscription = selectors.subscription(subscription_id=subscription_id)
    if request.method == "POST":
        services.unsubscribe(subscription_id=subscription_id)
        messages.success(request, f"{subscription['url']} no longer receives {subscription['event_type']} events.")
        return redirect(request, reverse("webhooks"))
    return render(request, "webhooks/webhook_delete.html", {"subscription": subscription})


# --- one endpoint: its log, secret, resend and recover ------------------------------------------------
def _when(ms) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _detail(request, endpoint_id: str, *, secret: str | None = None, secret_note: str = "", status: int = 200,
            recover_errors: list[str] | None = None):
    endpoint = selectors.endpoint(endpoint_id=endpoint_id)
    filters = {"status": request.GET.get("status") or None, "event_type": request.GET.get("event_type") or None}
    if filters["status"] not in (None, "succeeded", "failed"):
        filters["status"] = None
    page = selectors.endpoint_attempts(endpoint_id=endpoint_id, cursor=cursor_of(request), limit=25, **filters)
    attempts = [{**a, "when": _when(a["at_ms"])} for a in page.items]
    recovery = None
    if request.GET.get("recovery"):
        with contextlib.suppress(DoesNotExist):
            recovery = selectors.recovery(recovery_id=request.GET["recovery"])
    context = {"endpoint": endpoint, "attempts": attempts, "pager": pager(request, page.next_cursor),
               "filters": filters, "event_types": selectors.event_types(), "secret": secret,
               "secret_note": secret_note, "recovery": recovery, "recover_errors": recover_errors or []}
    template = "webhooks/_attempts.html" if getattr(request, "htmx", False) and request.GET.get("fragment") else \
        "webhooks/endpoint.html"
    return render(request, template, context, status=status)


@web_page(role="admin")
def endpoint_detail(request, endpoint_id: str):
    return _detail(request, endpoint_id)


@web_page(role="admin", methods=("POST",))
def endpoint_secret(request, endpoint_id: str):
    """Reveal (audited) or rotate; the secret is shown in this answer only, never stored in a message."""
    if request.POST.get("action") == "rotate":
        secret, until = services.rotate_secret(endpoint_id=endpoint_id)
        note = f"The previous secret also signs until {_when(until * 1000)}."
        return _detail(request, endpoint_id, secret=secret, secret_note=note)
    return _detail(request, endpoint_id, secret=services.reveal_secret(endpoint_id=endpoint_id))


@web_page(role="admin", methods=("POST",))
def endpoint_toggle(request, endpoint_id: str):
    enable = request.POST.get("enabled") == "true"
    endpoint = services.update_endpoint(endpoint_id=endpoint_id, enabled=enable)
    messages.success(request, f"{endpoint['url']} is {'enabled' if enable else 'disabled'}.")
    return redirect(request, reverse("webhook-endpoint", args=[endpoint_id]))


@web_page(role="admin", methods=("POST",))
def endpoint_resend(request, endpoint_id: str, message_id: str):
    services.resend(message_id=message_id, endpoint_id=endpoint_id)
    messages.success(request, f"Message {message_id} will be sent again to this endpoint.")
    return redirect(request, reverse("webhook-endpoint", args=[endpoint_id]))


@web_page(role="admin", methods=("POST",))
def endpoint_recover(request, endpoint_id: str):
    raw = request.POST.get("since", "")
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        return _detail(request, endpoint_id, status=400, recover_errors=["Give a date and time (UTC)."])
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)  # the form asks for UTC
    try:
        job = services.start_recovery(endpoint_id=endpoint_id, since=since.timestamp())
    except AppError as exc:
        return _detail(request, endpoint_id, status=400,
                       recover_errors=web.flatten(exc.fields) if exc.fields else [exc.message])
    messages.success(request, "Recovery started: failed deliveries since then are sent again.")
    return redirect(request, reverse("webhook-endpoint", args=[endpoint_id]) + f"?recovery={job['id']}")


@web_page(role="admin")
def recovery_status(request, recovery_id: str):
    """The recovery's progress (htmx polls it until it is done)."""
    return render(request, "webhooks/_recovery.html", {"recovery": selectors.recovery(recovery_id=recovery_id)})


@web_page(role=None, tenant=False)
def guide(request):
    """The subscriber guide: verifying, replay window, de-duplication, ordering, retries, egress."""
    return render(request, "webhooks/guide.html")
