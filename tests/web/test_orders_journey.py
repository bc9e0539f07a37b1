"""Orders a shop can run on: a manager's "All orders" says who placed each order, filters by status
and date range, sorts, pages, shows times in the reader's time zone and exports the filtered list as
CSV; a viewer's empty "My orders" explains why it is empty."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from orders import services as order_services
from products.services import seed_demo_products
from saas.tenancy import tenant_context

from .harness import register
from .test_journeys import nav

pytestmark = pytest.mark.slow


def place(tenant_id: str, user, product: dict, quantity: int = 1) -> dict:
    with tenant_context(tenant_id, user_id=user.sub, roles={"member"}):
        return order_services.place_order(lines=[{"product_id": product["id"], "quantity": quantity}]).order


def test_a_manager_filters_sorts_pages_and_exports_all_orders_and_a_viewer_is_told_why_none(
        journey, oidc_provider, make_tenant, make_user):
    shop = make_tenant(tier="standard", name="Orders Co")
    ann, bob = shop.add(make_user, "member"), shop.add(make_user, "member")
    manager, viewer = shop.add(make_user, "manager"), shop.add(make_user, "viewer")
    [tea] = seed_demo_products(tenant_id=shop.id, count=1)
    placed = [place(shop.id, ann if n % 2 == 0 else bob, tea) for n in range(23)]
    with tenant_context(shop.id, user_id=bob.sub, roles={"member"}):
        order_services.cancel_order(order_id=placed[1]["id"])
    register(oidc_provider, manager)
    register(oidc_provider, viewer)

    j = journey("orders-manager")
    j.sign_in(manager.sub)
    page = j.page
    nav(page, "Orders").click()
    expect(page.get_by_role("heading", name="All orders")).to_be_visible()
    rows = page.locator("#orders tbody tr")
    expect(rows).to_have_count(20)
    newest = rows.first
    expect(newest).to_have_attribute("data-order-id", placed[-1]["id"])
    expect(newest.locator(".placed-by")).to_have_text(ann.email)  # order 22 is ann's
    placed_time = newest.locator("time")
    expect(placed_time).to_have_attribute("title", placed[-1]["created_at"])  # the script localised it
    assert "UTC" not in placed_time.inner_text()
    j.shot("all orders")
    page.get_by_role("link", name=re.compile("Next")).click()
    expect(rows).to_have_count(3)
    expect(rows.last).to_have_attribute("data-order-id", placed[0]["id"])
    j.shot("all orders page 2")

    # status filter, then the oldest first
    page.get_by_label("Status").select_option("cancelled")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-order-id", placed[1]["id"])
    expect(rows.first.locator(".placed-by")).to_have_text(bob.email)
    j.shot("cancelled orders")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Order", exact=True).select_option("oldest")
    page.get_by_role("button", name="Show").click()
    expect(rows.first).to_have_attribute("data-order-id", placed[0]["id"])

    # a date range with no orders in it
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    page.get_by_label("Placed from").fill("2020-01-01")
    page.get_by_label("Placed until").fill(yesterday)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#orders-empty")).to_contain_text("No orders match these filters")
    j.shot("no orders in the range")

    # CSV of the filtered list: the cancelled one, with who placed it
    j.go("/orders/?status=cancelled")
    href = page.get_by_role("link", name="Export CSV (filtered)").get_attribute("href")
    exported = page.request.get(j.live_url + href)
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(exported.text())))
    assert table[0] == ["order", "placed_at_utc", "placed_by", "status", "items", "total", "currency"]
    assert [(r[0], r[2], r[3]) for r in table[1:]] == [(placed[1]["id"], bob.email, "cancelled")]
    everything = page.request.get(j.live_url + "/orders/export.csv")
    assert len(list(csv.reader(io.StringIO(everything.text())))) == 24  # header + 23

    v = journey("orders-viewer")
    v.sign_in(viewer.sub)
    nav(v.page, "Orders").click()
    expect(v.page.get_by_role("heading", name="My orders")).to_be_visible()
    expect(v.page.locator("#orders-empty")).to_contain_text("as a viewer you can browse the catalogue but not place orders")
    expect(v.page.get_by_role("link", name=re.compile("Export CSV"))).to_have_count(0)
    v.shot("viewer my orders empty")
    assert v.page.request.get(v.live_url + "/orders/export.csv").status == 403
