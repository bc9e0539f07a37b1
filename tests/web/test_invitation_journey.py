"""The invitee's journey in the browser: an invitation waits on Home until they accept or decline it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .harness import register

pytestmark = pytest.mark.slow


def test_an_invitee_accepts_one_invitation_and_declines_another(journey, oidc_provider, make_tenant, make_user):
    acme, globex = make_tenant(name="Acme Outfitters"), make_tenant(name="Globex Supplies")
    person = make_user()
    for tenant, role in ((acme, "member"), (globex, "viewer")):
        invited = tenant.admin.client().post("/api/v1/tenants/current/members", {"email": person.email, "role": role},
                                             format="json")
        assert invited.status_code == 202
    register(oidc_provider, person)

    j = journey("invitee")
    j.go("/login/")
    j.sign_in(person.sub)
    page = j.page
    card = page.locator("#my-invitations")
    expect(card).to_contain_text("Acme Outfitters")
    expect(card).to_contain_text("Globex Supplies")
    j.shot("home with invitations")

    page.get_by_role("button", name="Accept the invitation to Acme Outfitters").click()
    expect(page.locator(".message-success")).to_contain_text("You joined as member")
    expect(page.locator("#memberships")).to_contain_text("Acme Outfitters")
    page.get_by_role("button", name="Decline the invitation to Globex Supplies").click()
    expect(page.locator(".message-success")).to_contain_text("declined")
    expect(page.locator("#my-invitations")).to_have_count(0)
    j.shot("home after answering")
    page.get_by_role("link", name="Leave Acme Outfitters…").click()  # and changes their mind
    expect(page.get_by_role("heading", name="Leave Acme Outfitters?")).to_be_visible()
    j.shot("leave confirm")
    page.get_by_role("button", name="Leave Acme Outfitters").click()
    expect(page.locator(".message-success")).to_contain_text("You left the tenant")
    expect(page.locator("#active-tenant")).to_contain_text("not a member of any tenant")
    j.shot("home after leaving")
    members = {m["user_id"]: m["role"] for m in
               acme.admin.client().get("/api/v1/tenants/current/members").json()["results"]}
    assert person.sub not in members
    assert person.sub not in {m["user_id"] for m in
                              globex.admin.client().get("/api/v1/tenants/current/members").json()["results"]}


def test_a_platform_admin_approves_a_platinum_request_in_the_browser(own_table, journey, oidc_provider, make_user):
    """On a table of its own: the operator's home lists the first page of every tenant of the table."""
    owner, operator = make_user(), make_user(groups=("system_admin",))
    requested = owner.client().post("/api/v1/tenants", {"name": "Waiting Co", "tier": "platinum"}, format="json")
    assert requested.status_code == 202 and requested.json()["status"] == "pending_approval"
    tenant_id = requested.json()["id"]
    register(oidc_provider, operator)

    same_name = make_user().client().post("/api/v1/tenants", {"name": "Waiting Co", "tier": "basic"}, format="json")
    assert same_name.status_code == 201

    j = journey("platform-approval")
    j.go("/login/")
    j.sign_in(operator.sub)
    j.go("/platform/")
    # the operator's home: the request waiting for them, and two "Waiting Co" told apart
    expect(j.page.locator(f'#waiting-approval li[data-tenant-id="{tenant_id}"]')).to_contain_text(owner.email)
    rows = j.page.locator("#tenants tbody tr", has_text="Waiting Co")
    expect(rows).to_have_count(2)
    expect(j.page.locator(f'#tenants tr[data-tenant-id="{tenant_id}"] .owner')).to_have_text(owner.email)
    expect(j.page.locator(f'#tenants tr[data-tenant-id="{same_name.json()["id"]}"]')).to_contain_text(
        same_name.json()["id"])
    j.shot("operator home")
    j.page.locator(f'#waiting-approval li[data-tenant-id="{tenant_id}"]').get_by_role("link").click()
    j.shot("pending approval")
    j.page.get_by_role("button", name="Reject").click()
    expect(j.page.locator(".message-success")).to_contain_text("Waiting Co was rejected")
    j.shot("rejected")
    [pending] = owner.client().get("/api/v1/me").json()["pending_tenants"]
    assert pending["status"] == "rejected"
