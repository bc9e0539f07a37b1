"""Team and invitations in the browser: revoke and resend an invitation, inviting a member again is
refused with a clear message, a role changes from its select alone."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.mailbox import mail_worker, wait_for_email

from .harness import register
from .test_journeys import htmx_ready, nav

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(redis_broker):
    running = mail_worker(redis_broker.url())
    yield running
    running.stop()
    running.discard_log()


def test_an_admin_resends_and_revokes_invitations_and_is_told_someone_is_already_a_member(
        journey, oidc_provider, make_tenant, make_user, worker):
    shop = make_tenant(name="Team Co")
    member = shop.add(make_user, "member")
    register(oidc_provider, shop.admin)
    j = journey("team")
    j.sign_in(shop.admin.sub)
    page = j.page
    nav(page, "Team").click()

    # someone already in the team: refused, on the field, and no invitation left behind
    page.get_by_label("Email address").fill(member.email.upper())
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invite-email-errors")).to_contain_text("already a member of this tenant")
    expect(page.locator("#invitations")).to_contain_text("No pending invitations")
    j.shot("already a member")

    page.get_by_label("Email address").fill("new.person@example.test")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invitations")).to_contain_text("new.person@example.test")
    wait_for_email("new.person@example.test")
    page.get_by_role("button", name="Resend the invitation to new.person@example.test").click()
    expect(page.locator(".message-success")).to_contain_text("was sent again")
    assert len(wait_for_email("new.person@example.test", count=2)) == 2
    j.shot("invitation resent")
    page.get_by_role("button", name="Revoke the invitation to new.person@example.test").click()
    expect(page.locator(".message-success")).to_contain_text("was revoked")
    expect(page.locator("#invitations")).to_contain_text("No pending invitations")
    j.shot("invitation revoked")

    # a role changes from the select alone
    htmx_ready(page)
    page.get_by_label(f"Role of {member.email}", exact=True).select_option("viewer")
    expect(page.locator(".message-success")).to_contain_text(f"{member.email} is now viewer")
    expect(page.get_by_label(f"Role of {member.email}", exact=True)).to_have_value("viewer")
    j.shot("role changed from the select")
    roles = {m["user_id"]: m["role"] for m in
             shop.admin.client().get("/api/v1/tenants/current/members").json()["results"]}
    assert roles[member.sub] == "viewer"


def test_usage_counts_the_members_the_team_page_lists(journey, oidc_provider, make_tenant, make_user):
    """The owner, two people added directly (as demo data is) and one who accepted an invitation:
    Settings -> Usage and the Team page say the same number."""
    from tests.factories import invite_and_accept

    shop = make_tenant(name="Counting Co")
    shop.add(make_user, "member")
    shop.add(make_user, "viewer")
    assert invite_and_accept(shop.admin, make_user(), "member").status_code == 200
    register(oidc_provider, shop.admin)
    j = journey("usage-members")
    j.sign_in(shop.admin.sub)
    nav(j.page, "Team").click()
    expect(j.page.locator("#members tbody tr")).to_have_count(4)
    j.go("/settings/usage")
    expect(j.page.locator('#plan-limits tr[data-limit="members"] td[data-label="Used"]')).to_have_text("4")
    j.shot("usage members")
