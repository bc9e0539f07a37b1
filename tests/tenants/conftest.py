"""Fixtures for identity and tenancy: platform admins, token forging, the browser OIDC provider."""
from __future__ import annotations

import gzip
import json
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
