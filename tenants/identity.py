"""Verifying Cognito JWTs locally (RS256, JWKS by kid, iss, token_use, aud/client_id, exp/nbf).

mozilla-django-oidc's DRF class sends tokens to userinfo and checks neither issuer nor audience,
so bearer tokens are verified here with PyJWT. The JWKS is fetched once and cached in-process;
an unknown ``kid`` triggers at most one refresh per ``COGNITO_JWKS_MIN_REFRESH_SECONDS`` (a failed
fetch may be retried sooner, after ``COGNITO_JWKS_RETRY_SECONDS``). A warm process verifies a
token with no network call.

API clients send the same token on every request until it expires, so a token that verified is
remembered (bounded, in-process) with its ``exp``/``nbf``: the next request with the very same token
re-checks only the time window and skips parsing and the RSA check. Only tokens that passed every
check are remembered, keyed by the exact token text and the settings they were checked against.
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
from typing import Callable

import jwt
import requests
from django.conf import settings

logger = logging.getLogger("tenants.identity")

ALGORITHM = "RS256"
TOKEN_USES = ("id", "access")


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


def _http_fetch(url: str) -> dict:
    response = requests.get(url, timeout=3)
    response.raise_for_status()
    return response.json()


class JWKSCache:
    """The pool's signing keys by ``kid``. Thread-safe; refreshes are rate-limited."""

    def __init__(self, url_getter: Callable[[], str], *, clock: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str], dict] | None = None):
        self._url_getter = url_getter
        self._clock = clock
        self._fetch = fetch or _http_fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_failed = False
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
        if self._fetched_at is None:
            return True
        wait = settings.COGNITO_JWKS_RETRY_SECONDS if self._last_failed else settings.COGNITO_JWKS_MIN_REFRESH_SECONDS
        return self._clock() - self._fetched_at >= wait

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        self.fetch_count += 1
        try:
            data = self._fetch(self._url_getter())
            keys = {}
            for raw in data.get("keys", []):
                if raw.get("kty") == "RSA" and raw.get("kid") and raw.get("use", "sig") == "sig":
                    keys[raw["kid"]] = jwt.PyJWK(raw, algorithm=ALGORITHM)
        except (requests.RequestException, ValueError, TypeError, AttributeError, jwt.PyJWKError) as exc:
            self._last_failed = True
            logger.warning("JWKS fetch failed: %s", exc)
            return  # keep the keys we had; the token is refused as unknown kid
        self._last_failed = False
        self._keys = keys

    def clear(self) -> None:
        with self._lock:
            self._keys, self._fetched_at, self._last_failed = {}, None, False
        verified.clear()


class VerifiedTokens:
    """Tokens that passed verification, until their ``exp`` (FIFO-bounded)."""

    def __init__(self, max_entries: int = 4096, clock: Callable[[], float] = time.time):
        self._entries: dict[str, tuple[Identity, float, float, tuple]] = {}
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, token: str, config: tuple) -> Identity | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        identity, exp, nbf, checked_with = entry
        now = self._clock()
        if checked_with != config or now >= exp or now < nbf:
            self._entries.pop(token, None)
            return None
        return identity

    def put(self, token: str, identity: Identity, config: tuple) -> None:
        claims = identity.claims
        exp, nbf = float(claims["exp"]), float(claims.get("nbf") or 0)
        with self._lock:
            while len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[token] = (identity, exp, nbf, config)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


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
        email=claims.get("email", "") if isinstance(claims.get("email"), str) else "",
        groups=frozenset(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else frozenset(),
        seed_tenant_id=seed if isinstance(seed, str) else None,
        source="bearer",
        claims=claims,
    )
