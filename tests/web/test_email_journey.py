"""People are told by email: an admin invites someone from the Team page, the worker's ``mail.send``
job sends the invitation through SES (the moto server), and the link in it opens the invitation
after the invitee signs in; an admin removes a member, who is told.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.mailbox import mail_worker, wait_for_email

from .harness import register
from .test_journeys import nav

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(redis_broker):
    running = mail_worker(redis_broker.url())
    yield running
    running.stop()
    running.discard_log()


def test_an_emailed_invitation_opens_after_sign_in_and_a_removed_member_is_told(
        journey, oidc_provider, live_server, settings, make_tenant, make_user, worker):
    settings.SITE_URL = live_server.url  # links in emails point at this server
    shop = make_tenant(name="Lantern Tea Co")
    leaver = shop.add(make_user, "member")
    person = make_user()
    register(oidc_provider, shop.admin)
    register(oidc_provider, person)

    admin = journey("email-admin")
    admin.sign_in(shop.admin.sub)
    nav(admin.page, "Team").click()
    admin.page.get_by_label("Email address").fill(person.email)
    admin.page.get_by_label("Role", exact=True).select_option("admin")
    admin.page.get_by_role("button", name="Invite").click()
    expect(admin.page.locator(".message-success")).to_contain_text(f"{person.email} was invited as admin")
    admin.shot("team invitation sent")

    [invitation] = wait_for_email(person.email)
    assert invitation.subject == "You are invited to Lantern Tea Co"
    assert "as an admin" in invitation.text
    [url] = re.findall(re.escape(live_server.url) + r"/invitations/\S+/", invitation.text)

    invitee = journey("email-invitee")
    invitee.page.goto(url)  # signed out: the sign-in page first, then back to the invitation
    expect(invitee.page).to_have_url(re.compile(r"/login/"))
    invitee.shot("sign in to open the invitation")
    invitee.sign_in(person.sub)
    opened = invitee.page.locator("#my-invitations li.opened")
    expect(opened).to_contain_text("Lantern Tea Co")
    invitee.shot("invitation opened from the email")
    opened.get_by_role("button", name="Accept the invitation to Lantern Tea Co").click()
    expect(invitee.page.locator(".message-success")).to_contain_text("You joined as admin")
    invitee.shot("joined")

    # the same link again: the invitation is answered, and the page says so
    invitee.page.goto(url)
    expect(invitee.page.locator(".message-info")).to_contain_text("no longer open")
    invitee.shot("invitation link used again")

    # a removed member is told by email
    admin.page.reload()
    admin.page.get_by_role("link", name=f"Remove {leaver.email}").click()
    admin.page.get_by_role("button", name=f"Remove {leaver.email}").click()
    expect(admin.page.locator(".message-success")).to_contain_text(leaver.email)
    admin.shot("member removed")
    [notice] = wait_for_email(leaver.email)
    assert notice.subject == "You were removed from Lantern Tea Co"
    assert notice.content_types == ["text/plain"]
