"""Identity nobody can forge: an attacker changes her own email in the user pool to someone else's,
with her own access token (``UpdateUserAttributes``: the app client may write ``email``), then signs
in and tries to act as that person.

Cognito's rule, modelled by the local stack (``devstack.moto_server`` on the emulator, and the local
OIDC provider, which reads ``email_verified`` from the pool like the hosted UI): after a self-service
email change the new address is *unverified* (``email_verified = false``) until its owner confirms
the code sent to it. The product trusts an email only while it is verified, and looks people up in
the pool by the username from their verified token, never by email.

Attempts: accepting or declining someone else's invitation; platform powers by the operator's email;
audit records naming the borrowed email.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from rest_framework.test import APIClient

from tenants import demo
from tests.tenants.factories import claims_of

MEMBERS = "/api/v1/tenants/current/members"


def take_email(cognito, user, email: str) -> tuple[str, str]:
    """The attacker sets her email with her own access token, then signs in again: (id, access) tokens."""
    cognito.update_user_attributes(AccessToken=user.access_token, UserAttributes=[{"Name": "email", "Value": email}])
    auth = cognito.initiate_auth(ClientId=settings.COGNITO_APP_CLIENT_IDS[0], AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": user.email, "PASSWORD": user.password})
    return auth["AuthenticationResult"]["IdToken"], auth["AuthenticationResult"]["AccessToken"]


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def pool_attributes(cognito, username: str) -> dict:
    user = cognito.admin_get_user(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=username)
    return {a["Name"]: a["Value"] for a in user["UserAttributes"]}


# --- the local stack models AWS ----------------------------------------------------------------------
def test_a_self_service_email_change_leaves_the_address_unverified_as_in_cognito(cognito, make_user):
    """Cognito marks a changed email unverified (UpdateUserAttributes / AdminUpdateUserAttributes); an
    administrator may verify it in the same call. moto keeps ``email_verified`` as it was; the local
    stack's moto server models the AWS rule."""
    attacker, victim = make_user(), make_user()
    assert pool_attributes(cognito, attacker.email)["email_verified"] == "true"
    id_token, _ = take_email(cognito, attacker, victim.email)
    assert pool_attributes(cognito, attacker.email)["email_verified"] == "false", "moto kept email_verified"
    assert claims_of(id_token)["email"] == victim.email
    assert str(claims_of(id_token)["email_verified"]).lower() == "false"

    admin_changed = make_user()
    cognito.admin_update_user_attributes(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=admin_changed.email,
                                         UserAttributes=[{"Name": "email", "Value": "new-" + admin_changed.email},
                                                         {"Name": "email_verified", "Value": "true"}])
    assert pool_attributes(cognito, admin_changed.email)["email_verified"] == "true"


# --- someone else's invitation ------------------------------------------------------------------------
@pytest.mark.parametrize("token_kind", ["id", "access"])
def test_a_borrowed_email_neither_sees_nor_answers_the_owners_invitation(cognito, tenant_a, make_user, token_kind):
    """The admin invites the victim; the attacker takes the victim's address (unverified, per
    Cognito's rule) and tries to list, accept and decline the invitation with either token kind."""
    victim, attacker = make_user(), make_user()
    assert tenant_a.admin.client().post(MEMBERS, {"email": victim.email, "role": "admin"},
                                        format="json").status_code == 202
    invitation = victim.client().get("/api/v1/me/invitations").json()["results"][0]
    id_token, access_token = take_email(cognito, attacker, victim.email)
    client = bearer(id_token if token_kind == "id" else access_token)

    listed = client.get("/api/v1/me/invitations").json()["results"]
    assert listed == [], f"the attacker sees the victim's invitation: {listed}"
    accepted = client.post(f"/api/v1/me/invitations/{invitation['id']}/accept")
    assert accepted.status_code == 404, f"accept answered {accepted.status_code}: {accepted.content[:200]}"
    declined = client.post(f"/api/v1/me/invitations/{invitation['id']}/decline")
    assert declined.status_code == 404, f"decline answered {declined.status_code}"
    members = {m["user_id"] for m in tenant_a.admin.client().get(MEMBERS).json()["results"]}
    assert attacker.sub not in members

    # the owner of the address still has the invitation and can take it
    assert victim.client().post(f"/api/v1/me/invitations/{invitation['id']}/accept").status_code == 200


def test_an_owner_confirming_her_new_address_can_answer_again(cognito, tenant_a, make_user):
    """Once the pool says the (new) address is verified, invitations to it work: the rule is about
    verification, not about changes."""
    person = make_user()
    new_address = "moved-" + person.email
    assert tenant_a.admin.client().post(MEMBERS, {"email": new_address, "role": "viewer"},
                                        format="json").status_code == 202
    take_email(cognito, person, new_address)
    cognito.admin_update_user_attributes(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=person.email,
                                         UserAttributes=[{"Name": "email_verified", "Value": "true"}])
    _, access_token = take_email(cognito, person, new_address)  # same address: stays verified
    listed = bearer(access_token).get("/api/v1/me/invitations").json()["results"]
    assert [i["tenant"]["id"] for i in listed] == [tenant_a.id]


