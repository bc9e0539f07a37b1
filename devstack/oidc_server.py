"""Run oidc-provider-mock (PyPI, 0.3.4) as a server on 127.0.0.1 with one pre-registered client.

    python -m devstack.oidc_server --port 8002 --client-id saas-local-web --client-secret s3cret \
        [--redirect-uri URI ...] [--user-claims '{"sub": "alice", "email": "a@x", "tenant_id": "t1"}' ...]

Differences from the package's own CLI (``python -m oidc_provider_mock``), which would also work:

* The given client id/secret is registered up front and client registration is required, so the
  token endpoint really checks the secret and unknown client ids are refused. Without
  ``--redirect-uri`` any redirect URI is accepted for that client (test servers use random ports).
  (The package's default accepts *any* client id and secret.)
* ID tokens carry ``kid`` in their JOSE header, matching the key in /jwks. The package leaves it
  out, and mozilla-django-oidc's JWKS lookup reads ``header["kid"]`` (KeyError without it).
* werkzeug's threaded server, bound to the given host, which must be a loopback address.

See ``devstack.services.OIDCProvider`` for the endpoints and how a test drives the authorize form.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
import warnings
from datetime import timedelta


def _patch_kid_header() -> None:
    from oidc_provider_mock import _app

    cls = _app.OpenIDCode
    if getattr(cls, "_devstack_kid_patched", False):
        return
    original = cls.get_encode_header

    def get_encode_header(self, client):
        header = dict(original(self, client))
        header.setdefault("kid", _app.storage.jwk.thumbprint())
        return header

    cls.get_encode_header = get_encode_header
    cls._devstack_kid_patched = True


def build_app(
    *,
    client_id: str,
    client_secret: str,
    redirect_uris: list[str] | None = None,
    users: list[dict[str, object]] | None = None,
    require_nonce: bool = False,
    token_max_age: int = 3600,
):
    """The Flask app: oidc-provider-mock with the client pre-registered and ``kid`` in ID tokens."""
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    warnings.filterwarnings("ignore", module="authlib")
    warnings.filterwarnings("ignore", message=".*authlib.*", category=DeprecationWarning)

    import flask
    import oidc_provider_mock
    from oidc_provider_mock import _app
    from oidc_provider_mock._storage import Client, ClientAllowAny, User

    _patch_kid_header()
    predefined = [
        User(sub=str(u["sub"]), claims={k: v for k, v in u.items() if k != "sub"}) for u in (users or [])
    ]
    app = oidc_provider_mock.app(
        require_client_registration=True,
        require_nonce=require_nonce,
        issue_refresh_token=True,
        access_token_max_age=timedelta(seconds=token_max_age),
        user_claims=predefined,
    )
    client = Client(
        id=client_id,
        secret=client_secret,
        redirect_uris=list(redirect_uris) if redirect_uris else ClientAllowAny(),
        allowed_scopes=Client.SCOPES_SUPPORTED,
        token_endpoint_auth_method=ClientAllowAny(),  # client_secret_post or client_secret_basic
    )

    # Runs after the package's own before_request (which binds its storage to flask.g).
    @app.before_request
    def _register_configured_client() -> None:
        storage = flask.g.oidc_provider_mock_storage
        if storage.get_client(client_id) is None:
            storage.store_client(client)

    assert _app.OpenIDCode._devstack_kid_patched
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", action="append", dest="redirect_uris", default=[])
    parser.add_argument("--user-claims", action="append", default=[], help="JSON object with a 'sub'")
    parser.add_argument("--require-nonce", action="store_true")
    parser.add_argument("--token-max-age", type=int, default=3600)
    args = parser.parse_args(argv)

    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("--host must be a loopback address")
    users = []
    for raw in args.user_claims:
        claims = json.loads(raw)
        if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
            parser.error(f"--user-claims needs a JSON object with a string 'sub': {raw}")
        users.append(claims)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = build_app(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=args.redirect_uris or None,
        users=users,
        require_nonce=args.require_nonce,
        token_max_age=args.token_max_age,
    )

    import werkzeug.serving

    server = werkzeug.serving.make_server(args.host, args.port, app, threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit cleanly (and promptly) on stop()
    print(f"oidc-provider-mock listening on http://{args.host}:{server.server_port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
