"""A journey per persona, in headless Chromium, through the real sign-in flow.

Each step asserts what the person sees; every page is screenshotted at 1280 and 375 px (see
conftest.Journey.shot for the checks made on each one).
"""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from devstack.webhook_receiver import Receiver
from products.services import seed_demo_products
from tenants import services as tenant_services

from .harness import register

pytestmark = pytest.mark.slow


def nav(page, label: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def htmx_ready(page) -> None:
    """Wait until the page has loaded and htmx has initialised (it binds its triggers on load)."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")


def htmx_idle(page) -> None:
    """Wait until htmx has finished every request, swap and settle (new content gets its triggers
    then: typing into a box that was just swapped in before that would go unnoticed)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, "
                           ".htmx-added')")


def add_to_cart(page, name: str, *, search: str | None = None) -> None:
    """Type in the cart's product picker and add the product named ``name`` (htmx swaps the cart in)."""
    page.get_by_label("Find by name or SKU").fill(search or name)
    page.locator("#picker-results li", has_text=name).first.get_by_role("button", name=re.compile("^Add ")).click()
    expect(page.get_by_label(f"Quantity of {name}")).to_be_visible()
    htmx_idle(page)


def test_tenant_admin_switches_tenant_invites_and_promotes_and_subscribes_a_webhook(
        journey, oidc_provider, make_tenant, make_user, receiver):
    acme = make_tenant(name="Acme Outfitters")
    admin = acme.admin
    globex = tenant_services.create_pooled_tenant(name="Globex Supplies", tier="standard", owner_id=admin.sub,
                                                  owner_email=admin.email)  # admin is its only admin
    seed_demo_products(tenant_id=acme.id, count=12)
    register(oidc_provider, admin)

    j = journey("tenant-admin")
    j.go("/login/")
    j.shot("sign in")
    j.sign_in(admin.sub)
    page = j.page
    expect(page.locator("#active-tenant")).to_have_attribute("data-tenant-id", acme.id)
    expect(page.locator("#active-tenant-name")).to_have_text("Acme Outfitters")
    expect(page.locator("#active-role")).to_have_text("admin")
    j.shot("home")

    # the catalogue, paged
    nav(page, "Catalogue").click()
    expect(page.locator("#products tbody tr")).to_have_count(12)
    j.shot("catalogue")

    # switch tenant from the header: the button names its tenant
    page.locator("#tenant-switcher summary").click()
    j.shot("tenant switcher open")
    page.get_by_role("button", name="Switch to Globex Supplies").click()
    expect(page.locator("#active-tenant-name")).to_have_text("Globex Supplies")
    expect(page.locator(".message-success")).to_contain_text("You are now working in Globex Supplies")
    assert page.url.endswith("/catalogue/")  # stays in the same section of the new tenant
    expect(page.locator("#products")).to_contain_text("The catalogue is empty")
    j.shot("switched to globex")

    # the team: invite a member, then make them a manager
    nav(page, "Team").click()
    j.shot("team")
    person = make_user()  # someone with an account; invitations wait for their consent
    invitee = person.email
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invite-email-errors")).to_be_visible()
    j.shot("team invite error")
    page.get_by_label("Email address").fill(invitee)
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".message-success")).to_contain_text(f"{invitee} was invited as member")
    expect(page.locator("#invitations")).to_contain_text(invitee)
    j.shot("team invitation pending")
    mine = person.client().get("/api/v1/me/invitations").json()["results"]  # the invitee accepts
    assert person.client().post(f"/api/v1/me/invitations/{mine[0]['id']}/accept").status_code == 200
    page.reload()
    htmx_ready(page)
    row = page.locator("#members tr", has_text=invitee)
    row.get_by_label(f"Role of {invitee}", exact=True).select_option("manager")  # saved from the select
    expect(page.locator(".message-success")).to_contain_text(f"{invitee} is now manager")
    expect(page.locator("#members tr", has_text=invitee).get_by_label(f"Role of {invitee}", exact=True)).to_have_value("manager")
    j.shot("team after role change")

    # the last admin cannot demote themself; the page says why
    me_row = page.locator("#members tr", has_text=admin.email)
    htmx_ready(page)
    me_row.get_by_label(f"Role of {admin.email}", exact=True).select_option("viewer")
    expect(page.locator(".message-error")).to_contain_text("always needs at least one admin")
    j.shot("team last admin")

    # webhooks: a refused URL is explained on the field; a good one subscribes; a test reaches it
    nav(page, "Webhooks").click()
    expect(page.get_by_role("link", name="how to verify deliveries")).to_be_visible()
    page.locator("details.event-type", has_text="order.created").locator("summary").click()
    expect(page.locator("details.event-type", has_text="order.created").locator("pre")).to_contain_text('"type": "order.created"')
    j.shot("webhooks")
    page.get_by_label("Event type").select_option("order.created")
    page.get_by_label("Endpoint URL").fill("http://10.0.0.5/hook")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#url-errors")).to_be_visible()
    j.shot("webhooks url refused")
    url = receiver.url("/acme-hook")
    page.get_by_label("Endpoint URL").fill(url)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".message-success")).to_contain_text("now receives order.created events")
    row = page.locator("#subscriptions tr", has_text=url)
    expect(row).to_contain_text("active")
    row.get_by_role("button", name=re.compile("Send a test event")).click()
    expect(page.locator(".message-success")).to_contain_text("A test event")
    delivered = receiver.wait_for_count("/acme-hook", 1)
    assert delivered and delivered[0]["type"] == "webhook.test" and delivered[0]["tenant_id"] == globex["id"]
    j.shot("webhooks after test")
    page.locator("#subscriptions tr", has_text=url).get_by_role("link", name=re.compile("Delete the")).click()
    j.shot("webhook delete confirm")
    page.get_by_role("button", name="Delete the subscription").click()
    expect(page.locator("#subscriptions")).to_contain_text("No subscriptions yet")

    page.get_by_role("link", name="how to verify deliveries").click()
    expect(page.locator("#guide")).to_contain_text("verify")
    expect(page.locator("#guide")).to_contain_text("webhook-id")
    expect(page.locator("#guide")).not_to_contain_text("README")  # a page for subscribers, no repository paths
    expect(page.locator("#guide")).not_to_contain_text(".py")
    j.shot("webhook guide")

    nav(page, "Settings").click()
    j.shot("settings")
    # a stale tab: the form's CSRF token no longer matches (signed in again elsewhere)
    j.context.clear_cookies(name="csrftoken")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator(".error-page")).to_have_attribute("data-status", "403")
    expect(page.locator("#error-message")).to_contain_text("Nothing was changed")
    j.shot("expired form page")
    page.get_by_role("link", name="Reload the page").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    page.get_by_role("link", name="API reference").first.click()
    expect(page.locator("#swagger-ui")).to_contain_text("SaaS Commerce API")
    j.snap("api reference")
    assert not j.csp_violations and not j.foreign_requests


