"""DRF authentication from the identity the tenant middleware already verified.

The middleware verifies the bearer token (or reads the browser session) once per request; this
class only turns that into ``request.user`` and a 401 when a token was sent but refused.
"""
from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from .identity import Identity


@dataclass(frozen=True)
class ApiUser:
    identity: Identity
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def sub(self) -> str:
        return self.identity.sub

    @property
    def pk(self) -> str:
        return self.identity.sub

    @property
    def email(self) -> str:
        return self.identity.email

    @property
    def is_system_admin(self) -> bool:
        return self.identity.is_system_admin


class _CSRFCheck(authentication.SessionAuthentication):
    pass


class VerifiedIdentityAuthentication(authentication.BaseAuthentication):
    www_authenticate_realm = "api"

    def authenticate(self, request):
        django_request = request._request
        error = getattr(django_request, "auth_error", None)
        if error:
            raise exceptions.AuthenticationFailed(error, "invalid_token")
        identity = getattr(django_request, "identity", None)
        if identity is None:
            return None
        if identity.source == "session":
            _CSRFCheck().enforce_csrf(request)  # cookie-authenticated writes need the CSRF token
        return ApiUser(identity=identity), identity

    def authenticate_header(self, request):
        return f'Bearer realm="{self.www_authenticate_realm}"'
