"""The request side of active-tenant resolution (``TENANT_RESOLVER``): the verified identity from a
bearer token or the browser session, then ``tenants.active_tenant`` (membership record ->
TenantContext, cached). The tenant is never read from a header, the query string or the body.
"""
from __future__ import annotations

import logging

from django.conf import settings

from saas import throttling
from saas.sessions import USER_KEY
from saas.tenancy import TenantContext

from .active_tenant import resolve
from .identity import Identity, InvalidToken, verify_token

logger = logging.getLogger("tenants.resolution")
audit = logging.getLogger("saas.audit")  # security events: kept at any production log level

__all__ = ["identity_from_session", "identity_from_request", "resolve_request"]

# Keys of the server-side session written by the browser sign-in (tenants.backends).
SESSION_SUB = USER_KEY  # the session backend lists sessions by this user id ("sign out everywhere")
# SESSION_EMAIL holds the email only if it was verified at sign-in; SESSION_USERNAME the pool username.
SESSION_EMAIL, SESSION_GROUPS, SESSION_SEED = ("identity_email", "identity_groups", "identity_seed_tenant")
SESSION_USERNAME = "identity_username"


def identity_from_session(session) -> Identity | None:
    if session is None or not session.get(SESSION_SUB):
        return None
    return Identity(sub=session[SESSION_SUB], email=session.get(SESSION_EMAIL, ""),
                    groups=frozenset(session.get(SESSION_GROUPS, [])),
                    seed_tenant_id=session.get(SESSION_SEED), source="session",
                    username=session.get(SESSION_USERNAME, ""))


def identity_from_request(request) -> Identity | None:
    """Bearer token if present, else the browser session. Records a bearer failure for DRF (401)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            request.auth_error = "Authorization header must be 'Bearer <token>'."
            return None
        # Every token is verified, whatever its address did before: many callers share an address
        # (offices, proxies), and one of them sending bad tokens must not lock the others out.
        # Verifying costs one RS256 check (a token seen before: a cache hit); the JWKS is fetched at
        # most once per cooldown. Bad tokens are counted per address; past the budget they get 429.
        try:
            return verify_token(token.strip())
        except InvalidToken as exc:
            request.throttle_wait = throttling.bad_token_refused(request)
            if request.throttle_wait is not None:
                request.auth_error = "Too many invalid tokens."
                return None
            throttling.record_bad_token(request)
            request.auth_error = str(exc)
            audit.warning("bearer token rejected: %s", exc, extra={"event": "auth.token_rejected",
                                                                   "path": request.path})
            return None
    return identity_from_session(getattr(request, "session", None))


# Paths where a session's platform-admin group is re-checked with the user pool on every request.
PLATFORM_PATHS = ("/platform", "/api/v1/admin")


def _current_groups(request, identity: Identity) -> Identity:
    """A browser session keeps the groups of its sign-in; whoever holds (or asks for) platform powers
    is re-checked against the user pool on each request, so a group change takes effect at once.
    The pool user is the one named by the verified sign-in (its username, else its ``sub``), never
    found by email: anyone may set her own email to an operator's. If the pool cannot be asked,
    platform powers are withheld (fail closed)."""
    if not (identity.is_system_admin or request.path.startswith(PLATFORM_PATHS)):
        return identity
    from . import cognito

    try:
        groups = frozenset(cognito.groups_of(identity.username or identity.sub))
    except Exception:  # pool unreachable or user gone: no platform powers for this request
        logger.warning("could not re-check groups of %s; platform access withheld", identity.sub, exc_info=True)
        groups = identity.groups - {settings.COGNITO_SYSTEM_ADMIN_GROUP}
    if groups == identity.groups:
        return identity
    request.session[SESSION_GROUPS] = sorted(groups)
    logger.info("groups of %s changed since sign-in: %s", identity.sub, sorted(groups))
    return Identity(sub=identity.sub, email=identity.email, groups=groups, seed_tenant_id=identity.seed_tenant_id,
                    source="session", username=identity.username)


def resolve_request(request) -> TenantContext | None:
    """The TENANT_RESOLVER used by saas.tenancy.middleware."""
    request.auth_error = None
    request.identity = identity = identity_from_request(request)
    request.resolution = None
    if identity is None:
        return None
    if identity.source == "session":
        identity = request.identity = _current_groups(request, identity)
        # Django views and templates see the signed-in browser user (no database user exists).
        from .authentication import ApiUser

        request.user = ApiUser(identity=identity)
        # People in a browser see membership changes made by any process on their next request:
        # the membership is read afresh (three consistent reads), not from the in-process cache.
        request.resolution = resolve(identity, fresh=True)
    else:
        request.resolution = resolve(identity)
    return request.resolution.context