def test_manager_edits_the_catalogue_and_sees_a_concurrent_change(journey, oidc_provider, tenant_a, make_user):
    manager = tenant_a.add(make_user, "manager")
    seed_demo_products(tenant_id=tenant_a.id, count=25)
    register(oidc_provider, manager)
    j = journey("manager")
    j.go("/catalogue/")
    j.sign_in(manager.sub, expect_path="/catalogue/")  # back to the page asked for
    page = j.page
    expect(page.locator("#products tbody tr")).to_have_count(20)
    page.get_by_role("link", name="Next →").click()
    expect(page.locator("#products tbody tr")).to_have_count(5)
    j.shot("catalogue page 2")
    page.get_by_role("link", name="← Previous").click()
    expect(page.locator("#products tbody tr")).to_have_count(20)

    page.get_by_label("Find by name or SKU").fill("earl")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#products tbody tr")).to_have_count(2)  # "Earl Grey Tea 100 g" and its "(2)"
    j.shot("catalogue search")
    page.get_by_label("Find by name or SKU").fill("demo-001")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#products tbody tr")).to_have_count(10)  # DEMO-0010 ... DEMO-0019
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Category").fill("tea")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#products tbody tr")).to_have_count(6)

    # create with field errors next to the fields
    nav(page, "Catalogue").click()
    page.get_by_role("link", name="New product").click()
    page.get_by_label("Name").fill("Cold Brew Kit")
    page.get_by_label("SKU").fill("bad sku")
    page.get_by_label("Price").fill("12.345")
    page.get_by_role("button", name="Create product").click()
    expect(page.locator("#f-sku-errors")).to_be_visible()
    expect(page.locator("#f-price-errors")).to_be_visible()
    j.shot("new product errors")
    page.get_by_label("SKU").fill("DEMO-0001")
    page.get_by_label("Price").fill("39.00")
    page.get_by_role("button", name="Create product").click()
    expect(page.locator("#f-sku-errors")).to_contain_text("already has this SKU")
    page.get_by_label("SKU").fill("COLD-BREW-1")
    page.get_by_label("In stock").fill("7")
    page.get_by_label("Category (optional)").fill("equipment")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("heading", name="Cold Brew Kit")).to_be_visible()
    j.shot("product page")

    # someone else saves while we edit: we are told, nothing is lost silently
    page.get_by_role("link", name="Edit").click()
    product_url = page.url
    other = j.context.new_page()
    other.goto(product_url)
    other.get_by_label("Price").fill("41.00")
    other.get_by_role("button", name="Save changes").click()
    expect(other.locator(".message-success")).to_be_visible()
    other.close()
    page.get_by_label("Name").fill("Cold Brew Kit (large)")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#conflict")).to_contain_text("Changed by someone else")
    j.shot("edit conflict")
    page.get_by_role("link", name="Reload the current version").click()
    expect(page.get_by_label("Price")).to_have_value("41.00")
    page.get_by_label("Name").fill("Cold Brew Kit (large)")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Cold Brew Kit (large)")).to_be_visible()

    page.get_by_role("link", name="Delete…").click()
    j.shot("delete confirm")
    page.get_by_role("button", name=re.compile("^Delete Cold Brew")).click()
    expect(page.locator(".message-success")).to_contain_text("was deleted")


