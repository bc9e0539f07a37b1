"""Webhook pages (tenant admins): event types with a sample payload each, subscribe (URL errors
shown on the field), the subscriptions with their status, send a test, delete with confirmation,
and the subscriber verification guide. Calls webhooks.services / selectors as the API does."""
from __future__ import annotations

import json
from pathlib import Path

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse

from saas import web
from saas.errors import AppError
from saas.tenancy import current_tenant_id
from tenants.web import cursor_of, pager, redirect, web_page

from . import selectors, services
from .serializers import SubscriptionCreateSerializer

GUIDE = Path(__file__).resolve().parent / "README.md"


def _event_types() -> list[dict]:
    tenant_id = current_tenant_id()
    return [{**t, "sample": json.dumps(selectors.sample_envelope(event_type=t["type"], tenant_id=tenant_id), indent=2)}
            for t in selectors.event_types()]


@web_page(role="admin", methods=("GET", "POST"))
def webhooks(request):
    form, errors = {"event_type": "", "url": ""}, {}
    if request.method == "POST":
        form = {"event_type": request.POST.get("event_type", ""), "url": request.POST.get("url", "")}
        serializer = SubscriptionCreateSerializer(data=form)
        if serializer.is_valid():
            try:
                subscription = services.subscribe(**serializer.validated_data)
            except AppError as exc:
                errors = {k: web.flatten(v) for k, v in exc.fields.items()} if exc.fields else {"url": [exc.message]}
            else:
                messages.success(request, f"{subscription['url']} now receives {subscription['event_type']} events.")
                return redirect(request, reverse("webhooks"))
        else:
            errors = {name: [str(e) for e in errs] for name, errs in serializer.errors.items()}
    page = selectors.subscription_page(cursor=cursor_of(request), limit=20)
    return render(request, "webhooks/webhooks.html", {
        "subscriptions": services.refresh_statuses(subscriptions=page.items), "pager": pager(request, page.next_cursor),
        "event_types": _event_types(), "form": form, "errors": errors,
    })


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


@web_page(role=None, tenant=False)
def guide(request):
    """The subscriber verification guide (webhooks/README.md), readable without leaving the app."""
    return render(request, "webhooks/guide.html", {"guide": GUIDE.read_text(encoding="utf-8")})
