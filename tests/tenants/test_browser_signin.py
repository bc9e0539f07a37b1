"""Browser sign-in end to end: Django on a live server, the OIDC provider as a separate process
(devstack's OIDCProvider running PyPI oidc-provider-mock), a real HTTP client following redirects.

The person is seeded the way seed_demo does it: created in the local Cognito pool first (which
assigns the sub), then registered at the provider under that same sub. Browser and API must then
resolve to the same identity and the same active tenant.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from saas.tenancy import system_context
from saas.tenancy.store import transact_write
from tenants import demo, services

pytestmark = pytest.mark.slow


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    return session


def register_at_provider(provider, user, groups=()):
    demo.register_with_local_provider(provider_url=provider.endpoint, users=[demo.SeededUser(
        email=user.email, password="", name="Test Person", groups=list(groups), sub=user.sub)])


def sign_in(session: requests.Session, live_url: str, sub: str, *, next_path: str = "/") -> requests.Response:
    """Click "Sign in", type the sub at the provider's form, follow the redirects home."""
    login = session.get(f"{live_url}/login/?next={next_path}")
    assert login.status_code == 200 and 'id="signin"' in login.text
    href = re.search(r'id="signin" href="([^"]+)"', login.text).group(1).replace("&amp;", "&")
    to_provider = session.get(f"{live_url}{href}", allow_redirects=False)
    assert to_provider.status_code == 302
    authorize_url = to_provider.headers["Location"]
    form = session.get(authorize_url)
    assert form.status_code == 200 and 'name="sub"' in form.text
    # the provider's form posts back to the same URL (query string included)
    back = session.post(authorize_url, data={"sub": sub}, allow_redirects=False)
    assert back.status_code == 302
    assert urlsplit(back.headers["Location"]).path == "/oidc/callback/"
    return session.get(back.headers["Location"])  # callback -> code exchange -> our page


def csrf(session: requests.Session) -> str:
    return session.cookies["csrftoken"]


