"""Browser sign-in: mozilla-django-oidc's authorization-code flow, with no database user.

* ``CognitoOIDCBackend`` — mozilla-django-oidc's backend does the code exchange, the ID token's
  RS256 signature (provider JWKS) and nonce checks. We add what it leaves out (``iss`` equal to
  the configured provider issuer, ``aud`` containing our client id) and, instead of finding or
  creating a Django user, return a lightweight ``ApiUser`` built from the verified claims.
* ``SessionCallbackView`` — the package's callback view, except that "logging in" writes the
  verified ``sub`` / email (only if ``email_verified``) / pool username / groups into the session (the keys
  ``tenants.resolution`` reads) instead of calling ``django.contrib.auth.login`` (which would
  save ``last_login`` to the database).
* ``provider_logout_url`` — ``OIDC_OP_LOGOUT_URL_METHOD``: sign out at the provider too (Cognito
  hosted UI ``/logout`` or the local provider's end-session endpoint), then back to our sign-in page.
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

from .active_tenant import cache
from .authentication import ApiUser
from .identity import Identity, pool_username, verified_email
from .resolution import SESSION_EMAIL, SESSION_GROUPS, SESSION_SEED, SESSION_SUB, SESSION_USERNAME

logger = logging.getLogger("saas.audit")  # sign-ins are security events: kept at any log level


class CognitoOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:
            logger.warning("browser sign-in refused: %s", exc)
        except (requests.RequestException, ValueError, KeyError) as exc:
            logger.warning("browser sign-in failed talking to the provider: %s", exc)
        return None

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)  # signature (RS256, JWKS), exp, nonce
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        if not issuer or payload.get("iss") != issuer:
            raise SuspiciousOperation("ID token issuer does not match OIDC_OP_ISSUER")
        audience = payload.get("aud")
        audiences = {audience} if isinstance(audience, str) else set(audience) if isinstance(audience, list) else set()
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token audience does not include our client id")
        if payload.get("token_use", "id") != "id":
            raise SuspiciousOperation("not an ID token")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        """The verified claims -> a lightweight user. Nothing is looked up or written in the database."""
        sub = payload.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 128 or "#" in sub:
            raise SuspiciousOperation("ID token has no usable subject")
        # Only a verified address is kept (Cognito leaves a self-service email change unverified).
        email = verified_email(payload)
        if not email and "email_verified" not in payload:
            info = self.get_userinfo(access_token, id_token, payload)
            if info.get("sub") != sub:  # OIDC Core 5.3.2: userinfo must be about the same subject
                raise SuspiciousOperation("userinfo subject differs from the ID token's")
            email = verified_email(info)
        groups = payload.get("cognito:groups") or []
        seed = payload.get("custom:tenant_id")
        return ApiUser(identity=Identity(
            sub=sub, email=email,
            groups=frozenset(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else frozenset(),
            seed_tenant_id=seed if isinstance(seed, str) else None, source="session", username=pool_username(payload)))

    def get_user(self, user_id):
        return None  # sessions carry the identity themselves (see SessionCallbackView)


def start_browser_session(request, identity: Identity) -> None:
    """Write the verified identity into a fresh session (new key: no session fixation)."""
    request.session.cycle_key()
    request.session[SESSION_SUB] = identity.sub
    request.session[SESSION_EMAIL] = identity.email
    request.session[SESSION_GROUPS] = sorted(identity.groups)
    if identity.username:
        request.session[SESSION_USERNAME] = identity.username
    if identity.seed_tenant_id:
        request.session[SESSION_SEED] = identity.seed_tenant_id
    rotate_token(request)  # as django.contrib.auth.login does
    cache.invalidate_user(identity.sub)  # a fresh sign-in re-reads memberships
    logger.info("browser session started for %s", identity.sub)


class SessionCallbackView(OIDCAuthenticationCallbackView):
    def login_success(self):
        start_browser_session(self.request, self.user.identity)
        return HttpResponseRedirect(self.success_url)


def provider_logout_url(request) -> str:
    back = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    if not settings.OIDC_OP_LOGOUT_URL:
        return back
    # Cognito's /logout reads client_id + logout_uri; OIDC RP-initiated logout reads post_logout_redirect_uri.
    params = {"client_id": settings.OIDC_RP_CLIENT_ID, "logout_uri": back, "post_logout_redirect_uri": back}
    return f"{settings.OIDC_OP_LOGOUT_URL}?{urlencode(params)}"
