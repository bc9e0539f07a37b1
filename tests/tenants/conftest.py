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
