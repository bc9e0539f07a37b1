"""Verifying Cognito JWTs locally (RS256, JWKS by kid, iss, token_use, aud/client_id, exp/nbf).

mozilla-django-oidc's DRF class sends tokens to userinfo and checks neither issuer nor audience,
so bearer tokens are verified here with PyJWT. The JWKS is fetched once and cached in-process;
an unknown ``kid`` triggers at most one refresh per ``COGNITO_JWKS_MIN_REFRESH_SECONDS``.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import jwt
import requests
from django.conf import settings


class InvalidToken(Exception):
    """Any reason a token is not accepted; the message is safe to show."""


@dataclass(frozen=True)
class Identity:
    sub: str
    email: str = ""
    groups: frozenset[str] = frozenset()
    seed_tenant_id: str | None = None  # custom:tenant_id, only seeds the first active tenant
    source: str = "bearer"  # "bearer" | "session"
    claims: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_system_admin(self) -> bool:
        return settings.COGNITO_SYSTEM_ADMIN_GROUP in self.groups


class JWKSCache:
    def __init__(self, url_getter: Callable[[], str], *, clock: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str], dict] | None = None):
        self._url_getter = url_getter
        self._clock = clock
        self._fetch = fetch or (lambda url: requests.get(url, timeout=3).json())
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def key_for(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(kid)
            if key is None and self._may_refresh():
                self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        return key

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or (
            self._clock() - self._fetched_at >= settings.COGNITO_JWKS_MIN_REFRESH_SECONDS)

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        self.fetch_count += 1
        try:
            data = self._fetch(self._url_getter())
            keys = {}
            for raw in data.get("keys", []):
                if raw.get("kty") == "RSA" and raw.get("kid"):
                    keys[raw["kid"]] = jwt.PyJWK(raw, algorithm="RS256")
        except (requests.RequestException, ValueError, jwt.PyJWKError):
            return  # keep the keys we had; the token is refused as unknown kid
        self._keys = keys

    def clear(self) -> None:
        with self._lock:
            self._keys, self._fetched_at = {}, None


jwks = JWKSCache(lambda: settings.COGNITO_JWKS_URL)


def verify_token(token: str) -> Identity:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    if header.get("alg") != "RS256":
        raise InvalidToken("unsupported algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("token has no key id")
    key = jwks.key_for(kid)
    try:
        claims = jwt.decode(
            token, key=key.key, algorithms=["RS256"], issuer=settings.COGNITO_ISSUER,
            options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("token not yet valid") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("wrong issuer") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("invalid token") from exc
    clients = set(settings.COGNITO_APP_CLIENT_IDS)
    token_use = claims.get("token_use")
    if token_use == "id":
        audience = claims.get("aud")
        audiences = {audience} if isinstance(audience, str) else set(audience or [])
        if not audiences & clients:
            raise InvalidToken("wrong audience")
    elif token_use == "access":
        if claims.get("client_id") not in clients:
            raise InvalidToken("wrong client")
    else:
        raise InvalidToken("wrong token_use")
    return Identity(
        sub=claims["sub"],
        email=claims.get("email", ""),
        groups=frozenset(claims.get("cognito:groups") or []),
        seed_tenant_id=claims.get("custom:tenant_id"),
        source="bearer",
        claims=claims,
    )
