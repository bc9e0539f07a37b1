"""What every web page needs from identity and tenancy: who is signed in, the active tenant and
role, the header's tenant switcher, and one decorator that applies the API's role rules.

    @web_page(role="manager", methods=("GET", "POST"))
    def product_edit(request, product_id): ...

``web_page`` sends a signed-out person to sign in (with a message when their session ended, and
``next`` so they come back), a person without a usable tenant to the start page, refuses a role
below ``role`` with the styled 403 page, and turns the application errors (``saas.errors.AppError``)
a view raises into what the person reads, so views do not catch them:

* a POST to a view with ``back`` (a form whose action has its own address and returns to a page):
  every application error becomes a message on the ``back`` page, the page the action returns to
  when it succeeds;
* any other POST: a 400, 409, 412 or 503 becomes a message on the page the form was on; others
  (403, 404, ...) the error page;
* a GET: the error page (a 503 is the "Temporarily unavailable" page).

Views stay thin: they parse the form, call a service or selector, and render.
"""
from __future__ import annotations

import functools
import logging
import time
from typing import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme

from saas import web
from saas.cache import TTLCache
from saas.errors import AppError
from saas.tenancy.context import TenantContext, current_context
from websessions import kept_forms

from . import selectors

logger = logging.getLogger("tenants.web")


def active_role(ctx) -> str | None:
    if not isinstance(ctx, TenantContext) or not ctx.roles:
        return None
    return max(ctx.roles, key=lambda r: web.ROLE_RANK.get(r, -1))


def can(role: str | None, needed: str) -> bool:
    return role is not None and web.ROLE_RANK.get(role, -1) >= web.ROLE_RANK[needed]


class SwitcherCache:
    """The header's tenant list per person, kept briefly in process: it is on every page, and what it
    shows about *other* tenants may lag by ``WEB_SWITCHER_CACHE_SECONDS`` (a switch to a tenant that
    was deactivated meanwhile is refused by the service with a message). The active tenant's own
    status always comes from this request's resolution. Switching or creating a tenant here drops
    the entry."""

    def __init__(self, clock=time.monotonic):
        self._cache: TTLCache[list[dict]] = TTLCache(maxsize=10_000, clock=clock,
                                                     ttl=lambda _: settings.WEB_SWITCHER_CACHE_SECONDS)

    def get(self, user_id: str) -> list[dict]:
        return self._cache.get_or_load(user_id, lambda: selectors.switchable_tenants_of(user_id))

    def forget(self, user_id: str) -> None:
        self._cache.pop(user_id)


switcher = SwitcherCache()


def _shell(request) -> dict:
    identity = getattr(request, "identity", None)
    if identity is None:
        return {"signed_in": False, "nav": []}
    ctx = current_context()
    role = active_role(ctx)
    resolution = getattr(request, "resolution", None)
    active_id = resolution.tenant_id if resolution is not None else None
    tenants = switcher.get(identity.sub)
    active = next((t for t in tenants if t["id"] == active_id), None)
    if resolution is not None and active_id and (active is None or (resolution.tenant_status and active["status"] != resolution.tenant_status)):
        switcher.forget(identity.sub)  # the list is behind this request's own reads: refresh it
        tenants = switcher.get(identity.sub)
        active = next((t for t in tenants if t["id"] == active_id), None)
    path = request.path
    nav = []
    for item in web.NAVIGATION:
        if not item.visible_to(role=role, system_admin=identity.is_system_admin):
            continue
        url = reverse(item.url_name)
        nav.append({"label": item.label, "url": url, "current": path.startswith(item.section or url)})
    return {
        "signed_in": True,
        "email": identity.email or identity.sub,
        "user_id": identity.sub,
        "system_admin": identity.is_system_admin,
        "active": active,
        "active_usable": isinstance(ctx, TenantContext),
        "role": role,
        "tenants": tenants,
        "others": [t for t in tenants if t["id"] != active_id],
        "nav": nav,
    }


def shell(request) -> dict:
    """Context processor: ``shell`` (computed only when a template uses it)."""
    # ``csp_nonce``: django-htmx's script tag reads the nonce under this name (django-csp's is CSP_NONCE).
    return {"shell": SimpleLazyObject(lambda: _shell(request)), "can": _Abilities(request),
            "csp_nonce": getattr(request, "csp_nonce", None), "kept_form": getattr(request, "kept_form", None)}


class _Abilities:
    """``{% if can.manager %}`` in templates: the active role is at least manager."""

    def __init__(self, request):
        self._request = request

    def __getattr__(self, role: str) -> bool:
        if role not in web.ROLE_RANK:
            raise AttributeError(role)
        return can(active_role(current_context()), role)


def sign_in_url(request, next_path: str | None = None) -> str:
    return f"{reverse('login')}?{urlencode({'next': next_path or request.get_full_path()})}"


def _session_ended(request) -> bool:
    """A session cookie came with the request but no live session answers to it."""
    return (settings.SESSION_COOKIE_NAME in request.COOKIES
            and getattr(request, "session", None) is not None and request.session.session_key is None)


