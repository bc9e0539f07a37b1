"""Identity: Cognito (tokens, JWKS, groups) and browser sign-in (mozilla-django-oidc)."""
from __future__ import annotations

from saas.settings.aws import AWS_REGION
from saas.settings.base import LOCAL_STACK
from saas.settings.environment import env, env_bool, env_list

COGNITO_USER_POOL_ID = env("COGNITO_USER_POOL_ID")
COGNITO_APP_CLIENT_IDS = env_list("COGNITO_APP_CLIENT_IDS")
COGNITO_ISSUER = env(
    "COGNITO_ISSUER",
    f"https://cognito-idp.{AWS_REGION}.amazonaws.com/{COGNITO_USER_POOL_ID}" if COGNITO_USER_POOL_ID else "",
)
# The JWKS URL differs from the issuer only locally (the emulator serves it on its own endpoint).
COGNITO_JWKS_URL = env("COGNITO_JWKS_URL", f"{COGNITO_ISSUER}/.well-known/jwks.json" if COGNITO_ISSUER else "")
COGNITO_JWKS_MIN_REFRESH_SECONDS = float(env("COGNITO_JWKS_MIN_REFRESH_SECONDS", "60"))
COGNITO_JWKS_RETRY_SECONDS = float(env("COGNITO_JWKS_RETRY_SECONDS", "5"))  # after a failed JWKS fetch
# How long the key set is trusted before it is fetched again (an unknown kid refreshes it sooner).
COGNITO_JWKS_LIFESPAN_SECONDS = float(env("COGNITO_JWKS_LIFESPAN_SECONDS", "86400"))
COGNITO_SYSTEM_ADMIN_GROUP = env("COGNITO_SYSTEM_ADMIN_GROUP", "system_admin")
# Pending invitations (tenants.services.invitations) expire after this.
INVITATION_TTL_SECONDS = int(env("INVITATION_TTL_SECONDS", str(7 * 24 * 3600)))
MEMBERSHIP_CACHE_TTL_SECONDS = float(env("MEMBERSHIP_CACHE_TTL_SECONDS", "30"))

# Browser sign-in (mozilla-django-oidc): the Cognito hosted UI in AWS, a local provider locally.
# In AWS set COGNITO_DOMAIN (the hosted UI, e.g. https://<prefix>.auth.<region>.amazoncognito.com) and
# the web app client's OIDC_RP_CLIENT_ID / OIDC_RP_CLIENT_SECRET; the endpoints follow from it.
# Locally devstack sets the OIDC_OP_* endpoints of its provider process; its issuer is its origin.
COGNITO_DOMAIN = env("COGNITO_DOMAIN").rstrip("/")
_hosted_ui = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{COGNITO_DOMAIN}/oauth2/authorize",
    "OIDC_OP_SIGNUP_ENDPOINT": f"{COGNITO_DOMAIN}/signup",  # the hosted UI's sign-up (self sign-up on)
    "OIDC_OP_TOKEN_ENDPOINT": f"{COGNITO_DOMAIN}/oauth2/token",
    "OIDC_OP_USER_ENDPOINT": f"{COGNITO_DOMAIN}/oauth2/userInfo",
    "OIDC_OP_JWKS_ENDPOINT": COGNITO_JWKS_URL,
    "OIDC_OP_LOGOUT_URL": f"{COGNITO_DOMAIN}/logout",
} if COGNITO_DOMAIN else {}
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", _hosted_ui.get("OIDC_OP_AUTHORIZATION_ENDPOINT", ""))
OIDC_OP_SIGNUP_ENDPOINT = env("OIDC_OP_SIGNUP_ENDPOINT", _hosted_ui.get("OIDC_OP_SIGNUP_ENDPOINT", ""))
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", _hosted_ui.get("OIDC_OP_TOKEN_ENDPOINT", ""))
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", _hosted_ui.get("OIDC_OP_USER_ENDPOINT", ""))
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", _hosted_ui.get("OIDC_OP_JWKS_ENDPOINT", ""))
OIDC_OP_LOGOUT_URL = env("OIDC_OP_LOGOUT_URL", _hosted_ui.get("OIDC_OP_LOGOUT_URL", ""))
# The ID token's iss must equal this (tenants.backends checks it; mozilla-django-oidc does not).
OIDC_OP_ISSUER = env(
    "OIDC_OP_ISSUER",
    COGNITO_ISSUER if COGNITO_DOMAIN else "/".join(OIDC_OP_AUTHORIZATION_ENDPOINT.split("/")[:3]),
)
OIDC_RP_SCOPES = "openid email profile"
OIDC_STORE_ID_TOKEN = False  # the session keeps only sub/email/groups: a small signed cookie
OIDC_USE_NONCE = True
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", False)
OIDC_TIMEOUT = float(env("OIDC_TIMEOUT", "5"))
OIDC_OP_LOGOUT_URL_METHOD = "tenants.backends.provider_logout_url"
# The local provider lives in a separate process that does not know Cognito's users: seed_demo
# registers the demo users there under their Cognito subs (see tenants/demo.py).
OIDC_LOCAL_PROVIDER_URL = env("OIDC_LOCAL_PROVIDER_URL", OIDC_OP_ISSUER if LOCAL_STACK else "")
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/login/?error=1"
LOGOUT_REDIRECT_URL = "/login/"

# The browser backend returns a lightweight user from verified claims; no database user exists.
AUTHENTICATION_BACKENDS = ["tenants.backends.CognitoOIDCBackend"]
