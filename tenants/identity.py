"""Verifying Cognito JWTs locally (RS256, JWKS by kid, iss, token_use, aud/client_id, exp/nbf).

mozilla-django-oidc's DRF class sends tokens to userinfo and checks neither issuer nor audience,
so bearer tokens are verified here with PyJWT. The JWKS comes from PyJWT's ``PyJWKClient`` (cached
in-process; an unknown ``kid`` triggers at most one refresh per ``COGNITO_JWKS_MIN_REFRESH_SECONDS``;
after a failed fetch none for ``COGNITO_JWKS_RETRY_SECONDS``). A warm process verifies a token with
no network call.

API clients send the same token on every request until it expires, so a token that verified is
remembered (bounded, in-process) with its ``exp``/``nbf``: the next request with the very same token
re-checks only the time window and skips parsing and the RSA check. Only tokens that passed every
check are remembered, keyed by the exact token text and the settings they were checked against.

PyJWT (and with it ``cryptography``, ~50 ms) is imported on the first token, not at start-up: a
Lambda container that answers ``/health`` or browser pages (session cookie) never needs it.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Callable

from django.conf import settings

from saas.cache import TTLCache

if TYPE_CHECKING:
    import jwt

logger = logging.getLogger("tenants.identity")

ALGORITHM = "RS256"
TOKEN_USES = ("id", "access")


class InvalidToken(Exception):
    """Any reason a token is not accepted; the message is safe to show."""


def verified_email(claims: dict) -> str:
    """The ``email`` claim if the same token says it is verified, else "". Cognito marks an address
    unverified when its user changes it (``UpdateUserAttributes`` with her own access token) until she
    confirms the code sent there, so an unverified address is only a claim, never an identity.
    Cognito's ID tokens carry ``email_verified`` as a boolean; the string form is accepted too."""
    email, flag = claims.get("email"), claims.get("email_verified")
    if not isinstance(email, str) or not email:
        return ""
    return email if flag is True or (isinstance(flag, str) and flag.lower() == "true") else ""


