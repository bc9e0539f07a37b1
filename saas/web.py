"""Web app plumbing shared by every app's pages: the navigation, error pages, and how an
application error becomes something a person can read.

Adding a page to the navigation: append a ``NavItem`` to ``NAVIGATION`` (label, URL name, the
lowest role that may open it, or ``platform_admin=True``). The shell (``saas/templates/base.html``)
shows the items the signed-in person may use and marks the current one. See README "Web app".

API paths (``/api/...``) keep JSON errors: the handlers below answer them in the API's shape.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.template.exceptions import TemplateDoesNotExist
from django.utils.cache import patch_cache_control

from saas.tenancy.context import ROLES

logger = logging.getLogger("saas.web")

ROLE_RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}  # viewer=0 ... admin=3


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    min_role: str | None = "viewer"  # None: shown to anyone signed in, with or without a tenant
    platform_admin: bool = False
    section: str = ""  # URL prefix that marks the item current; defaults to the item's URL

    def visible_to(self, *, role: str | None, system_admin: bool) -> bool:
        if self.platform_admin:
            return system_admin
        if self.min_role is None:
            return True
        return role is not None and ROLE_RANK.get(role, -1) >= ROLE_RANK[self.min_role]


NAVIGATION: list[NavItem] = [
    NavItem("Catalogue", "catalogue"),
    NavItem("Orders", "orders"),
    NavItem("Team", "team", min_role="admin"),
    NavItem("Webhooks", "webhooks", min_role="admin"),
    NavItem("Audit", "audit", min_role="admin"),
    NavItem("Settings", "settings", min_role=None),
    NavItem("Platform", "platform", platform_admin=True),
]


# --- errors ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """An error as the web app shows it."""

    status: int
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


def flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for v in detail.values() for m in flatten(v)]
    if isinstance(detail, (list, tuple)):
        return [m for v in detail for m in flatten(v)]
    return [str(detail)]


def describe(exc: BaseException) -> Problem | None:
    """The ``Problem`` for an application error (``saas.errors.AppError``, or a store failure), or
    None for anything else (a bug: let it be a 500)."""
    from saas.errors import AppError
    from saas.tenancy import store
    from saas.tenancy.context import NoTenantContext

    if isinstance(exc, AppError):
        fields = {str(k): flatten(v) for k, v in exc.fields.items()} if exc.fields else None
        return Problem(exc.status, exc.code, exc.message, fields)
    if isinstance(exc, (store.DoesNotExist, store.TenantMismatch)):
        return Problem(404, "not_found", "That item does not exist, or it is not in your active tenant.")
    if isinstance(exc, store.VersionConflict):
        return Problem(409, "version_conflict", "It was changed by someone else. Reload to see the current version.")
    if isinstance(exc, store.AlreadyExists):
        return Problem(409, "already_exists", "That already exists.")
    if isinstance(exc, store.InvalidCursor):
        return Problem(400, "invalid_cursor", "That page link is no longer valid; start again from the first page.")
    if isinstance(exc, store.StoreUnavailable):
        return Problem(503, "service_unavailable", "The data store is unavailable right now; try again shortly.")
    if isinstance(exc, NoTenantContext):
        return Problem(403, "no_active_tenant", "You have no active tenant.")
    return None


# --- error pages ---------------------------------------------------------------------------------------
TITLES = {400: "That request was not understood", 403: "You can't do that here", 404: "Page not found",
          405: "That action isn't available here", 409: "That clashed with another change",
          429: "Too many requests",
          500: "Something went wrong on our side", 503: "Temporarily unavailable"}


CODE_TITLES = {"tenant_inactive": "This tenant is closed", "role_required": "Your role doesn't include this",
               "csrf_failed": "This form had expired"}


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")  # path_info: without the API Gateway stage


def error_page(request, status: int, message: str = "", *, code: str = "") -> HttpResponse:
    """A styled page with a way back, or the API's JSON error shape under /api/."""
    if _is_api(request):
        return JsonResponse({"code": code or {404: "not_found", 403: "permission_denied", 405: "method_not_allowed",
                                               400: "bad_request"}.get(status, "error"),
                             "message": message or TITLES.get(status, "Error")}, status=status)
    title = CODE_TITLES.get(code) or TITLES.get(status, "Error")
    context = {"status": status, "title": title, "message": message, "code": code}
    try:
        body = loader.render_to_string("errors/error.html", context, request=request)
    except Exception:  # the page must render even when the shell cannot (e.g. data store down)
        logger.exception("error page could not render with the shell")
        body = loader.render_to_string("errors/minimal.html", context)
    return HttpResponse(body, status=status)


def method_not_allowed(request, allowed: list[str]) -> HttpResponse:
    """The styled 405 page (JSON under /api/) naming the ``allowed`` methods in ``Allow``."""
    response = error_page(request, 405, "This address can't be used that way. Use the page's buttons instead.")
    if allowed:
        response["Allow"] = ", ".join(allowed)
    response._styled = True  # MethodNotAllowedMiddleware leaves it as it is
    return response


def bad_request(request, exception=None):
    return error_page(request, 400, "The request could not be read. Go back and try again.")


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else "You don't have permission to open this page."
    return error_page(request, 403, message)


def page_not_found(request, exception=None):
    return error_page(request, 404, "There is nothing at this address, or it is not in your active tenant.")


def server_error(request):
    if _is_api(request):
        return JsonResponse({"code": "server_error", "message": "Internal error."}, status=500)
    try:
        body = loader.render_to_string("errors/minimal.html", {
            "status": 500, "title": TITLES[500],
            "message": "The problem has been logged. Go back and try again in a moment."})
    except TemplateDoesNotExist:  # pragma: no cover
        body = "Server error"
    return HttpResponse(body, status=500)


def csrf_failure(request, reason=""):
    """A stale tab or an expired sign-in: explain, and offer to reload the page it came from."""
    if _is_api(request):
        return JsonResponse({"code": "csrf_failed", "message": "CSRF verification failed: send the X-CSRFToken header."},
                            status=403)
    return error_page(request, 403, "This form had expired (the page was open too long, or you signed in again "
                                    "in another tab). Nothing was changed. Reload the page and try again.",
                      code="csrf_failed")


class NoStoreMiddleware:
    """Pages and API answers carry a person's or a tenant's data: no browser, proxy or shared cache
    may keep them (``Cache-Control: no-store, private``), e.g. for the next user of a shared computer
    pressing Back after signing out. Static files (served by WhiteNoise, earlier in the chain) and
    responses that set their own Cache-Control are left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


class MethodNotAllowedMiddleware:
    """Django answers a wrong method with a bare 405; give people the styled page (API keeps JSON)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not _is_api(request) and not getattr(response, "_styled", False):
            return method_not_allowed(request, [m.strip() for m in response.get("Allow", "").split(",") if m.strip()])
        return response