def test_end_user_places_an_order_watches_it_fulfil_and_cancels_another(
        journey, oidc_provider, tenant_a, make_user, slow_worker):
    member = tenant_a.add(make_user, "member")
    products = seed_demo_products(tenant_id=tenant_a.id, count=12)
    register(oidc_provider, member)
    grinder = next(p for p in products if p["name"] == "Burr Grinder")  # 8 in stock
    mug = next(p for p in products if p["name"] == "Stoneware Mug")

    j = journey("end-user")
    j.sign_in(member.sub)
    page = j.page
    expect(nav(page, "Team")).to_have_count(0)  # admins only
    nav(page, "Orders").click()
    j.shot("my orders empty")
    page.get_by_role("link", name="Place an order").click()
    htmx_ready(page)
    j.shot("cart empty")
    add_to_cart(page, "Burr Grinder")
    add_to_cart(page, "Stoneware Mug")
    page.get_by_label("Quantity of Burr Grinder").fill("9")
    page.get_by_label("Quantity of Stoneware Mug").fill("2")
    expect(page.locator("#quote")).to_contain_text("Not enough stock")  # live, before review
    page.get_by_label("Quantity of Stoneware Mug").press("Enter")  # Enter reviews; it never places
    expect(page.locator(f"#err-{grinder['id']}")).to_contain_text("Only 8 in stock")
    j.shot("order stock error")
    htmx_ready(page)
    page.get_by_label("Quantity of Burr Grinder").fill("1")
    expect(page.locator("#order-total")).to_have_text("151.00 USD")  # 129.00 + 2 × 11.00
    j.shot("order form with total")
    page.get_by_label("Quantity of Burr Grinder").press("Enter")
    expect(page.get_by_role("heading", name="Review your order")).to_be_visible()
    expect(page.locator("#review-total")).to_have_text("151.00 USD")
    assert member.client().get("/api/v1/orders").json()["results"] == []  # nothing placed by reviewing
    j.shot("order review")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#status-value")).to_be_visible()
    j.shot("order placed")
    # the status panel polls while the order moves, and stops at the final status
    expect(page.locator("#status-value")).to_have_text("fulfilled", timeout=30_000)
    expect(page.locator("#order-items tbody tr")).to_have_count(2)
    expect(page.locator("#order-status")).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(page.get_by_role("link", name="Cancel order…")).to_have_count(0)
    j.shot("order fulfilled")

    # a second order, cancelled while it is still being fulfilled
    nav(page, "Orders").click()
    page.get_by_role("link", name="Place an order").click()
    htmx_ready(page)
    add_to_cart(page, "Stoneware Mug")
    page.get_by_label("Quantity of Stoneware Mug").fill("3")
    page.get_by_role("button", name="Review order").click()
    page.get_by_role("button", name="Place order").click()
    page.get_by_role("link", name="Cancel order…").click()
    j.shot("cancel confirm")
    page.get_by_role("button", name="Cancel the order").click()
    expect(page.locator("#status-value")).to_have_text("cancelled")
    expect(page.locator(".message-success")).to_contain_text("cancelled")
    j.shot("order cancelled")
    nav(page, "Orders").click()
    expect(page.locator("#orders tbody tr")).to_have_count(2)
    j.shot("my orders")
    # stock: 90 mugs - 2 (fulfilled order); the cancelled 3 came back
    nav(page, "Catalogue").click()
    expect(page.locator(f'tr[data-product-id="{mug["id"]}"]')).to_contain_text("88")