def pool_username(claims: dict) -> str:
    """The user-pool username in a verified token: ``cognito:username`` (ID token), ``username``
    (access token). The pool is asked about a person by this (or her ``sub``), never by email."""
    for name in ("cognito:username", "username"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


@dataclass(frozen=True)
class Identity:
    """A verified person. ``email`` holds only a *verified* address ("" otherwise, e.g. for access
    tokens, which carry none: ``selectors.email_of`` asks the pool by ``username``). Decisions key
    on ``sub``; the pool is asked by ``username``."""

    sub: str
    email: str = ""
    groups: frozenset[str] = frozenset()
    seed_tenant_id: str | None = None  # custom:tenant_id, only seeds the first active tenant
    source: str = "bearer"  # "bearer" | "session"
    claims: dict = field(default_factory=dict, compare=False, repr=False)
    username: str = ""  # the user-pool username from the verified token ("" when unknown: use sub)

    @property
    def is_system_admin(self) -> bool:
        return settings.COGNITO_SYSTEM_ADMIN_GROUP in self.groups


@cache
def _counting_jwk_client() -> type:
    """PyJWT's JWKS client, counting its fetches (tests and benches read ``fetch_count``)."""
    import jwt

    class CountingJWKClient(jwt.PyJWKClient):
        def __init__(self, *args, on_fetch: Callable[[], None], **kwargs):
            super().__init__(*args, **kwargs)
            self._on_fetch = on_fetch

        def fetch_data(self):
            self._on_fetch()
            return super().fetch_data()

    return CountingJWKClient


class JWKSCache:
    """The pool's signing keys by ``kid``: a thin wrapper on PyJWT's ``PyJWKClient``, which caches
    the key set (lifespan ``COGNITO_JWKS_LIFESPAN_SECONDS``), holds a lock, and on an unknown
    ``kid`` refreshes once, at most every ``COGNITO_JWKS_MIN_REFRESH_SECONDS`` (its cooldown). The
    wrapper adds what the client does not do: after a failed fetch no request fetches again for
    ``COGNITO_JWKS_RETRY_SECONDS`` (an unreachable endpoint costs a request nothing), and the client
    is rebuilt when the JWKS URL setting changes."""

    def __init__(self, url_getter: Callable[[], str], *, clock: Callable[[], float] = time.monotonic):
        self._url_getter = url_getter
        self._clock = clock
        self._client: jwt.PyJWKClient | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def _counted(self) -> None:
        self.fetch_count += 1

    def _current(self) -> jwt.PyJWKClient:
        url, cooldown = self._url_getter(), float(settings.COGNITO_JWKS_MIN_REFRESH_SECONDS)
        client = self._client
        if client is None or client.uri != url or client.cooldown_duration != cooldown:
            client = self._client = _counting_jwk_client()(
                url, cache_jwk_set=True, lifespan=float(settings.COGNITO_JWKS_LIFESPAN_SECONDS), timeout=3,
                cooldown_duration=cooldown, on_fetch=self._counted)
            self._failed_at = None
        return client

    def _cached(self, client: jwt.PyJWKClient, kid: str) -> jwt.PyJWK | None:
        keys = client.jwk_set_cache.get() if client.jwk_set_cache is not None else None
        return next((key for key in keys.keys if key.key_id == kid), None) if keys is not None else None

    def key_for(self, kid: str) -> jwt.PyJWK:
        import jwt

        with self._lock:
            client = self._current()
            known = self._cached(client, kid)
            if known is not None:
                return known
            if self._failed_at is not None and self._clock() - self._failed_at < settings.COGNITO_JWKS_RETRY_SECONDS:
                raise InvalidToken("unknown signing key")
            try:
                key = client.get_signing_key(kid)
            except jwt.PyJWKClientConnectionError as exc:
                self._failed_at = self._clock()
                logger.warning("JWKS fetch failed: %s", exc)
                raise InvalidToken("unknown signing key") from exc
            except (jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
                raise InvalidToken("unknown signing key") from exc
            self._failed_at = None
            return key

    def clear(self) -> None:
        with self._lock:
            self._client, self._failed_at = None, None
        verified.clear()


class VerifiedTokens:
    """Tokens that passed verification, until their ``exp`` (at most ``max_entries``)."""

    def __init__(self, max_entries: int = 4096, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._cache: TTLCache[tuple] = TTLCache(maxsize=max_entries, clock=clock,
                                                ttl=lambda entry: max(0.0, entry[1] - clock()))

    def get(self, token: str, config: tuple) -> Identity | None:
        entry = self._cache.get(token)
        if entry is None:
            return None
        identity, exp, nbf, checked_with = entry
        now = self._clock()
        if checked_with != config or now >= exp or now < nbf:
            self._cache.pop(token)
            return None
        return identity

    def put(self, token: str, identity: Identity, config: tuple) -> None:
        claims = identity.claims
        self._cache.set(token, (identity, float(claims["exp"]), float(claims.get("nbf") or 0), config))

    def clear(self) -> None:
        self._cache.clear()


verified = VerifiedTokens()
jwks = JWKSCache(lambda: settings.COGNITO_JWKS_URL)

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def _unverified_header(token: str) -> dict:
    """The JOSE header, read once (PyJWT parses the whole token again, strictly, when verifying)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidToken("malformed token")
    segment = token[:token.index(".")]
    if not _SEGMENT.fullmatch(segment):
        raise InvalidToken("malformed token")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    return header


def _config() -> tuple:
    return settings.COGNITO_ISSUER, tuple(settings.COGNITO_APP_CLIENT_IDS), settings.COGNITO_JWKS_URL


def verify_token(token: str) -> Identity:
    """The identity in a Cognito ID or access token, or ``InvalidToken``."""
    config = _config()
    known = verified.get(token, config) if isinstance(token, str) else None
    if known is not None:
        return known
    identity = _verify(token)
    verified.put(token, identity, config)
    return identity


def _verify(token: str) -> Identity:  # noqa: C901 - the token checks in the order Cognito documents
    header = _unverified_header(token)
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("unsupported algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("token has no key id")
    key = jwks.key_for(kid)
    import jwt

    try:
        claims = jwt.decode(
            token, key=key.key, algorithms=[ALGORITHM], issuer=settings.COGNITO_ISSUER,
            options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False,
                     "verify_exp": True, "verify_nbf": True, "verify_iss": True, "verify_signature": True},
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
        audiences = {audience} if isinstance(audience, str) else set(audience or []) if isinstance(audience, list) else set()
        if not audiences & clients:
            raise InvalidToken("wrong audience")
    elif token_use == "access":
        if claims.get("client_id") not in clients:
            raise InvalidToken("wrong client")
    else:
        raise InvalidToken("wrong token_use")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 128 or "#" in sub:
        raise InvalidToken("invalid subject")
    groups = claims.get("cognito:groups") or []
    seed = claims.get("custom:tenant_id")
    return Identity(
        sub=sub,
        email=verified_email(claims),
        username=pool_username(claims),
        groups=frozenset(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else frozenset(),
        seed_tenant_id=seed if isinstance(seed, str) else None,
        source="bearer",
        claims=claims,
    )
