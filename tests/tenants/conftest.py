"""Fixtures for identity and tenancy: platform admins, token forging, the browser OIDC provider."""
from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

# A Redis and a real worker for the modules that ask (onboarding's silo provisioning jobs).


@pytest.fixture
def platform_admin(make_user):
    """A member of the system_admin Cognito group (no tenant)."""
    return make_user(groups=("system_admin",))


# --- forging tokens ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_signing_key():
    """The private key the local Cognito emulator signs with (shipped inside the moto package)."""
    import moto

    path = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    with gzip.open(path, "rt") as f:
        jwk = json.load(f)
    return jwk["kid"], jwt.PyJWK(jwk, algorithm="RS256").key


@pytest.fixture(scope="session")
def attacker_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)))


def fresh(claims: dict, **changes) -> dict:
    now = int(time.time())
    out = {**claims, "iat": now, "auth_time": now, "exp": now + 600}
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# --- the browser sign-in provider (a real process on 127.0.0.1) ----------------------------------------
@pytest.fixture(scope="session")
def oidc_provider():
    """oidc-provider-mock (PyPI) run by devstack's OIDCProvider on a free loopback port; stopped by PID."""
    from devstack import OIDCProvider

    provider = OIDCProvider(client_id="saas-test-web", client_secret="saas-test-secret", startup_timeout=30)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def browser_settings(settings, oidc_provider):
    """Point mozilla-django-oidc (and seed_demo) at the test's provider process."""
    for name, value in oidc_provider.env().items():
        setattr(settings, name, value)
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_LOCAL_PROVIDER_URL = oidc_provider.endpoint
    return settings
