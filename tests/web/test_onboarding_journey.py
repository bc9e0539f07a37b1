"""A newcomer's first tenant: the plan picker shows each plan's limits, and a platinum request is
shown on Home until a platform operator approves it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .harness import register

pytestmark = pytest.mark.slow


def test_the_plan_picker_shows_limits_and_home_shows_a_pending_platinum_request(journey, oidc_provider, make_user):
    newcomer = make_user()
    register(oidc_provider, newcomer)
    j = journey("onboarding")
    j.sign_in(newcomer.sub)
    page = j.page
    page.get_by_role("link", name="Create a tenant").click()
    table = page.locator("#plan-limits-table")
    expect(table.locator('tr[data-tier="basic"]')).to_contain_text("100")
    expect(table.locator('tr[data-tier="platinum"]')).to_contain_text("unlimited")
    j.shot("plan picker")
    page.get_by_label("Organisation name").fill("Silo Works")
    page.get_by_label("Plan").select_option("platinum")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.locator("[id^=pending-request-]")).to_contain_text("Silo Works")
    expect(page.locator(".message-info")).to_contain_text("we email you when it is approved")
    j.shot("home with the pending request")


def test_a_first_tenant_gets_a_checklist_until_its_steps_are_done(journey, oidc_provider, make_user):
    newcomer = make_user()
    register(oidc_provider, newcomer)
    j = journey("first-steps")
    j.sign_in(newcomer.sub)
    page = j.page
    page.get_by_role("link", name="Create a tenant").click()
    page.get_by_label("Organisation name").fill("First Steps Co")
    page.get_by_role("button", name="Create tenant").click()
    steps = page.locator("#first-steps li")
    expect(steps).to_have_count(3)
    expect(page.locator("#first-steps li.done")).to_have_count(0)
    j.shot("checklist")
    page.locator("#first-steps").get_by_role("link", name="Add a product").click()
    page.get_by_label("SKU").fill("FIRST-1")
    page.get_by_label("Name").fill("First Product")
    page.get_by_label("Price").fill("5.00")
    page.get_by_role("button", name="Create product").click()
    page.goto(j.live_url + "/catalogue/")
    expect(page.locator("#first-steps li.done")).to_have_text("✓ Add a product (done)")
    j.shot("checklist one step done")
