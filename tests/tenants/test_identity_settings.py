"""Where browser sign-in points: the Cognito hosted UI in AWS, the local provider process locally.
(Settings are evaluated in a fresh interpreter with each stage's environment; nothing is contacted.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT",
         "OIDC_OP_LOGOUT_URL", "OIDC_OP_ISSUER", "OIDC_LOCAL_PROVIDER_URL", "AUTHENTICATION_BACKENDS",
         "COGNITO_ISSUER", "COGNITO_JWKS_URL")


def settings_with(env: dict) -> dict:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("OIDC_", "COGNITO_", "SAAS_", "DJANGO_"))}
    code = f"import json, saas.settings as s; print(json.dumps({{n: getattr(s, n) for n in {NAMES!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_production_points_at_the_cognito_hosted_ui():
    s = settings_with({"DJANGO_SECRET_KEY": "x" * 50, "AWS_REGION": "eu-west-1",
                       "COGNITO_USER_POOL_ID": "eu-west-1_AbCdEf", "COGNITO_APP_CLIENT_IDS": "api,web",
                       "COGNITO_DOMAIN": "https://auth.example.com/", "OIDC_RP_CLIENT_ID": "web"})
    assert s["OIDC_OP_AUTHORIZATION_ENDPOINT"] == "https://auth.example.com/oauth2/authorize"
    assert s["OIDC_OP_TOKEN_ENDPOINT"] == "https://auth.example.com/oauth2/token"
    assert s["OIDC_OP_USER_ENDPOINT"] == "https://auth.example.com/oauth2/userInfo"
    assert s["OIDC_OP_LOGOUT_URL"] == "https://auth.example.com/logout"
    assert s["OIDC_OP_ISSUER"] == s["COGNITO_ISSUER"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf"
    assert s["OIDC_OP_JWKS_ENDPOINT"] == s["COGNITO_JWKS_URL"] == f"{s['COGNITO_ISSUER']}/.well-known/jwks.json"
    assert s["OIDC_LOCAL_PROVIDER_URL"] == ""
    assert s["AUTHENTICATION_BACKENDS"] == ["tenants.backends.CognitoOIDCBackend"]


def test_local_stack_points_at_the_local_provider_process():
    provider = "http://127.0.0.1:8002"
    s = settings_with({"SAAS_LOCAL_STACK": "1", "COGNITO_USER_POOL_ID": "us-east-1_local",
                       "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{provider}/oauth2/authorize",
                       "OIDC_OP_TOKEN_ENDPOINT": f"{provider}/oauth2/token",
                       "OIDC_OP_JWKS_ENDPOINT": f"{provider}/jwks"})
    assert s["OIDC_OP_ISSUER"] == s["OIDC_LOCAL_PROVIDER_URL"] == provider
    assert s["OIDC_OP_JWKS_ENDPOINT"] == f"{provider}/jwks"
