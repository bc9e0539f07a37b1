"""Ordering from a large catalogue: product number 150 of 10,000 through the cart's picker.

The cart never lists the catalogue: the picker asks the server for at most ten matches as the person
types (one or two index Queries inside the tenant's partition), so the page is the same size at 10
products or 10,000 (bench/bench_cart.py measures it).
"""
from __future__ import annotations

import os
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from products import services as product_services
from saas.tenancy import tenant_context

from .harness import register
from .test_journeys import add_to_cart, htmx_idle, htmx_ready, nav

pytestmark = pytest.mark.slow

CATALOGUE_SIZE = int(os.environ.get("CART_JOURNEY_PRODUCTS", "10000"))  # smaller only to debug locally
NOUNS = ("Mug", "Tray", "Kettle", "Filter", "Scoop", "Tin", "Jar", "Cloth")


def big_catalogue(count: int) -> list[dict]:
    """Products SKU-00001 ... with names such as "Walnut Tray 00150" (the number is the product's)."""
    return [{"sku": f"SKU-{n:05d}", "name": f"Walnut {NOUNS[n % len(NOUNS)]} {n:05d}", "price": f"{1 + n % 50}.50",
             "currency": "USD", "stock": 20, "category": "bulk"} for n in range(1, count + 1)]


@pytest.mark.timeout(900)  # seeding 10,000 products (and their word index) takes minutes on DynamoDB Local
def test_a_member_orders_product_150_of_10000_through_search_cart_and_review(
        journey, oidc_provider, make_tenant, make_user):
    shop = make_tenant(tier="premium", name="Big Catalogue Co")
    member = shop.add(make_user, "member")
    with tenant_context(shop.id, user_id=shop.admin.sub, roles={"admin"}, tier="premium"):
        created = product_services.create_products(products=big_catalogue(CATALOGUE_SIZE))
    assert len(created) == CATALOGUE_SIZE
    wanted = created[149]  # product number 150
    assert wanted["sku"] == "SKU-00150"
    register(oidc_provider, member)

    j = journey("cart-big-catalogue")
    j.sign_in(member.sub)
    page = j.page
    nav(page, "Orders").click()
    page.get_by_role("link", name="Place an order").click()
    htmx_ready(page)
    expect(page.locator("#picker-results li")).to_have_count(10)  # a first few, never the catalogue
    expect(page.locator("#cart-empty")).to_be_visible()
    j.shot("cart at 10000 products")

    # by SKU: the picker narrows as the person types
    page.get_by_label("Find by name or SKU").fill("SKU-0015")
    expect(page.locator("#picker-results li")).to_have_count(10)  # SKU-00150 ... SKU-00159
    j.shot("picker typing a sku")
    add_to_cart(page, wanted["name"], search="SKU-00150")
    expect(page.locator("#order-lines tbody tr")).to_have_count(1)
    # by name, a second line; adding it again adds one more rather than a second line
    tray = max(n for n in range(1, CATALOGUE_SIZE + 1) if n % len(NOUNS) == 1)  # 9993 of 10,000
    tray_name = f"Walnut Tray {tray:05d}"
    add_to_cart(page, tray_name, search=tray_name.lower()[:-1])
    page.locator("#picker-results li", has_text=tray_name).get_by_role("button").click()
    expect(page.get_by_label(f"Quantity of {tray_name}")).to_have_value("2")
    htmx_idle(page)
    expect(page.locator("#order-lines tbody tr")).to_have_count(2)
    page.get_by_label(f"Quantity of {wanted['name']}").fill("3")
    # 3 × 1.50 (product 150: 1 + 150 % 50 = 1) + 2 × 44.50 (9993: 1 + 9993 % 50 = 44) = 93.50
    expect(page.locator("#order-total")).to_have_text(f"{Decimal('4.50') + 2 * (1 + tray % 50 + Decimal('0.50'))} USD")
    j.shot("cart with two lines")
    page.get_by_role("button", name=f"Remove {tray_name}").click()
    expect(page.locator("#order-lines tbody tr")).to_have_count(1)
    expect(page.locator("#order-total")).to_have_text("4.50 USD")
    j.shot("after remove")

    page.get_by_label(f"Quantity of {wanted['name']}").press("Enter")  # reviews, does not place
    expect(page.get_by_role("heading", name="Review your order")).to_be_visible()
    j.shot("review")
    page.get_by_role("button", name="Change the order").click()  # back, with the line kept
    expect(page.get_by_label(f"Quantity of {wanted['name']}")).to_have_value("3")
    page.get_by_role("button", name="Review order").click()
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#order-items")).to_contain_text("SKU-00150")
    expect(page.locator("#order-items tbody tr")).to_have_count(1)
    j.shot("placed")

    orders = member.client().get("/api/v1/orders").json()["results"]
    assert [(line["product_id"], line["quantity"]) for o in orders for line in o["lines"]] == [(wanted["id"], 3)]
