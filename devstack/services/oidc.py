"""The browser sign-in OIDC provider (``devstack.oidc_server``) on 127.0.0.1."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping

from .base import Service
from .common import (
    DEFAULT_OIDC_CLIENT_ID,
    DEFAULT_OIDC_CLIENT_SECRET,
    LOOPBACK,
    REPO_ROOT,
    http_get,
)


class OIDCProvider(Service):
    """A browser sign-in provider: PyPI ``oidc-provider-mock`` run by ``devstack/oidc_server.py``.

    What it accepts (oidc-provider-mock 0.3.4, as configured by devstack/oidc_server.py):

    * The client ``client_id`` / ``client_secret`` given here is pre-registered; the secret is
      checked at the token endpoint (``client_secret_post`` or ``client_secret_basic``). Other
      client ids are rejected (clients may still self-register: POST /oauth2/clients, RFC 7591).
    * ``redirect_uris=None`` (the default) accepts any redirect URI for that client, so a Django
      live server on a random port works; pass a list to restrict them.
    * There is no password: the authorize page is a form where the person types the user's ``sub``.
      An unknown ``sub`` becomes a user whose only claim is ``email = sub``. Give a user more claims
      (e.g. a tenant) beforehand with ``PUT /users/<sub>`` and a JSON object body (204), or with
      ``users={sub: claims}`` here. ``POST /users/<sub>/revoke-tokens`` revokes its tokens.
    * ``cognito_endpoint`` (the moto server; ``LocalStack`` sets it): a person who exists in a user
      pool there gets ``email``, ``email_verified``, ``cognito:username`` and ``cognito:groups`` from
      the pool record with her ``sub`` at each sign-in, as Cognito's hosted UI issues them (so a
      self-service email change arrives unverified, as in AWS). Claims PUT for her do not override them.
    * Tokens: RS256 ID token (header carries ``kid``, ``aud`` is a list ``[client_id]``, ``iss`` is
      ``http://127.0.0.1:<port>``, standard claims filtered by scope, custom claims always included),
      an opaque access token for /userinfo, a refresh token. The signing key is new on each start.

    Completing the authorization-code flow from a test with ``requests`` (no browser)::

        import requests
        from urllib.parse import parse_qs, urlparse

        params = {"client_id": env["OIDC_RP_CLIENT_ID"], "response_type": "code",
                  "redirect_uri": "http://127.0.0.1:8000/oidc/callback/",
                  "scope": "openid email profile", "state": "xyz", "nonce": "n-1"}
        requests.put(f"{provider}/users/alice", json={"email": "alice@example.com", "tenant_id": "t1"})
        # The form posts back to the same URL, query string included: send `sub` as form data.
        r = requests.post(env["OIDC_OP_AUTHORIZATION_ENDPOINT"], params=params,
                          data={"sub": "alice"}, allow_redirects=False)
        assert r.status_code == 302           # Location: <redirect_uri>?code=...&state=xyz
        code = parse_qs(urlparse(r.headers["Location"]).query)["code"][0]
        # (form field action=deny instead of sub -> redirect with error=access_denied)
        tokens = requests.post(env["OIDC_OP_TOKEN_ENDPOINT"], data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"],
            "client_id": env["OIDC_RP_CLIENT_ID"], "client_secret": env["OIDC_RP_CLIENT_SECRET"],
        }).json()                              # access_token, id_token, refresh_token, expires_in, ...

    Through Django (mozilla-django-oidc) it is the same: GET the app's authentication-init URL
    (``oidc_authentication_init``; it answers 302 to the provider with state and nonce), POST
    ``sub`` to that Location with ``requests``, then GET the returned callback Location
    (``oidc_authentication_callback``) with the same Django client/session.

    Readiness: GET /.well-known/openid-configuration -> 200.
    """

    name = "oidc"
    startup_timeout = 30.0

    def __init__(
        self,
        port: int | None = None,
        *,
        client_id: str = DEFAULT_OIDC_CLIENT_ID,
        client_secret: str = DEFAULT_OIDC_CLIENT_SECRET,
        redirect_uris: Iterable[str] | None = None,
        users: Mapping[str, Mapping[str, object]] | None = None,
        require_nonce: bool = False,
        token_max_age: int = 3600,
        cognito_endpoint: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(port, **kwargs)
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.users = {sub: dict(claims) for sub, claims in (users or {}).items()}
        self.require_nonce = require_nonce
        self.token_max_age = token_max_age
        self.cognito_endpoint = cognito_endpoint
        self.email_sender: str | None = None  # sign-up codes' sender (a verified SES identity on the moto server)

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "devstack.oidc_server", "--host", LOOPBACK, "--port", str(self.port),
            "--client-id", self.client_id, "--client-secret", self.client_secret,
            "--token-max-age", str(self.token_max_age),
        ]
        for uri in self.redirect_uris or ():
            cmd += ["--redirect-uri", uri]
        for sub, claims in self.users.items():
            cmd += ["--user-claims", json.dumps({**claims, "sub": sub})]
        if self.require_nonce:
            cmd.append("--require-nonce")
        if self.cognito_endpoint:
            cmd += ["--cognito-endpoint", self.cognito_endpoint]
        if self.email_sender:
            cmd += ["--email-sender", self.email_sender]
        return cmd

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONWARNINGS"] = "ignore"  # authlib deprecation noise at import time
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def probe(self) -> bool:
        status, body = http_get(f"{self.endpoint}/.well-known/openid-configuration", timeout=2)
        return status == 200 and "issuer" in json.loads(body)

    @property
    def issuer(self) -> str:
        return self.endpoint

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.endpoint}/oauth2/authorize"

    @property
    def signup_endpoint(self) -> str:
        """The hosted UI's sign-up page (Cognito: ``/signup``, same query as ``/oauth2/authorize``)."""
        return f"{self.endpoint}/signup"

    @property
    def token_endpoint(self) -> str:
        return f"{self.endpoint}/oauth2/token"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.endpoint}/userinfo"

    @property
    def jwks_endpoint(self) -> str:
        return f"{self.endpoint}/jwks"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.endpoint}/oauth2/end_session"

    def env(self) -> dict[str, str]:
        """Settings for mozilla-django-oidc (the relying party)."""
        return {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.authorization_endpoint,
            "OIDC_OP_SIGNUP_ENDPOINT": self.signup_endpoint,
            "OIDC_OP_TOKEN_ENDPOINT": self.token_endpoint,
            "OIDC_OP_USER_ENDPOINT": self.userinfo_endpoint,
            "OIDC_OP_JWKS_ENDPOINT": self.jwks_endpoint,
            "OIDC_OP_LOGOUT_URL": self.end_session_endpoint,
            "OIDC_OP_ISSUER": self.issuer,  # the provider derives iss from the Host header: 127.0.0.1:P
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
        }
