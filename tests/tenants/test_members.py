"""Tenant admin: list, invite (pending invitations the person accepts), change roles, remove.
Nobody raises their own role; non-admins change no roles; the last admin stays."""
from __future__ import annotations

import threading

import pytest
from django.conf import settings as django_settings

from saas import aws
from tenants import cognito
from tests.factories import invite_and_accept

MEMBERS = "/api/v1/tenants/current/members"


def member_url(user_id: str) -> str:
    return f"{MEMBERS}/{user_id}"


def roles_of(client) -> dict[str, str]:
    results, cursor = [], None
    while True:
        page = client.get(MEMBERS, {"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
        results += page["results"]
        cursor = page["next_cursor"]
        if not cursor:
            return {m["user_id"]: m["role"] for m in results}


def test_admin_lists_members_a_page_at_a_time(tenant_a, make_user):
    viewer = tenant_a.add(make_user, "viewer")
    client = tenant_a.admin.client()
    first = client.get(MEMBERS, {"limit": 1})
    assert first.status_code == 200
    assert len(first.json()["results"]) == 1 and first.json()["next_cursor"]
    second = client.get(MEMBERS, {"limit": 1, "cursor": first.json()["next_cursor"]}).json()
    seen = {first.json()["results"][0]["user_id"], second["results"][0]["user_id"]}
    assert seen == {tenant_a.admin.sub, viewer.sub}
    assert set(first.json()["results"][0]) >= {"user_id", "email", "role", "created_at"}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "forged"}])
def test_bad_list_parameters_are_400(tenant_a, params):
    response = tenant_a.admin.client().get(MEMBERS, params)
    assert response.status_code == 400
    assert set(response.json()["fields"]) <= {"limit", "cursor"}


def test_an_accepted_invitation_makes_the_person_a_member_and_creates_no_account(tenant_a, make_user):
    person = make_user()
    response = tenant_a.admin.client().post(MEMBERS, {"email": person.email.upper(), "role": "manager"},
                                            format="json")
    assert response.status_code == 202, response.content
    assert response.json()["email"] == person.email and response.json()["role"] == "manager"
    assert person.sub not in roles_of(tenant_a.admin.client())
    assert invite_and_accept(tenant_a.admin, person, "manager").status_code == 200
    assert roles_of(tenant_a.admin.client())[person.sub] == "manager"
    me = person.client().get("/api/v1/me").json()
    assert me["active_tenant"]["id"] == tenant_a.id and me["active_tenant"]["roles"] == ["manager"]
    assert "custom:tenant_id" not in cognito.find_user(person.email).attributes
    assert tenant_a.admin.client().post(MEMBERS, {"email": f"new-{tenant_a.id}@example.test", "role": "viewer"},
                                        format="json").status_code == 202
    assert cognito.find_user(f"new-{tenant_a.id}@example.test") is None


def test_inviting_someone_who_already_has_an_account_adds_a_second_membership(tenant_a, tenant_b):
    assert invite_and_accept(tenant_a.admin, tenant_b.admin, "viewer").status_code == 200
    me = tenant_b.admin.client().get("/api/v1/me").json()
    assert {m["tenant"]["id"]: m["role"] for m in me["memberships"]} == {tenant_b.id: "admin", tenant_a.id: "viewer"}
    assert me["active_tenant"]["id"] == tenant_b.id  # unchanged until they switch
    # inviting a member again is refused at once (such an invitation could never be accepted)
    again = tenant_a.admin.client().post("/api/v1/tenants/current/members", {"email": tenant_b.admin.email.upper(),
                                                                             "role": "admin"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_member"
    assert again.json()["fields"] == {"email": ["Already a member of this tenant."]}
    assert tenant_b.admin.client().get("/api/v1/me/invitations").json()["results"] == []


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email", "role": "viewer"}, "email"),
    ({"email": "a@example.test", "role": "owner"}, "role"),
    ({"role": "viewer"}, "email"),
])
def test_bad_invites_are_400(tenant_a, body, field):
    response = tenant_a.admin.client().post(MEMBERS, body, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]


