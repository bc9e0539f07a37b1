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
* With ``--cognito-endpoint`` (the moto server), a person who exists in a Cognito user pool there
  gets the pool's facts in her ID token and userinfo, as Cognito's hosted UI would issue them:
  ``email``, ``email_verified``, ``cognito:username`` and ``cognito:groups`` are read from the pool
  record with that ``sub`` at every sign-in, whatever ``PUT /users/<sub>`` stored. So a self-service
  email change (Cognito: the new address is unverified until confirmed) shows up at the next browser
  sign-in exactly as it does in AWS. People unknown to the pool keep the claims stored for them.
* Also with ``--cognito-endpoint``: the hosted UI's **sign-up** (``/signup``, linked as "Create an
  account" from the sign-in form; it takes the authorize request's query string, as Cognito's
  ``/signup`` does). Email + password create the user in the pool with Cognito's own ``SignUp`` API
  (the pool's password policy applies), refused when the pool allows only administrators to create
  users (``AllowAdminCreateUserOnly``; moto does not check that, AWS does). The user is
  ``UNCONFIRMED`` with an unverified email until the code we email (through the moto server's SES,
  ``--email-sender``) is entered at ``/signup/confirm``: a wrong code changes nothing (AWS:
  ``CodeMismatchException``; moto's ``ConfirmSignUp`` accepts any code, so the code is checked
  here), the right one confirms the user and marks ``email_verified`` as AWS does for an
  auto-verified attribute. The person is then registered here under the pool's ``sub`` and signs
  in. An unconfirmed user cannot sign in (AWS: ``UserNotConfirmedException``).

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


def _is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pool_claims(cognito, sub: str) -> dict[str, object]:
    """The hosted UI's view of the pool user with this ``sub`` (any pool on the endpoint), or {}."""
    quoted = sub.replace("\\", "").replace('"', "")
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        users = cognito.list_users(UserPoolId=pool["Id"], Filter=f'sub = "{quoted}"', Limit=1)["Users"]
        if not users:
            continue
        user = users[0]
        attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
        groups = cognito.admin_list_groups_for_user(UserPoolId=pool["Id"], Username=user["Username"])["Groups"]
        claims: dict[str, object] = {
            "cognito:username": user["Username"],
            "email_verified": attributes.get("email_verified") == "true",  # a boolean in Cognito's ID tokens
            "cognito:groups": [g["GroupName"] for g in groups],
        }
        if "email" in attributes:
            claims["email"] = attributes["email"]
        claims.update({k: v for k, v in attributes.items() if k.startswith("custom:")})
        return claims
    return {}


def _read_claims_from_pool(endpoint: str, region: str) -> None:
    """Make the provider's claims for a pool user come from the pool (see the module docstring)."""
    import boto3
    from oidc_provider_mock import _app
    from oidc_provider_mock._storage import User

    cognito = boto3.client("cognito-idp", endpoint_url=endpoint, region_name=region,
                           aws_access_key_id="local", aws_secret_access_key="local")
    original = getattr(_app._user_claims_for_scope, "_devstack_original", _app._user_claims_for_scope)

    def claims_for_scope(user, scope: str) -> dict[str, object]:
        from_pool = _pool_claims(cognito, user.sub)
        if not from_pool:
            return original(user, scope)
        stored = {k: v for k, v in user.claims.items() if k not in ("email", "email_verified", "cognito:groups")}
        return original(User(sub=user.sub, claims={**stored, **from_pool}), scope)

    claims_for_scope._devstack_original = original  # type: ignore[attr-defined]  # marks the patch
    _app._user_claims_for_scope = claims_for_scope


SIGNUP_POOL_NAME = "saas-local"  # devstack.services.cognito.provision_cognito's pool
CODE_LIFETIME_SECONDS = 24 * 3600  # Cognito's confirmation codes are valid for 24 hours
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc_templates")


def password_rules(policy: dict) -> str:
    """Cognito's password policy in words, for the sign-up form."""
    needs = [name for key, name in (("RequireLowercase", "a lowercase letter"), ("RequireUppercase", "an uppercase letter"),
                                    ("RequireNumbers", "a number"), ("RequireSymbols", "a symbol")) if policy.get(key)]
    rules = f"At least {policy.get('MinimumLength', 8)} characters"
    listed = ", ".join(needs[:-1]) + (" and " if len(needs) > 1 else "") + needs[-1] if needs else ""
    return rules + (f", with {listed}." if needs else ".")


def _signup_blueprint(*, cognito_endpoint: str, region: str, sender: str,  # noqa: C901 - four small routes
                      pool_name: str = SIGNUP_POOL_NAME):
    """``/signup`` and ``/signup/confirm`` (see the module docstring)."""
    import secrets
    import threading
    import time
    from email.message import EmailMessage

    import boto3
    import flask
    from botocore.exceptions import ClientError
    from oidc_provider_mock._storage import User

    def client(service: str):
        return boto3.client(service, endpoint_url=cognito_endpoint, region_name=region,
                            aws_access_key_id="local", aws_secret_access_key="local")

    cognito = client("cognito-idp")
    codes: dict[str, tuple[str, float]] = {}  # username -> (code, expires at): Cognito keeps these itself
    lock = threading.Lock()
    bp = flask.Blueprint("devstack_signup", __name__, template_folder=TEMPLATES)

    def find_pool() -> dict | None:
        for found in cognito.list_user_pools(MaxResults=60)["UserPools"]:
            if found["Name"] == pool_name:
                return cognito.describe_user_pool(UserPoolId=found["Id"])["UserPool"]
        return None

    def pool() -> dict:
        return find_pool() or flask.abort(503, f"no Cognito user pool named {pool_name} yet")

    def query() -> str:
        return flask.request.query_string.decode()

    def signup_page(error: str = "", email: str = "", status: int = 200):
        rules = password_rules(pool().get("Policies", {}).get("PasswordPolicy", {}))
        return flask.render_template("signup.html", error=error, email=email, query=query(),
                                     password_rules=rules), status

    def confirm_page(error: str = "", email: str = "", status: int = 200):
        return flask.render_template("confirm.html", error=error, email=email, query=query()), status

    def send_code(email: str, code: str) -> None:
        message = EmailMessage()
        message["From"], message["To"] = sender, email
        message["Subject"] = "Your verification code"
        message.set_content(f"Your confirmation code is {code}\n\nEnter it on the sign-up page to confirm {email}.\n")
        client("ses").send_raw_email(Source=sender, Destinations=[email], RawMessage={"Data": message.as_bytes()})

    @bp.get("/signup")
    def signup_form():
        return signup_page()

    @bp.post("/signup")
    def signup():
        email = flask.request.form.get("email", "").strip().lower()
        password = flask.request.form.get("password", "")
        if "@" not in email or not password:
            return signup_page("Enter an email address and a password.", email, 400)
        found = pool()
        if found.get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly"):
            return signup_page("SignUp is not permitted for this user pool.", email, 403)
        client_id = cognito.list_user_pool_clients(UserPoolId=found["Id"], MaxResults=1)["UserPoolClients"][0]["ClientId"]
        try:
            cognito.sign_up(ClientId=client_id, Username=email, Password=password,
                            UserAttributes=[{"Name": "email", "Value": email}])
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            message = {"UsernameExistsException": "An account with this email already exists: sign in instead.",
                       "InvalidPasswordException": "The password does not meet the rules below."}.get(
                           code, exc.response["Error"].get("Message", code))
            return signup_page(message, email, 400)
        code = f"{secrets.randbelow(10**6):06d}"
        with lock:
            codes[email] = (code, time.time() + CODE_LIFETIME_SECONDS)
        send_code(email, code)
        return confirm_page(email=email)

    @bp.get("/signup/confirm")
    def confirm_form():
        return confirm_page(email=flask.request.args.get("email", ""))

    @bp.post("/signup/confirm")
    def confirm():
        email = flask.request.form.get("email", "").strip().lower()
        entered = flask.request.form.get("code", "").strip()
        with lock:
            expected = codes.get(email)
            if expected is None or expected[1] < time.time():
                return confirm_page("There is no code waiting for this address: sign up again.", email, 400)
            if not secrets.compare_digest(entered, expected[0]):
                return confirm_page("Invalid verification code provided, please try again.", email, 400)
            del codes[email]
        found = pool()
        client_id = cognito.list_user_pool_clients(UserPoolId=found["Id"], MaxResults=1)["UserPoolClients"][0]["ClientId"]
        cognito.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=entered)
        cognito.admin_update_user_attributes(UserPoolId=found["Id"], Username=email, UserAttributes=[
            {"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
        user = cognito.admin_get_user(UserPoolId=found["Id"], Username=email)
        sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
        flask.g.oidc_provider_mock_storage.store_user(User(sub=sub, claims={"email": email}))
        return flask.render_template("confirmed.html", email=email, sub=sub, query=query())

    @bp.before_app_request
    def refuse_unconfirmed():
        request = flask.request
        if request.method != "POST" or request.path != "/oauth2/authorize" or not request.form.get("sub"):
            return None
        quoted = request.form["sub"].replace("\\", "").replace('"', "")
        found = find_pool()
        if found is None:
            return None
        users = cognito.list_users(UserPoolId=found["Id"], Filter=f'sub = "{quoted}"', Limit=1)["Users"]
        if users and users[0]["UserStatus"] == "UNCONFIRMED":
            email = next((a["Value"] for a in users[0]["Attributes"] if a["Name"] == "email"), "")
            return confirm_page("This account is not confirmed yet: enter the code we emailed.", email, 400)
        return None

    return bp


def build_app(
    *,
    client_id: str,
    client_secret: str,
    redirect_uris: list[str] | None = None,
    users: list[dict[str, object]] | None = None,
    require_nonce: bool = False,
    token_max_age: int = 3600,
    cognito_endpoint: str | None = None,
    cognito_region: str = "us-east-1",
    email_sender: str = "no-reply@saas-commerce.example",
):
    """The Flask app: oidc-provider-mock with the client pre-registered and ``kid`` in ID tokens
    (and, given ``cognito_endpoint``, pool users' claims read from the pool)."""
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    warnings.filterwarnings("ignore", module="authlib")
    warnings.filterwarnings("ignore", message=".*authlib.*", category=DeprecationWarning)

    import flask
    import oidc_provider_mock
    from oidc_provider_mock import _app
    from oidc_provider_mock._storage import Client, ClientAllowAny, User

    _patch_kid_header()
    if cognito_endpoint:
        _read_claims_from_pool(cognito_endpoint, cognito_region)
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

    import jinja2

    # Our templates first: the sign-in form with "Create an account", and the sign-up pages.
    app.jinja_loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES), app.jinja_loader])
    app.jinja_env.globals["signup_enabled"] = bool(cognito_endpoint)
    if cognito_endpoint:
        app.register_blueprint(_signup_blueprint(cognito_endpoint=cognito_endpoint, region=cognito_region,
                                                 sender=email_sender))

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
    parser.add_argument("--cognito-endpoint", help="the moto server whose user pools are the truth about people")
    parser.add_argument("--cognito-region", default="us-east-1")
    parser.add_argument("--email-sender", default="no-reply@saas-commerce.example",
                        help="verified SES identity the sign-up codes are sent from (the moto server's SES)")
    args = parser.parse_args(argv)

    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("--host must be a loopback address")
    if args.cognito_endpoint and not _is_loopback_url(args.cognito_endpoint):
        parser.error("--cognito-endpoint must be a loopback URL")
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
        cognito_endpoint=args.cognito_endpoint,
        cognito_region=args.cognito_region,
        email_sender=args.email_sender,
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
