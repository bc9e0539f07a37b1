"""API bearer authentication: real Cognito (moto) tokens pass; every forgery is a 401.

Forged tokens are signed with our own RSA key; "valid signature, wrong claim" tokens are signed
with the local emulator's own private key (shipped in moto), so only the claim under test is wrong.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from tenants.identity import jwks

from .factories import b64, claims_of, fresh, unsigned


def call_me(token: str | None = None, header: str | None = None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/me")


def assert_401(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] in ("invalid_token", "not_authenticated") and body["message"]


@pytest.fixture(autouse=True)
def _forget_keys_afterwards():
    yield
    jwks.clear()  # a test that pointed the cache elsewhere must not leak its keys


@pytest.fixture
def member(tenant_a):
    return tenant_a.admin


@pytest.fixture
def sign_as_moto(moto_signing_key):
    kid, key = moto_signing_key

    def _sign(claims: dict, **header) -> str:
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, **header})

    return _sign


def test_real_id_and_access_tokens_are_accepted(member):
    for token in (member.id_token, member.access_token):
        response = call_me(token)
        assert response.status_code == 200, response.content
        assert response.json()["user"]["id"] == member.sub


def test_emulator_key_with_correct_claims_is_accepted(member, sign_as_moto):
    """The control for every 'wrong claim' case below: same key, same claims, only one changed."""
    token = sign_as_moto(fresh(claims_of(member.id_token)))
    assert call_me(token).status_code == 200


def _forgeries(member, sign_as_moto, attacker_key, settings):
    id_claims = fresh(claims_of(member.id_token))
    access_claims = fresh(claims_of(member.access_token))
    now = int(time.time())
    public_pem = requests.get(settings.COGNITO_JWKS_URL, timeout=5).json()["keys"][0]
    public_pem = jwt.PyJWK(public_pem, algorithm="RS256").key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "dummy"}).encode())
    hs_payload = b64(json.dumps(id_claims).encode())
    hs_signature = hmac.new(public_pem, f"{hs_header}.{hs_payload}".encode(), hashlib.sha256).digest()
    other_pool = settings.COGNITO_ISSUER.rsplit("/", 1)[0] + "/us-east-1_SomeoneElse"
    return {
        "alg_none": unsigned({"alg": "none", "typ": "JWT", "kid": "dummy"}, id_claims),
        "alg_none_uppercase": unsigned({"alg": "None", "typ": "JWT", "kid": "dummy"}, id_claims),
        "hs256_signed_with_public_key": f"{hs_header}.{hs_payload}.{b64(hs_signature)}",
        "unknown_kid": jwt.encode(id_claims, attacker_key, algorithm="RS256", headers={"kid": "attacker"}),
        "known_kid_wrong_key": jwt.encode(id_claims, attacker_key, algorithm="RS256", headers={"kid": "dummy"}),
        "no_kid": jwt.encode(id_claims, attacker_key, algorithm="RS256"),
        "ps256_not_rs256": jwt.encode(id_claims, attacker_key, algorithm="PS256", headers={"kid": "dummy"}),
        "signature_stripped": member.id_token.rsplit(".", 1)[0] + ".",
        "payload_swapped": ".".join((member.id_token.split(".")[0], b64(json.dumps(
            {**claims_of(member.id_token), "sub": str(uuid.uuid4())}).encode()), member.id_token.split(".")[2])),
        "wrong_issuer": sign_as_moto({**id_claims, "iss": other_pool}),
        "issuer_missing": sign_as_moto(fresh(id_claims, iss=None)),
        "wrong_audience": sign_as_moto({**id_claims, "aud": "some-other-app-client"}),
        "audience_missing": sign_as_moto(fresh(id_claims, aud=None)),
        "wrong_client_id": sign_as_moto({**access_claims, "client_id": "some-other-app-client"}),
        "id_token_claiming_access_use": sign_as_moto({**id_claims, "token_use": "access"}),
        "access_token_claiming_id_use": sign_as_moto({**access_claims, "token_use": "id"}),
        "refresh_token_use": sign_as_moto({**id_claims, "token_use": "refresh"}),
        "token_use_missing": sign_as_moto(fresh(id_claims, token_use=None)),
        "expired": sign_as_moto({**id_claims, "iat": now - 7200, "exp": now - 10}),
        "exp_missing": sign_as_moto(fresh(id_claims, exp=None)),
        "nbf_in_future": sign_as_moto({**id_claims, "nbf": now + 600}),
        "sub_missing": sign_as_moto(fresh(id_claims, sub=None)),
        "sub_not_a_string": sign_as_moto({**id_claims, "sub": 12345}),
        "malformed_garbage": "not-a-jwt",
        "malformed_two_parts": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0",
        "malformed_bad_base64": "eyJhbGciOiJSUzI1NiJ9.%%%.***",
        "malformed_header_not_object": f"{b64(b'[1,2]')}.{b64(b'{}')}.",
    }


FORGERY_NAMES = [
    "alg_none", "alg_none_uppercase", "hs256_signed_with_public_key", "unknown_kid", "known_kid_wrong_key",
    "no_kid", "ps256_not_rs256", "signature_stripped", "payload_swapped", "wrong_issuer", "issuer_missing",
    "wrong_audience", "audience_missing", "wrong_client_id", "id_token_claiming_access_use",
    "access_token_claiming_id_use", "refresh_token_use", "token_use_missing", "expired", "exp_missing",
    "nbf_in_future", "sub_missing", "sub_not_a_string", "malformed_garbage", "malformed_two_parts",
    "malformed_bad_base64", "malformed_header_not_object",
]


@pytest.mark.parametrize("name", FORGERY_NAMES)
def test_forged_or_wrong_tokens_are_401(name, member, sign_as_moto, attacker_key, settings):
    token = _forgeries(member, sign_as_moto, attacker_key, settings)[name]
    assert_401(call_me(token))
    # ...and never reach a tenant-scoped endpoint either
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/tenants/current")
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"])
def test_missing_or_non_bearer_authorization_is_401(header, member):
    assert_401(call_me(header=header) if header else call_me())


def test_a_valid_token_in_a_second_header_does_not_rescue_a_bad_one(member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer not-a-token, Bearer {member.id_token}")
    assert client.get("/api/v1/me").status_code == 401


def test_warm_process_verifies_without_fetching_keys_again(member):
    jwks.clear()
    before = jwks.fetch_count
    for _ in range(5):
        assert call_me(member.id_token).status_code == 200
    assert jwks.fetch_count - before == 1


def test_unknown_kids_cannot_make_the_process_hammer_the_jwks_endpoint(member, attacker_key):
    jwks.clear()
    assert call_me(member.id_token).status_code == 200
    fetched = jwks.fetch_count
    for n in range(20):
        token = jwt.encode(fresh(claims_of(member.id_token)), attacker_key, algorithm="RS256",
                           headers={"kid": f"random-{n}"})
        assert call_me(token).status_code == 401
    assert jwks.fetch_count == fetched  # within COGNITO_JWKS_MIN_REFRESH_SECONDS: no refetch


class _JWKSServer:
    """A JWKS endpoint on 127.0.0.1 whose key set the test rotates (like a pool rotating keys)."""

    def __init__(self):
        self.keys: list[dict] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _public_jwk(key, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def test_rotated_key_is_picked_up_by_a_rate_limited_refresh_on_unknown_kid(member, settings):
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = fresh(claims_of(member.id_token))
    with _JWKSServer() as server:
        settings.COGNITO_JWKS_URL = server.url
        # Long enough that the two requests below fall inside it even on a loaded machine.
        settings.COGNITO_JWKS_MIN_REFRESH_SECONDS = 3
        jwks.clear()
        server.keys = [_public_jwk(old_key, "k-old")]
        old_token = jwt.encode(claims, old_key, algorithm="RS256", headers={"kid": "k-old"})
        new_token = jwt.encode(claims, new_key, algorithm="RS256", headers={"kid": "k-new"})
        assert call_me(old_token).status_code == 200
        assert server.hits == 1
        server.keys = [_public_jwk(old_key, "k-old"), _public_jwk(new_key, "k-new")]  # the pool rotates
        assert call_me(new_token).status_code == 401  # just fetched: the refresh is rate-limited
        assert server.hits == 1
        time.sleep(3.1)
        assert call_me(new_token).status_code == 200  # unknown kid -> one refresh -> accepted
        assert server.hits == 2
        for _ in range(5):
            assert call_me(new_token).status_code == 200
            assert call_me(old_token).status_code == 200
        assert server.hits == 2  # warm: no network per request


def test_a_token_seen_before_still_expires_on_time(member, sign_as_moto):
    """The clock moves, not the test: a minute-long token is remembered, then refused the second
    its ``exp`` has passed (time-machine moves ``time.time`` and ``datetime.now`` for PyJWT too)."""
    exp = int(time.time()) + 60
    token = sign_as_moto(fresh(claims_of(member.id_token), exp=exp))
    assert call_me(token).status_code == 200
    assert call_me(token).status_code == 200  # remembered
    with time_machine.travel(exp - 1, tick=False):
        assert call_me(token).status_code == 200  # one second left
    with time_machine.travel(exp, tick=False):
        assert_401(call_me(token))


def test_a_token_seen_before_is_rechecked_when_the_accepted_clients_change(member, settings):
    assert call_me(member.id_token).status_code == 200
    settings.COGNITO_APP_CLIENT_IDS = ["another-app-client"]
    assert_401(call_me(member.id_token))
