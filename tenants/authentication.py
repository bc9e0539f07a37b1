"""DRF authentication from the identity the tenant middleware already verified.

The middleware verifies the bearer token (or reads the browser session) once per request; this
class only turns that into ``request.user`` and a 401 when a token was sent but refused.
Session-authenticated (browser) writes must carry the CSRF token.
"""
from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from .identity import Identity


@dataclass(eq=False)
class ApiUser:
    """A signed-in person, built from verified claims. Nothing is stored in Django's database."""

    identity: Identity
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def sub(self) -> str:
        return self.identity.sub

    @property
    def pk(self) -> str:
        return self.identity.sub

    id = pk

    @property
    def email(self) -> str:
        return self.identity.email

    @property
    def username(self) -> str:
        return self.identity.email or self.identity.sub

    def get_username(self) -> str:
        return self.username

    @property
    def is_system_admin(self) -> bool:
        return self.identity.is_system_admin

    def __eq__(self, other) -> bool:
        return isinstance(other, ApiUser) and other.identity.sub == self.identity.sub

    def __hash__(self) -> int:
        return hash(self.identity.sub)

    def __str__(self) -> str:
        return self.username


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