def test_browser_and_api_are_the_same_person_with_the_same_active_tenant(
        live_server, browser_settings, oidc_provider, tenant_a, tenant_b):
    person = tenant_a.admin
    with system_context(reason="test: second membership"):
        transact_write(services.membership_ops(tenant_id=tenant_b.id, user_id=person.sub, email=person.email,
                                               role="viewer"))
    register_at_provider(oidc_provider, person)
    browser = new_session()

    # signed out: the home page sends us to sign in
    home = browser.get(f"{live_server.url}/", allow_redirects=False)
    assert home.status_code == 302 and home.headers["Location"].startswith("/login/")
    assert browser.get(f"{live_server.url}/api/v1/me").status_code == 401

    page = sign_in(browser, live_server.url, person.sub)
    assert page.status_code == 200 and urlsplit(page.url).path == "/"
    assert person.email in page.text and person.sub in page.text
    assert f'data-tenant-id="{tenant_a.id}"' in page.text

    # the session and the Cognito bearer token resolve to the same identity and tenant
    session_me = browser.get(f"{live_server.url}/api/v1/me").json()
    bearer_me = requests.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {person.id_token}"}).json()
    assert session_me["user"]["id"] == bearer_me["user"]["id"] == person.sub
    assert session_me["active_tenant"]["id"] == bearer_me["active_tenant"]["id"] == tenant_a.id

    # the tenant switcher (a form with the CSRF token)
    switched = browser.post(f"{live_server.url}/switch-tenant",
                            data={"tenant_id": tenant_b.id, "csrfmiddlewaretoken": csrf(browser)})
    assert switched.status_code == 200 and f'data-tenant-id="{tenant_b.id}"' in switched.text
    bearer_me = requests.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {person.id_token}"}).json()
    assert bearer_me["active_tenant"]["id"] == tenant_b.id

    # switching to someone else's tenant from the page does nothing
    browser.post(f"{live_server.url}/switch-tenant", data={"tenant_id": "t-00000000000000000000",
                                                           "csrfmiddlewaretoken": csrf(browser)})
    assert browser.get(f"{live_server.url}/api/v1/me").json()["active_tenant"]["id"] == tenant_b.id

    # session-authenticated API writes need the CSRF token
    url = f"{live_server.url}/api/v1/me/active-tenant"
    assert browser.put(url, json={"tenant_id": tenant_a.id}).status_code == 403
    ok = browser.put(url, json={"tenant_id": tenant_a.id}, headers={"X-CSRFToken": csrf(browser)})
    assert ok.status_code == 200 and ok.json()["active_tenant"]["id"] == tenant_a.id
    assert browser.get(f"{live_server.url}/api/v1/tenants/current").json()["id"] == tenant_a.id

    # sign out: our session ends, then the provider's end-session page sends us back to sign-in
    out = browser.post(f"{live_server.url}/oidc/logout/", data={"csrfmiddlewaretoken": csrf(browser)},
                       allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"].startswith(oidc_provider.end_session_endpoint)
    query = parse_qs(urlsplit(out.headers["Location"]).query)
    assert query["post_logout_redirect_uri"] == [f"{live_server.url}/login/"]
    assert browser.get(f"{live_server.url}/api/v1/me").status_code == 401
    confirm = browser.get(out.headers["Location"])
    assert confirm.status_code == 200
    redirect_uri = re.search(r'name="redirect_uri" value="([^"]+)"', confirm.text).group(1).replace("&amp;", "&")
    final = browser.post(f"{oidc_provider.endpoint}/oauth2/end_session/confirm", data={"redirect_uri": redirect_uri})
    assert final.status_code == 200 and urlsplit(final.url).path == "/login/" and 'id="signin"' in final.text
    home = browser.get(f"{live_server.url}/", allow_redirects=False)
    assert home.status_code == 302 and home.headers["Location"].startswith("/login/")


def test_a_provider_with_the_wrong_issuer_is_refused(live_server, browser_settings, oidc_provider, tenant_a):
    browser_settings.OIDC_OP_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_elsewhere"
    register_at_provider(oidc_provider, tenant_a.admin)
    page = sign_in(new_session(), live_server.url, tenant_a.admin.sub)
    assert urlsplit(page.url).path == "/login/" and 'id="signin-failed"' in page.text


def test_an_id_token_minted_for_another_client_is_refused(browser_settings, oidc_provider, tenant_a):
    """mozilla-django-oidc does not check aud; our backend does. A genuine ID token from the same
    provider, issued to another (self-registered) client, must not sign anyone in here."""
    from django.core.exceptions import SuspiciousOperation

    from tenants.backends import CognitoOIDCBackend

    http = new_session()
    other = http.post(f"{oidc_provider.endpoint}/oauth2/clients", json={
        "redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "client_secret_post"}).json()
    register_at_provider(oidc_provider, tenant_a.admin)
    params = {"client_id": other["client_id"], "response_type": "code", "redirect_uri": "http://127.0.0.1:9/cb",
              "scope": "openid email", "state": "s-1", "nonce": "n-1"}
    code_redirect = http.post(oidc_provider.authorization_endpoint, params=params, data={"sub": tenant_a.admin.sub},
                              allow_redirects=False)
    code = parse_qs(urlsplit(code_redirect.headers["Location"]).query)["code"][0]
    id_token = http.post(oidc_provider.token_endpoint, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"],
        "client_id": other["client_id"], "client_secret": other["client_secret"]}).json()["id_token"]

    with pytest.raises(SuspiciousOperation, match="audience"):
        CognitoOIDCBackend().verify_token(id_token, nonce="n-1")
    browser_settings.OIDC_RP_CLIENT_ID = other["client_id"]  # control: for its own client it verifies
    assert CognitoOIDCBackend().verify_token(id_token, nonce="n-1")["sub"] == tenant_a.admin.sub


def test_a_callback_with_a_forged_state_signs_nobody_in(live_server, browser_settings, oidc_provider, tenant_a):
    browser = new_session()
    browser.get(f"{live_server.url}/oidc/authenticate/", allow_redirects=False)  # a real state in the session
    response = browser.get(f"{live_server.url}/oidc/callback/?code=stolen&state=forged")
    assert response.status_code == 400
    assert browser.get(f"{live_server.url}/api/v1/me").status_code == 401


def test_seeded_demo_user_signs_in_through_the_browser_as_their_cognito_self(
        live_server, browser_settings, oidc_provider):
    result = demo.seed_demo(provider_url=oidc_provider.endpoint, app_data=False)
    assert result.provider_registered
    alice = next(u for u in result.users if u.email == "alice@demo.test")
    acme = next(t for t in result.tenants if t["name"] == "Acme Outfitters")
    page = sign_in(new_session(), live_server.url, alice.sub)
    assert "alice@demo.test" in page.text and f'data-tenant-id="{acme["id"]}"' in page.text
    from tenants import cognito

    token = cognito.sign_in("alice@demo.test", alice.password)["IdToken"]
    me = requests.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["user"]["id"] == alice.sub and me["active_tenant"]["id"] == acme["id"]
