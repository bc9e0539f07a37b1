"""Catalogue CSV import (a per-line report, nothing written when a line is wrong), CSV export, and
bulk changes to selected products, in the browser."""
from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from products import selectors as product_selectors
from saas.tenancy import tenant_context

from .harness import register
from .test_journeys import nav

pytestmark = pytest.mark.slow

GOOD = "sku,name,price,currency,stock,category\nTEA-1,Earl Grey Tea,7.20,USD,10,tea\nTEA-2,Green Tea,6.00,USD,5,tea\n"
BAD = ("sku,name,price,currency,stock,category\nTEA-3,Oolong,4.5.0,USD,3,tea\nTEA-1,Earl Grey again,1.00,USD,1,tea\n"
       "TEA-4,Chai,5.00,XXX,-2,Tea Time\nTEA-5,Mint,2.00,USD,1,tea\nTEA-5,Mint twice,2.00,USD,1,tea\n")


def test_a_manager_imports_exports_and_changes_products_in_bulk(journey, oidc_provider, make_tenant, make_user,
                                                                 tmp_path):
    shop = make_tenant(name="Files Co")
    manager = shop.add(make_user, "manager")
    register(oidc_provider, manager)
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "bad.csv").write_text(BAD)

    j = journey("catalogue-files")
    j.sign_in(manager.sub)
    page = j.page
    nav(page, "Catalogue").click()
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(tmp_path / "good.csv"))
    page.get_by_role("button", name="Check and import").click()
    expect(page.locator(".message-success")).to_contain_text("2 products imported")
    expect(page.locator("#products tbody tr")).to_have_count(2)

    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(tmp_path / "bad.csv"))
    page.get_by_role("button", name="Check and import").click()
    expect(page.locator("#import-error")).to_contain_text("Nothing was imported: 4 lines need fixing (1 other is fine)")
    problems = page.locator("#import-problems tbody tr")
    expect(problems).to_have_count(4)
    expect(problems.nth(0)).to_contain_text("price")           # line 2: 4.5.0
    expect(problems.nth(1)).to_contain_text("already in the catalogue")  # line 3: TEA-1
    expect(problems.nth(2)).to_contain_text("currency")        # line 4: XXX, -2, "Tea Time"
    expect(problems.nth(3)).to_contain_text("also on line 5")  # line 6: TEA-5 twice
    j.shot("import report")
    with tenant_context(shop.id, roles={"viewer"}):
        assert product_selectors.find_products(text="mint").count == 0  # nothing written

    nav(page, "Catalogue").click()
    exported = page.request.get(j.live_url + page.get_by_role("link", name="Export CSV").get_attribute("href"))
    rows = list(csv.DictReader(io.StringIO(exported.text())))
    assert sorted((r["sku"], r["price"], r["stock"]) for r in rows) == [("TEA-1", "7.20", "10"), ("TEA-2", "6.00", "5")]

    # bulk: set the price of both, then delete one after confirming
    page.get_by_label("Select Earl Grey Tea").check()
    page.get_by_label("Select Green Tea").check()
    page.get_by_label("With the selected products").select_option("price")
    page.get_by_label("New price or stock").fill("8.50")
    j.shot("bulk price")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".message-success")).to_contain_text("2 products changed")
    expect(page.locator("#products")).to_contain_text("8.50 USD")
    page.get_by_label("Select Green Tea").check()
    page.get_by_label("With the selected products").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Delete 1 product?")).to_be_visible()
    j.shot("bulk delete confirm")
    page.get_by_role("button", name="Delete 1 product").click()
    expect(page.locator(".message-success")).to_contain_text("1 product deleted")
    expect(page.locator("#products tbody tr")).to_have_count(1)
    j.shot("after bulk")