# --- platform powers through the operator's email -----------------------------------------------------
def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _browser_sign_in(session: requests.Session, live_url: str, sub: str) -> requests.Response:
    login = session.get(f"{live_url}/login/?next=/")
    href = re.search(r'id="signin" href="([^"]+)"', login.text).group(1).replace("&amp;", "&")
    authorize_url = session.get(f"{live_url}{href}", allow_redirects=False).headers["Location"]
    back = session.post(authorize_url, data={"sub": sub}, allow_redirects=False)
    assert back.status_code == 302 and urlsplit(back.headers["Location"]).path == "/oidc/callback/"
    return session.get(back.headers["Location"])


@pytest.mark.slow
def test_the_operators_email_gives_no_platform_powers(cognito, live_server, browser_settings, oidc_provider,
                                                      platform_admin, tenant_b, make_user):
    """A user with no tenant and no group takes the operator's address, signs in in the browser
    with her own account (the hosted UI issues her pool record: the new, unverified address) and opens
    the platform pages and the admin API, and tries to deactivate a tenant."""
    attacker = make_user()
    take_email(cognito, attacker, platform_admin.email)
    browser = _new_session()
    assert _browser_sign_in(browser, live_server.url, attacker.sub).status_code == 200

    platform = browser.get(f"{live_server.url}/platform/", allow_redirects=False)
    assert platform.status_code == 403, f"/platform/ answered {platform.status_code}"
    api = browser.get(f"{live_server.url}/api/v1/admin/tenants")
    assert api.status_code == 403, f"the admin API answered {api.status_code}"
    deactivate = browser.post(f"{live_server.url}/api/v1/admin/tenants/{tenant_b.id}/deactivate",
                              headers={"X-CSRFToken": browser.cookies.get("csrftoken", ""),
                                       "Referer": f"{live_server.url}/"})
    assert deactivate.status_code == 403, f"deactivate answered {deactivate.status_code}"
    assert tenant_b.admin.client().get("/api/v1/tenants/current").json()["status"] == "active"

    # the real operator, signed in the same way, keeps her powers (looked up by her own username)
    demo.register_with_local_provider(provider_url=oidc_provider.endpoint, users=[demo.SeededUser(
        email=platform_admin.email, password="", name="Operator", groups=[], sub=platform_admin.sub)])
    operator = _new_session()
    _browser_sign_in(operator, live_server.url, platform_admin.sub)
    assert operator.get(f"{live_server.url}/platform/", allow_redirects=False).status_code == 200


@pytest.mark.slow
def test_a_browser_session_with_a_borrowed_email_cannot_accept_the_owners_invitation(
        cognito, live_server, browser_settings, oidc_provider, tenant_a, make_user):
    """Someone else's invitation in the browser: the session keeps only a verified email."""
    victim, attacker = make_user(), make_user()
    tenant_a.admin.client().post(MEMBERS, {"email": victim.email, "role": "admin"}, format="json")
    invitation = victim.client().get("/api/v1/me/invitations").json()["results"][0]
    take_email(cognito, attacker, victim.email)
    browser = _new_session()
    home = _browser_sign_in(browser, live_server.url, attacker.sub)
    assert invitation["id"] not in home.text
    accepted = browser.post(f"{live_server.url}/api/v1/me/invitations/{invitation['id']}/accept",
                            headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{live_server.url}/"})
    assert accepted.status_code == 404, f"accept answered {accepted.status_code}"


# --- who did it ---------------------------------------------------------------------------------------
def test_audit_records_name_the_verified_identity_not_a_borrowed_email(cognito, tenant_a, make_user):
    """A tenant admin takes her co-admin's address and renames the tenant: the record, the
    members list and the export-visible trail must not name the co-admin."""
    co_admin = tenant_a.admin
    attacker = tenant_a.add(make_user, "admin")
    id_token, _ = take_email(cognito, attacker, co_admin.email)
    assert bearer(id_token).patch("/api/v1/tenants/current", {"name": "Renamed by someone"},
                                  format="json").status_code == 200
    records = co_admin.client().get("/api/v1/audit", {"action": "tenant.renamed"}).json()["results"]
    renamed = next(r for r in records if r["action"] == "tenant.renamed")
    assert renamed["actor_id"] == attacker.sub
    assert renamed["actor_email"] != co_admin.email, f"the record names {renamed['actor_email']}"
