"""Nobody joins a tenant without consent. Before, any tenant admin could add any existing user by
email; the 201 revealed the user's sub and whether the email had an account; the first inviter's
tenant became the user's ``custom:tenant_id`` (a look-alike tenant could capture a victim's first
sign-in); and nobody could leave a tenant. Now: pending invitations the invitee accepts or declines,
one answer whatever the email, no Cognito attribute written, and "leave tenant"."""
from __future__ import annotations

from tenants import cognito

MEMBERS = "/api/v1/tenants/current/members"


def invite(admin, email, role="viewer"):
    return admin.client().post(MEMBERS, {"email": email, "role": role}, format="json")


def members_of(admin) -> dict:
    return {m["user_id"]: m["role"] for m in admin.client().get(MEMBERS).json()["results"]}


def test_an_invitation_adds_nobody_until_the_invitee_accepts(tenant_a, make_user):
    person = make_user()
    response = invite(tenant_a.admin, person.email.upper(), "manager")
    assert response.status_code == 202, response.content
    assert person.sub not in response.content.decode()
    assert person.sub not in members_of(tenant_a.admin)
    assert [m["tenant"]["id"] for m in person.client().get("/api/v1/me").json()["memberships"]] == []

    mine = person.client().get("/api/v1/me/invitations").json()["results"]
    assert [(i["tenant"]["id"], i["role"]) for i in mine] == [(tenant_a.id, "manager")]
    accepted = person.client().post(f"/api/v1/me/invitations/{mine[0]['id']}/accept")
    assert accepted.status_code == 200
    assert members_of(tenant_a.admin)[person.sub] == "manager"
    assert person.client().get("/api/v1/me/invitations").json()["results"] == []


def test_a_declined_invitation_leaves_no_membership(tenant_a, make_user):
    person = make_user()
    assert invite(tenant_a.admin, person.email).status_code == 202
    mine = person.client().get("/api/v1/me/invitations").json()["results"]
    assert person.client().post(f"/api/v1/me/invitations/{mine[0]['id']}/decline").status_code == 204
    assert person.sub not in members_of(tenant_a.admin)
    assert person.client().post(f"/api/v1/me/invitations/{mine[0]['id']}/accept").status_code == 404


def test_the_answer_does_not_disclose_whether_the_email_has_an_account(tenant_a, make_user):
    existing = make_user()
    with_account = invite(tenant_a.admin, existing.email)
    without_account = invite(tenant_a.admin, "nobody-has-this-address@example.test")
    assert with_account.status_code == without_account.status_code == 202
    assert set(with_account.json()) == set(without_account.json())
    assert "user_id" not in with_account.json()
    assert cognito.find_user("nobody-has-this-address@example.test") is None  # no account made for it


def test_the_inviter_never_sets_the_invitees_seed_tenant(tenant_a, make_user):
    person = make_user()
    assert invite(tenant_a.admin, person.email).status_code == 202
    assert "custom:tenant_id" not in cognito.find_user(person.email).attributes


def test_someone_elses_invitation_cannot_be_accepted(tenant_a, make_user):
    person, intruder = make_user(), make_user()
    assert invite(tenant_a.admin, person.email, "admin").status_code == 202
    invitation_id = person.client().get("/api/v1/me/invitations").json()["results"][0]["id"]
    assert intruder.client().post(f"/api/v1/me/invitations/{invitation_id}/accept").status_code == 404
    assert intruder.sub not in members_of(tenant_a.admin)


def test_a_member_can_leave_but_the_last_admin_cannot(tenant_a, make_user):
    viewer = tenant_a.add(make_user, "viewer")
    assert viewer.client().delete(f"/api/v1/me/memberships/{tenant_a.id}").status_code == 204
    assert viewer.sub not in members_of(tenant_a.admin)
    assert viewer.client().get("/api/v1/me").json()["memberships"] == []
    last_admin = tenant_a.admin.client().delete(f"/api/v1/me/memberships/{tenant_a.id}")
    assert last_admin.status_code == 409 and last_admin.json()["code"] == "last_admin"
    assert viewer.client().delete(f"/api/v1/me/memberships/{tenant_a.id}").status_code == 403