def test_admin_changes_a_role_and_the_member_sees_it_on_the_next_request(tenant_a, make_user):
    viewer = tenant_a.add(make_user, "viewer")
    assert viewer.client().get("/api/v1/me").json()["active_tenant"]["roles"] == ["viewer"]
    response = tenant_a.admin.client().patch(member_url(viewer.sub), {"role": "manager"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "manager"
    assert viewer.client().get("/api/v1/me").json()["active_tenant"]["roles"] == ["manager"]
    assert viewer.client().get("/api/v1/me").json()["memberships"][0]["role"] == "manager"


@pytest.mark.parametrize("role", ["manager", "member", "viewer"])
def test_non_admins_change_no_roles_not_even_their_own(tenant_a, make_user, role):
    actor = tenant_a.add(make_user, role)
    other = tenant_a.add(make_user, "viewer")
    client = actor.client()
    for target, new_role in ((actor.sub, "admin"), (other.sub, "member"), (tenant_a.admin.sub, "viewer")):
        response = client.patch(member_url(target), {"role": new_role}, format="json")
        assert response.status_code == 403, response.content
    assert client.delete(member_url(other.sub)).status_code == 403
    assert client.post(MEMBERS, {"email": "x@example.test", "role": "admin"}, format="json").status_code == 403
    roles = roles_of(tenant_a.admin.client())
    assert roles[actor.sub] == role and roles[other.sub] == "viewer" and roles[tenant_a.admin.sub] == "admin"


def test_nobody_raises_their_own_role_even_through_the_service(tenant_a, make_user):
    from saas.tenancy import tenant_context
    from tenants import services
    from tenants.errors import CannotRaiseOwnRole

    manager = tenant_a.add(make_user, "manager")
    # even with an (erroneously) admin-looking context, a person cannot raise their own role
    with tenant_context(tenant_a.id, user_id=manager.sub, roles={"admin"}):
        with pytest.raises(CannotRaiseOwnRole):
            services.change_member_role(user_id=manager.sub, role="admin")
    assert roles_of(tenant_a.admin.client())[manager.sub] == "manager"


def test_the_last_admin_cannot_be_demoted_or_removed(tenant_a):
    client = tenant_a.admin.client()
    demote = client.patch(member_url(tenant_a.admin.sub), {"role": "manager"}, format="json")
    assert demote.status_code == 409 and demote.json()["code"] == "last_admin"
    remove = client.delete(member_url(tenant_a.admin.sub))
    assert remove.status_code == 409 and remove.json()["code"] == "last_admin"
    assert roles_of(client) == {tenant_a.admin.sub: "admin"}


def test_with_two_admins_one_may_step_down_then_the_other_is_the_last(tenant_a, make_user):
    second = tenant_a.add(make_user, "admin")
    response = second.client().patch(member_url(second.sub), {"role": "member"}, format="json")  # demote self
    assert response.status_code == 200
    assert tenant_a.admin.client().delete(member_url(tenant_a.admin.sub)).json()["code"] == "last_admin"
    promoted = tenant_a.admin.client().patch(member_url(second.sub), {"role": "admin"}, format="json")
    assert promoted.status_code == 200
    assert tenant_a.admin.client().delete(member_url(tenant_a.admin.sub)).status_code == 204  # leaves
    assert roles_of(second.client()) == {second.sub: "admin"}


def stored_roles(tenant_id: str) -> dict[str, str]:
    from saas.tenancy import tenant_context
    from tenants.models import Member

    with tenant_context(tenant_id):
        return {m["id"]: m["role"] for m in Member.objects.query(limit=100).items}


def test_two_admins_demoting_each_other_at_once_never_leave_the_tenant_without_an_admin(tenant_a, make_user):
    for _ in range(3):
        second = tenant_a.add(make_user, "admin")
        barrier = threading.Barrier(2)
        results = {}

        def demote(name, client, target):
            barrier.wait()
            results[name] = client.patch(member_url(target), {"role": "viewer"}, format="json").status_code

        threads = [threading.Thread(target=demote, args=("a", tenant_a.admin.client(), second.sub)),
                   threading.Thread(target=demote, args=("b", second.client(), tenant_a.admin.sub))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        roles = stored_roles(tenant_a.id)
        assert "admin" in roles.values(), (results, roles)
        assert sorted(results.values()) != [200, 200] and set(results.values()) <= {200, 403, 409}, results
        # back to one admin (the fixture's) for the next round
        survivor = tenant_a.admin if roles[tenant_a.admin.sub] == "admin" else second
        if survivor is second:
            assert second.client().patch(member_url(tenant_a.admin.sub), {"role": "admin"},
                                         format="json").status_code == 200
        assert tenant_a.admin.client().delete(member_url(second.sub)).status_code == 204


def test_removed_member_is_refused_on_their_next_request(tenant_a, make_user):
    member = tenant_a.add(make_user, "member")
    assert member.client().get("/api/v1/tenants/current").status_code == 200
    assert tenant_a.admin.client().delete(member_url(member.sub)).status_code == 204
    response = member.client().get("/api/v1/tenants/current")
    assert response.status_code == 403 and response.json()["code"] == "no_active_tenant"
    assert member.sub not in roles_of(tenant_a.admin.client())
    assert member.client().get("/api/v1/me").json()["memberships"] == []


def test_removing_or_changing_someone_unknown_is_404(tenant_a):
    client = tenant_a.admin.client()
    for user_id in ("00000000-0000-0000-0000-000000000000", "x" * 300, "a%23b"):
        assert client.delete(member_url(user_id)).status_code == 404
        assert client.patch(member_url(user_id), {"role": "viewer"}, format="json").status_code == 404


def test_inviting_does_not_depend_on_the_identity_provider(tenant_a, settings):
    settings.AWS_ENDPOINT_URLS = {**django_settings.AWS_ENDPOINT_URLS, "cognito-idp": "http://127.0.0.1:9"}
    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    try:
        response = tenant_a.admin.client().post(MEMBERS, {"email": "down@example.test", "role": "viewer"}, format="json")
    finally:
        aws.reset_clients()
    assert response.status_code == 202
