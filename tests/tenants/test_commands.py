"""Management commands: seed_demo (idempotent), demo_token (from the emulator's InitiateAuth),
create_tenant, list_tenants."""
from __future__ import annotations

import io
import uuid

import jwt
import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants import demo


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def bearer(token: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_seed_demo_is_idempotent_and_prints_how_to_sign_in(browser_settings, oidc_provider):
    first = run("seed_demo", "--provider-url", oidc_provider.endpoint)
    second = run("seed_demo", "--provider-url", oidc_provider.endpoint)
    data = demo.load_demo_file()
    for user in data["users"]:
        assert user["email"] in first
    assert "How to sign in" in first and "demo_token" in first and oidc_provider.endpoint in first
    assert "Demo products: seeded for each demo tenant." in first  # products registered its demo seeder
    assert "(standard, exists)" in second and "(premium, exists)" in second

    def tenant_lines(text):
        return sorted(line.split()[0] for line in text.splitlines() if line.strip().startswith("t-"))

    assert tenant_lines(first) == tenant_lines(second) and len(tenant_lines(first)) == len(data["tenants"])

    bob = bearer(run("demo_token", "bob@demo.test").strip())
    me = bob.get("/api/v1/me").json()
    roles = {m["tenant"]["name"]: m["role"] for m in me["memberships"]}
    assert roles == {"Acme Outfitters": "manager", "Globex Supplies": "admin"}
    assert len(me["memberships"]) == 2  # no duplicates after two runs
    products = bob.get("/api/v1/products")  # the products hook ran for bob's active tenant
    assert products.status_code == 200 and products.json()["results"]
    olga = bearer(run("demo_token", "olga@demo.test").strip())
    assert olga.get("/api/v1/me").json()["user"]["system_admin"] is True
    assert olga.get("/api/v1/admin/tenants").status_code == 200


def test_demo_token_comes_from_the_emulator_not_from_a_key_we_hold():
    demo.seed_demo(provider_url="", app_data=False)
    id_token = run("demo_token", "alice@demo.test").strip()
    access_token = run("demo_token", "alice@demo.test", "--access").strip()
    keys = jwt.PyJWKSet.from_dict(requests.get(settings.COGNITO_JWKS_URL, timeout=5).json())
    header = jwt.get_unverified_header(id_token)
    claims = jwt.decode(id_token, keys[header["kid"]].key, algorithms=["RS256"],
                        audience=settings.COGNITO_APP_CLIENT_IDS[0], issuer=settings.COGNITO_ISSUER)
    assert claims["email"] == "alice@demo.test" and claims["token_use"] == "id"
    assert jwt.decode(access_token, options={"verify_signature": False})["token_use"] == "access"
    for token in (id_token, access_token):
        assert bearer(token).get("/api/v1/me").json()["user"]["id"] == claims["sub"]


def test_demo_token_for_an_unknown_user_fails_clearly():
    with pytest.raises(CommandError):
        run("demo_token", "nobody@demo.test")
    with pytest.raises(CommandError):
        run("demo_token", f"ghost-{uuid.uuid4().hex[:8]}@example.test", "--password", "Whatever-1!")


def test_create_tenant_with_its_first_admin_then_list_it():
    email = f"founder-{uuid.uuid4().hex[:8]}@example.test"
    line = run("create_tenant", "--name", "Founders Co", "--tier", "premium", "--admin-email", email,
               "--password", "Founder-Passw0rd!")
    tenant_id = line.split("\t")[0]
    assert "\tFounders Co\tpremium\tactive\t" in line
    token = run("demo_token", email, "--password", "Founder-Passw0rd!").strip()
    me = bearer(token).get("/api/v1/me").json()
    assert me["active_tenant"]["id"] == tenant_id and me["active_tenant"]["roles"] == ["admin"]
    listing = run("list_tenants", "--page-size", "50")
    assert any(row.startswith(f"{tenant_id}\tFounders Co\tpremium\tactive\tpooled") for row in listing.splitlines())
    with pytest.raises(CommandError):
        run("create_tenant", "--name", "x", "--tier", "gold", "--admin-email", email)
