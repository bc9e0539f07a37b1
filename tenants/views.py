"""Minimal web pages: sign in, "you / your active tenant" with a tenant switcher, sign out.

Sign-in and sign-out themselves are mozilla-django-oidc's views (see tenants/web_urls.py and
tenants/backends.py); these views only render and call services.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from saas.tenancy.context import InvalidTenantId, validate_tenant_id

from . import selectors, services


def _signed_in(request):
    return getattr(request, "identity", None)


@require_GET
def login_page(request):
    if _signed_in(request) is not None:
        return redirect("home")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    return render(request, "tenants/login.html", {
        "next": next_url,
        "failed": "error" in request.GET,
        "local_provider": settings.LOCAL_STACK,
    })


@require_GET
def home(request):
    identity = _signed_in(request)
    if identity is None:
        return redirect(f"{reverse('login')}?next={reverse('home')}")
    me = selectors.me(identity=identity, resolution=request.resolution)
    return render(request, "tenants/home.html", {
        "me": me,
        "problem": request.resolution.problem if request.resolution else None,
    })


@require_POST
def switch_tenant(request):
    identity = _signed_in(request)
    if identity is None:
        return redirect("login")
    try:
        tenant_id = validate_tenant_id(request.POST.get("tenant_id", ""))
    except InvalidTenantId:
        return HttpResponseBadRequest("invalid tenant id")
    try:
        services.switch_active_tenant(user_id=identity.sub, tenant_id=tenant_id)
    except (services.NotAMember, services.TenantInactive) as exc:
        messages.error(request, exc.message)
    return redirect("home")