def test_viewer_sees_no_write_controls_and_a_forged_post_is_refused(journey, oidc_provider, tenant_a, make_user):
    viewer = tenant_a.add(make_user, "viewer")
    products = seed_demo_products(tenant_id=tenant_a.id, count=3)
    register(oidc_provider, viewer)
    j = journey("viewer")
    j.sign_in(viewer.sub)
    page = j.page
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link")).to_have_text(["Catalogue", "Orders", "Settings", "API reference"])
    nav(page, "Catalogue").click()
    expect(page.get_by_role("link", name="New product")).to_have_count(0)
    page.get_by_role("link", name=products[0]["name"]).click()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
    expect(page.get_by_role("link", name="Order this")).to_have_count(0)
    j.shot("viewer product")
    nav(page, "Orders").click()
    expect(page.get_by_role("link", name="Place an order")).to_have_count(0)
    j.shot("viewer orders")

    # typing the address of a write page: the styled 403 with a way back
    j.go("/catalogue/new")
    expect(page.locator(".error-page")).to_have_attribute("data-status", "403")
    expect(page.locator("#error-message")).to_contain_text("needs the manager role")
    j.shot("viewer forbidden page")
    page.get_by_role("link", name="Back to the start page").click()
    expect(page.locator("#active-tenant")).to_be_visible()
    j.go("/catalogue/no-such-product/")
    expect(page.locator(".error-page")).to_have_attribute("data-status", "404")
    j.shot("not found page")
    j.go("/switch-tenant")
    expect(page.locator(".error-page")).to_have_attribute("data-status", "405")
    j.shot("wrong method page")

    # a forged POST with the viewer's own session and CSRF token is refused and writes nothing
    token = next(c["value"] for c in j.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(f"{j.live_url}/catalogue/new", form={
        "csrfmiddlewaretoken": token, "sku": "FORGED-1", "name": "Forged", "price": "1.00", "currency": "USD"})
    assert forged.status == 403
    forged = page.request.post(f"{j.live_url}/catalogue/{products[0]['id']}/delete", form={
        "csrfmiddlewaretoken": token, "version": "1"})
    assert forged.status == 403
    j.go("/catalogue/?q=FORGED")
    expect(page.locator("#products")).to_contain_text("No products match")
    j.go(f"/catalogue/{products[0]['id']}/")
    expect(page.get_by_role("heading", name=products[0]["name"])).to_be_visible()


def test_platform_admin_deactivates_a_tenant_and_its_member_loses_access_at_once(
        journey, oidc_provider, make_tenant, make_user, platform_admin):
    acme = make_tenant(name="Acme Outfitters")
    member = acme.add(make_user, "member")
    register(oidc_provider, member)
    register(oidc_provider, platform_admin, groups=["system_admin"])

    person = journey("member-of-deactivated-tenant")
    person.sign_in(member.sub)
    person.go("/orders/")
    expect(person.page.get_by_role("heading", name="My orders")).to_be_visible()

    j = journey("platform-admin")
    j.sign_in(platform_admin.sub)
    page = j.page
    nav(page, "Platform").click()
    j.shot("platform tenants")
    page.get_by_label("Status").select_option("active")
    page.get_by_label("Tier").select_option("basic")
    page.get_by_role("button", name="Filter").click()
    row = page.locator(f'#tenants tr[data-tenant-id="{acme.id}"]')  # other tests made "Acme Outfitters" too
    while not row.count():
        page.get_by_role("link", name="Next →").click()  # a filtered page may be short; Acme is on one
    j.shot("platform filtered")
    row.get_by_role("link", name="Acme Outfitters").click()
    j.shot("platform tenant")
    page.get_by_role("link", name="Deactivate…").click()
    j.shot("deactivate confirm")
    page.get_by_role("button", name="Deactivate Acme Outfitters").click()
    expect(page.locator("#tenant-status")).to_have_text("deactivated")

    # the member's very next request is refused, with a page that says why
    person.go("/orders/")
    expect(person.page.locator(".error-page")).to_have_attribute("data-status", "403")
    expect(person.page.locator("#error-message")).to_contain_text("deactivated")
    person.shot("tenant deactivated")
    # in the switcher it is shown as deactivated, not as a button
    person.page.locator("#tenant-switcher summary").click()
    expect(person.page.locator("#tenant-switcher")).to_contain_text("deactivated")

    page.get_by_role("link", name="Reactivate…").click()
    page.get_by_role("button", name="Reactivate Acme Outfitters").click()
    expect(page.locator("#tenant-status")).to_have_text("active")
    page.get_by_label("Tier", exact=True).select_option("premium")
    page.get_by_role("button", name="Change tier").click()
    expect(page.locator(".message-success")).to_contain_text("premium")
    j.shot("platform tenant after changes")
    person.go("/orders/")
    expect(person.page.get_by_role("heading", name="My orders")).to_be_visible()


def test_new_user_creates_a_tenant_and_sign_out_ends_the_session_everywhere(journey, oidc_provider, make_user,
                                                                           live_server):
    newcomer = make_user()
    register(oidc_provider, newcomer)
    j = journey("newcomer")
    j.sign_in(newcomer.sub)
    page = j.page
    expect(page.locator("#active-tenant")).to_contain_text("not a member of any tenant")
    j.shot("home without tenant")
    page.get_by_role("link", name="Create a tenant").first.click()
    j.shot("create tenant")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.locator("#tenant-name-errors")).to_be_visible()
    j.shot("create tenant errors")
    # keyboard only: Tab to the name field, type, Tab to the plan, choose with the arrows, Enter submits
    page.locator("body").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "tenant-name":
            break
    page.keyboard.type("Initech")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "tenant-tier"
    page.keyboard.press("ArrowDown")  # basic -> standard
    expect(page.get_by_label("Plan")).to_have_value("standard")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#active-tenant-name")).to_have_text("Initech")
    expect(page.locator("#active-role")).to_have_text("admin")
    j.shot("new tenant catalogue")

    # sign out; the old cookie, replayed, is refused
    cookie = next(c for c in j.context.cookies() if c["name"] == "sessionid")
    http = requests.Session()
    http.trust_env = False
    http.cookies.set("sessionid", cookie["value"])
    assert http.get(f"{live_server.url}/api/v1/me").status_code == 200
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(".*"))
    assert http.get(f"{live_server.url}/api/v1/me").status_code == 401
    replay = http.get(f"{live_server.url}/orders/", allow_redirects=False)
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/login/?next=")
