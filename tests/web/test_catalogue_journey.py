"""The catalogue's search in the browser: words anywhere in the name, with the category, a true
count, sorted, paged."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from products import services
from saas.tenancy import tenant_context

from .harness import register
from .test_journeys import nav

pytestmark = pytest.mark.slow


def test_a_manager_finds_blend_anywhere_in_tea_sorted_by_price_with_a_true_count(
        journey, oidc_provider, make_tenant, make_user):
    shop = make_tenant(tier="standard", name="Search Co")
    manager = shop.add(make_user, "manager")
    with tenant_context(shop.id, roles={"admin"}):
        services.create_products(products=[
            {"sku": f"BLD-{n:03d}", "name": f"House Blend No {n}", "price": f"{n}.00", "currency": "USD",
             "category": "coffee" if n % 2 else "tea"} for n in range(1, 61)])
    register(oidc_provider, manager)

    j = journey("catalogue-search")
    j.sign_in(manager.sub)
    page = j.page
    nav(page, "Catalogue").click()
    page.get_by_label("Find by name or SKU").fill("Blend")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#result-count")).to_have_text("60 products match “Blend”.")
    expect(page.locator("#products tbody tr")).to_have_count(20)
    j.shot("search blend")
    page.get_by_label("Category").fill("Tea")  # a capital letter is fine
    page.get_by_label("Sort").select_option("-price")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#result-count")).to_have_text("30 products match “Blend” in tea.")
    expect(page.locator("#products tbody tr").first).to_contain_text("House Blend No 60")
    expect(page.get_by_label("Find by name or SKU")).to_have_value("Blend")  # the text stays with the category
    j.shot("blend in tea by price")
    page.get_by_role("link", name="Next →").click()
    expect(page.locator("#products tbody tr")).to_have_count(10)
    expect(page.locator("#products tbody tr").last).to_contain_text("House Blend No 2")
    j.shot("second page")
