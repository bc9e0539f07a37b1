"""Typed form data survives an expired session: the session ends while a person types a product or an
invitation; on submit nothing is saved, they are told so and sent to sign in, and come back to the
form with what they typed (never a password or the CSRF token) to check and submit."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from products import selectors
from saas.kept_forms import KeptForm
from saas.sessions import SESSION_ITEM, WebSession
from saas.tenancy import system_context, tenant_context

from .harness import register
from .test_journeys import nav

pytestmark = pytest.mark.slow


def expire_session(j) -> None:
    """The session's record expires (TTL deletion is lazy: the app checks ``expires_at`` on read)."""
    key = next(c["value"] for c in j.context.cookies() if c["name"] == "sessionid")
    with system_context(reason="test: expire the session"):
        item = WebSession.objects.get(key, SESSION_ITEM)
        WebSession.objects.put(key, SESSION_ITEM, must_exist=True, data=item["data"], user_id=item["user_id"],
                               expires_at=int(time.time()) - 1)


def test_a_product_typed_while_the_session_expired_comes_back_after_signing_in(journey, oidc_provider, make_tenant):
    shop = make_tenant(name="Kept Goods")
    register(oidc_provider, shop.admin)
    j = journey("kept-form")
    j.sign_in(shop.admin.sub)
    page = j.page
    nav(page, "Catalogue").click()
    page.get_by_role("link", name="New product").click()
    form_path = page.url[len(j.live_url):]
    page.get_by_label("SKU").fill("KEPT-1")
    page.get_by_label("Name").fill("Kept Walnut Tray")
    page.get_by_label("Price").fill("12.50")
    page.get_by_label("Description").fill("Typed before the session ended.")
    expire_session(j)
    page.get_by_role("button", name="Create product").click()

    page.wait_for_url(f"{j.live_url}/login/**")
    expect(page.locator(".message-warning")).to_contain_text("your changes were not saved")
    expect(page.locator(".message-warning")).to_contain_text("what you typed will be back")
    j.shot("signed out on submit")
    with tenant_context(shop.id, roles={"viewer"}):
        assert selectors.find_products(text="KEPT-1").count == 0  # nothing was saved

    j.sign_in(shop.admin.sub, expect_path=form_path)
    expect(page.locator("form[data-kept=restored]")).to_have_count(1)
    expect(page.get_by_label("SKU")).to_have_value("KEPT-1")
    expect(page.get_by_label("Name")).to_have_value("Kept Walnut Tray")
    expect(page.get_by_label("Price")).to_have_value("12.50")
    expect(page.get_by_label("Description")).to_have_value("Typed before the session ended.")
    expect(page.locator(".message-info")).to_contain_text("not saved yet")
    j.shot("the form with what was typed")

    # Once only: the kept copy is gone, and a reload shows an empty form.
    page.reload()
    expect(page.get_by_label("SKU")).to_have_value("")
    page.get_by_label("SKU").fill("KEPT-1")
    page.get_by_label("Name").fill("Kept Walnut Tray")
    page.get_by_label("Price").fill("12.50")
    page.get_by_role("button", name="Create product").click()
    expect(page.locator(".message-success")).to_be_visible()
    with tenant_context(shop.id, roles={"viewer"}):
        assert selectors.find_products(text="KEPT-1").count == 1


def test_an_invitation_typed_while_signed_out_comes_back_and_no_secret_is_kept(journey, oidc_provider, make_tenant):
    shop = make_tenant(name="Kept Team")
    register(oidc_provider, shop.admin)
    j = journey("kept-invitation")
    j.sign_in(shop.admin.sub)
    page = j.page
    nav(page, "Team").click()
    page.get_by_label("Email address").fill("kept-invitee@example.test")
    page.locator("#invite-role").select_option("manager")
    expire_session(j)
    page.get_by_role("button", name="Invite").click()
    page.wait_for_url(f"{j.live_url}/login/**")
    with system_context(reason="test: what was kept"):
        cookie = next(c for c in j.context.cookies() if c["name"] == "kept_form")
        assert cookie["httpOnly"] and cookie["path"] == "/team/"
        from saas.kept_forms import _id

        kept = KeptForm.objects.get(_id(cookie["value"]), "form")
    assert "kept-invitee@example.test" in kept["fields"] and "csrfmiddlewaretoken" not in kept["fields"]

    j.sign_in(shop.admin.sub, expect_path="/team/")
    expect(page.get_by_label("Email address")).to_have_value("kept-invitee@example.test")
    expect(page.locator("#invite-role")).to_have_value("manager")
    j.shot("team form with the invitation typed")
    expect(page.locator("#invitations")).not_to_contain_text("kept-invitee@example.test")  # not sent yet
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invitations")).to_contain_text("kept-invitee@example.test")
