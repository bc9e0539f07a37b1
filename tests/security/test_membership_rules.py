"""Membership rules an attacker tried to get around:

* removal is final: invitations a member wrote do not outlive his removal (a removed admin used an
  invitation he had written for himself to come back and demote the owner); and the invitation
  list pages (a backdoor hid behind 100 decoys);
* nobody joins a closed tenant: deactivated by the platform, or in its deletion grace period;
* one cap on the tenants a user creates, whatever tier she asks for.
"""
from __future__ import annotations

from django.conf import settings

MEMBERS = "/api/v1/tenants/current/members"
INVITATIONS = "/api/v1/tenants/current/invitations"


def invite(admin, email: str, role: str = "viewer"):
    response = admin.client().post(MEMBERS, {"email": email, "role": role}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def my_invitation(person, tenant_id: str) -> dict:
    return next(i for i in person.client().get("/api/v1/me/invitations").json()["results"]
                if i["tenant"]["id"] == tenant_id)


def roles_in(admin) -> dict:
    return {m["user_id"]: m["role"] for m in admin.client().get(MEMBERS).json()["results"]}


# --- removal is final ---------------------------------------------------------------------------------
def test_a_removed_admin_cannot_come_back_through_his_own_invitation(tenant_a, make_user):
    owner = tenant_a.admin
    insider = tenant_a.add(make_user, "admin")
    accomplice = make_user()
    # An invitation for himself, while still a member, is refused outright (he is already a member).
    for_himself = insider.client().post(MEMBERS, {"email": insider.email, "role": "admin"}, format="json")
    assert for_himself.status_code == 409 and for_himself.json()["code"] == "already_member"
    invite(insider, accomplice.email, "admin")  # a second address of his, or a friend's
    second = my_invitation(accomplice, tenant_a.id)

    assert owner.client().delete(f"{MEMBERS}/{insider.sub}").status_code == 204
    pending = [i["email"] for i in owner.client().get(INVITATIONS).json()["results"]]
    assert accomplice.email not in pending, f"still pending: {pending}"

    assert accomplice.client().post(f"/api/v1/me/invitations/{second['id']}/accept").status_code == 404
    assert insider.sub not in roles_in(owner) and accomplice.sub not in roles_in(owner)


def test_an_invitation_written_by_an_admin_who_was_demoted_is_void(tenant_a, make_user):
    """The inviter's authority is checked when the invitation is accepted, in the same transaction."""
    inviter = tenant_a.add(make_user, "admin")
    person = make_user()
    invite(inviter, person.email, "admin")
    invitation = my_invitation(person, tenant_a.id)
    assert tenant_a.admin.client().patch(f"{MEMBERS}/{inviter.sub}", {"role": "viewer"},
                                         format="json").status_code == 200
    assert person.client().post(f"/api/v1/me/invitations/{invitation['id']}/accept").status_code == 404
    assert person.sub not in roles_in(tenant_a.admin)


def test_the_invitation_list_pages_past_one_hundred(tenant_a, settings):
    settings.PLAN_LIMITS = {tier: {**limits, "members": None} for tier, limits in settings.PLAN_LIMITS.items()}
    emails = {f"decoy-{n:03d}@example.test" for n in range(104)}
    for email in sorted(emails):
        invite(tenant_a.admin, email)
    seen, cursor, pages = [], None, 0
    while True:
        body = tenant_a.admin.client().get(INVITATIONS, {"cursor": cursor} if cursor else {}).json()
        seen += [i["email"] for i in body["results"]]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor or pages > 10:
            break
    assert set(seen) == emails, f"{len(set(seen))} of {len(emails)} invitations listed"
    assert len(seen) == len(set(seen))


# --- closed tenants -----------------------------------------------------------------------------------
def test_nobody_joins_a_deactivated_tenant(tenant_a, make_user, platform_admin):
    person = make_user()
    invite(tenant_a.admin, person.email)
    invitation = my_invitation(person, tenant_a.id)
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_a.id}/deactivate").status_code == 200
    accepted = person.client().post(f"/api/v1/me/invitations/{invitation['id']}/accept")
    assert accepted.status_code == 403, f"accept into a deactivated tenant answered {accepted.status_code}"
    assert accepted.json()["code"] == "tenant_inactive"
    assert [m["tenant"]["id"] for m in person.client().get("/api/v1/me").json()["memberships"]] == []


def test_nobody_joins_a_tenant_in_its_deletion_grace_period(tenant_a, make_user):
    person = make_user()
    invite(tenant_a.admin, person.email)
    invitation = my_invitation(person, tenant_a.id)
    scheduled = tenant_a.admin.client().post("/api/v1/tenants/current/offboard", {"confirm_name": "Tenant A"},
                                             format="json")
    assert scheduled.status_code == 202, scheduled.content
    accepted = person.client().post(f"/api/v1/me/invitations/{invitation['id']}/accept")
    assert accepted.status_code == 403, f"accept into a tenant being deleted answered {accepted.status_code}"
    assert accepted.json()["code"] == "tenant_inactive"
    assert [m["tenant"]["id"] for m in person.client().get("/api/v1/me").json()["memberships"]] == []


# --- one cap on tenants created -----------------------------------------------------------------------
def test_one_cap_on_tenants_per_user_whatever_the_tier_requested(make_user):
    creator = make_user()
    cap = settings.TENANTS_PER_USER
    for n in range(cap):
        made = creator.client().post("/api/v1/tenants", {"name": f"Shop {n}", "tier": "basic"}, format="json")
        assert made.status_code == 201, made.content
    for tier in ("standard", "premium", "platinum"):
        more = creator.client().post("/api/v1/tenants", {"name": f"More {tier}", "tier": tier}, format="json")
        assert more.status_code == 403, f"a {tier} tenant past the cap of {cap} answered {more.status_code}"
        assert more.json()["limit"] == "tenants_per_user"