def redirect(request, url: str) -> HttpResponse:
    """A redirect htmx follows as a full page load (``HX-Redirect``) or a plain 302."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def safe_next(request, value: str, default: str) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return default


def web_page(*, role: str | None = "viewer", tenant: bool = True, platform_admin: bool = False,  # noqa: C901
             methods: tuple[str, ...] = ("GET",), back: str | Callable[..., str] | None = None):
    """See the module docstring. ``role=None`` with ``tenant=False``: any signed-in person. ``back``:
    a URL name, or a function of the view's arguments (``request``, then the URL's) giving the URL."""

    # One place for what every page checks (method, sign-in, tenant, role, errors): kept in line so a
    # reader sees the whole order of checks at once.
    def decorate(view):  # noqa: C901
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):  # noqa: C901
            if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
                return web.method_not_allowed(request, list(methods))
            identity = getattr(request, "identity", None)
            if identity is None:
                ended = _session_ended(request)
                if request.method == "GET" and not getattr(request, "htmx", False):
                    next_path = request.get_full_path()
                else:  # a form or a fragment: come back to the page it was on
                    next_path = safe_next(request, request.headers.get("HX-Current-URL")
                                          or request.headers.get("Referer", ""), reverse("home"))
                kept = kept_forms.keep(request.POST, next_path) if request.method == "POST" else None
                if request.method == "POST":
                    messages.warning(request, "You were signed out, so your changes were not saved. " + (
                        "Sign in: what you typed will be back on the form to check and save."
                        if kept else "Sign in and enter them again."))
                elif ended:
                    messages.info(request, "Your session has ended. Sign in again to continue where you were.")
                response = redirect(request, sign_in_url(request, next_path))
                if kept:
                    # Sent back only to the form's own page (the cookie's path), where it is used up.
                    response.set_cookie(kept_forms.COOKIE, kept, max_age=kept_forms.LIFETIME_SECONDS, httponly=True,
                                        samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
                                        path=urlsplit(next_path).path or "/")
                return response
            kept_token = (request.COOKIES.get(kept_forms.COOKIE)
                          if request.method == "GET" and not getattr(request, "htmx", False) else None)
            if kept_token:
                request.kept_form = kept_forms.take(kept_token, request.path)
                if request.kept_form:
                    messages.info(request, "What you typed before you were signed out is back in the form below. "
                                           "It is not saved yet: check it and save.")
            if platform_admin and not identity.is_system_admin:
                return web.error_page(request, 403, "Only platform administrators can open this page.")
            request.acting_as_operator = platform_admin  # tenants' trails name "platform operator" (audit.actors)
            if tenant:
                ctx = current_context()
                if not isinstance(ctx, TenantContext):
                    resolution = getattr(request, "resolution", None)
                    if resolution is not None and resolution.problem == "tenant_inactive":
                        return web.error_page(request, 403, f"Your active tenant is {resolution.tenant_status}, so its "
                                                            "pages are closed. Switch to another tenant in the header.",
                                              code="tenant_inactive")
                    return redirect(request, reverse("start"))
                if role is not None and not can(active_role(ctx), role):
                    return web.error_page(request, 403, f"This needs the {role} role in {_tenant_name(request)}; "
                                                        f"yours is {active_role(ctx)}.", code="role_required")
            try:
                response = view(request, *args, **kwargs)
                if kept_token:
                    response.delete_cookie(kept_forms.COOKIE, path=request.path, samesite="Lax")
                return response
            except Exception as exc:
                problem = web.describe(exc)
                if problem is None:
                    raise
                if request.method == "POST" and back is not None and isinstance(exc, AppError):
                    messages.error(request, problem.message)
                    return redirect(request, back(request, *args, **kwargs) if callable(back) else reverse(back))
                if request.method == "POST" and problem.status in (400, 409, 412, 503):
                    messages.error(request, problem.message)
                    return redirect(request, safe_next(request, request.headers.get("Referer", ""), request.path))
                return web.error_page(request, problem.status, problem.message, code=problem.code)

        wrapper.web_page = True
        return wrapper

    return decorate


def _tenant_name(request) -> str:
    try:
        return selectors.current_tenant()["name"]
    except Exception:
        return "this tenant"


def form_data(request, *, fields: tuple[str, ...], integers: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict:
    """A POSTed form as the API's JSON body: text as sent (trimmed), whole numbers as ints where they
    parse (otherwise left as text, so the API's validation names the field), empty optional fields left out."""
    data: dict = {}
    for name in fields:
        value = request.POST.get(name)
        if value is None:
            continue
        value = value.strip()
        if name in optional and value == "":
            continue
        if name in integers:
            try:
                value = int(value)
            except ValueError:
                pass
        data[name] = value
    return data


# --- paging ------------------------------------------------------------------------------------------
FIRST_PAGE = "~"  # stands for "no cursor" in the trail of earlier pages


def pager(request, next_cursor: str | None) -> dict:
    """Next/previous links for cursor paging. The URL carries the trail of earlier cursors, so
    "Previous" needs no server state. Other query parameters (filters) are kept."""
    params = request.GET.copy()
    cursor = params.get("cursor", "")
    trail = [t for t in params.get("trail", "").split(",") if t]
    links = {"next": None, "previous": None, "number": len(trail) + 1}
    if next_cursor:
        forward = params.copy()
        forward["cursor"] = next_cursor
        forward["trail"] = ",".join(trail + [cursor or FIRST_PAGE])
        links["next"] = "?" + forward.urlencode()
    if trail:
        back = params.copy()
        previous = trail[-1]
        if previous == FIRST_PAGE:
            back.pop("cursor", None)
        else:
            back["cursor"] = previous
        if trail[:-1]:
            back["trail"] = ",".join(trail[:-1])
        else:
            back.pop("trail", None)
        links["previous"] = "?" + back.urlencode()
    return links


def cursor_of(request) -> str | None:
    return request.GET.get("cursor") or None


# --- people by name ----------------------------------------------------------------------------------
def people(user_ids) -> dict[str, str]:
    """Who the user ids of the active tenant are, as pages show them (their email), in one batch
    read of the tenant's members; someone no longer a member is absent (pages say "former member")."""
    from .models import Member

    wanted = sorted({uid for uid in user_ids if uid})
    if not wanted:
        return {}
    return {uid: item.get("email") or uid for uid, item in Member.objects.batch_get(wanted).items()}
