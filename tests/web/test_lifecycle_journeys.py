"""Browser journeys for the tenant lifecycle: product image upload straight to S3 (the moto server),
the audit trail, usage, export with progress and download, owner deletion and platform offboarding
with its receipt. Same checks on every page as the other journeys (conftest.Journey.shot)."""
from __future__ import annotations

import io
import zipfile

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from products.services import seed_demo_products
from tests.lifecycle.test_product_images import png
from tests.mailbox import wait_for_email

from .harness import journeys, register

pytestmark = pytest.mark.slow


@pytest.fixture
def files_journey(chromium, live_server, browser_settings, oidc_provider, running_worker):
    """Journeys whose pages may also talk to the S3 endpoint (uploads, images, downloads)."""
    s3 = django_settings.AWS_ENDPOINT_URLS["s3"].rstrip("/")
    with journeys(chromium, live_server.url, {live_server.url, oidc_provider.endpoint.rstrip("/"), s3}) as _open:
        yield _open


def nav(page, label: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True)


def loaded_width(page, selector: str) -> int:
    """The image's natural width once the browser has loaded it (the catalogue's thumbnails load
    lazily, after the page itself)."""
    page.wait_for_function("s => { const img = document.querySelector(s); return img && img.complete && img.naturalWidth > 0; }",
                           arg=selector)
    return page.locator(selector).evaluate("img => img.naturalWidth")


def test_admin_uploads_an_image_reads_the_audit_trail_sees_usage_and_exports(
        files_journey, oidc_provider, make_tenant, tmp_path):
    acme = make_tenant(name="Acme Outfitters")
    seed_demo_products(tenant_id=acme.id, count=3)
    register(oidc_provider, acme.admin)
    j = files_journey("lifecycle-admin")
    j.sign_in(acme.admin.sub)
    page = j.page

    # upload a product image: the form posts straight to S3, which sends the browser back
    nav(page, "Catalogue").click()
    page.locator("#products tbody tr a").first.click()
    image = tmp_path / "mug.png"
    image.write_bytes(png(40, 30))
    page.locator("#image-file").set_input_files(str(image))
    j.shot("product before upload")
    page.locator("#upload-image").click()
    expect(page.locator("#attach-image")).to_be_visible()  # S3 lands on a page that asks first
    j.shot("attach the uploaded image")
    page.locator("#confirm-attach").click()
    expect(page.locator(".message-success")).to_contain_text("image was uploaded")
    expect(page.locator("#product-image")).to_be_visible()
    assert loaded_width(page, "#product-image") == 40
    j.shot("product with image")
    nav(page, "Catalogue").click()
    expect(page.locator("#products img.thumb")).to_have_count(1)
    assert loaded_width(page, "#products img.thumb") == 40
    j.shot("catalogue with thumbnail")

    # a file that is not an image is refused, and nothing is shown for it
    page.locator("#products tbody tr a").nth(1).click()
    bogus = tmp_path / "not-an-image.png"
    bogus.write_bytes(b"#!/bin/sh\necho hi\n")
    page.locator("#image-file").set_input_files(str(bogus))
    page.locator("#upload-image").click()
    page.locator("#confirm-attach").click()
    expect(page.locator(".message-error")).to_contain_text("must be a PNG, JPEG, GIF or WebP")
    expect(page.locator("#product-image")).to_have_count(0)

    # the audit trail, filtered
    nav(page, "Audit").click()
    expect(page.locator("#audit tbody tr").first).to_contain_text("product.image_attached")
    j.shot("audit trail")
    # The filter form looks like the app's other filter forms: the date filters are boxes like the
    # text filters (same height, border and padding) in even columns, not narrow unstyled controls.
    text_box, date_box = page.locator("#f-actor"), page.locator("#f-since")
    style = "e => { const s = getComputedStyle(e); return [s.borderTopColor, s.paddingLeft, s.borderRadius]; }"
    assert date_box.evaluate(style) == text_box.evaluate(style)
    text_size, since_size, until_size = (page.locator(s).bounding_box() for s in ("#f-actor", "#f-since", "#f-until"))
    assert abs(since_size["height"] - text_size["height"]) <= 2
    assert abs(since_size["width"] - text_size["width"]) <= 2 and abs(until_size["width"] - text_size["width"]) <= 2
    page.get_by_label("Action").select_option("tenant.*")  # a select, not free text
    page.locator("#audit-filter").click()
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    expect(page.locator("#audit tbody tr")).to_contain_text("tenant.created")
    j.shot("audit filtered")
    # people and products by name, linked; a product's page links to its history
    page.get_by_label("Action").select_option("product.created")
    page.locator("#audit-filter").click()
    created = page.locator("#audit tbody tr").first
    expect(created.get_by_role("link")).to_have_count(1)
    created.get_by_role("link").click()
    product_name = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name="History").click()
    expect(page.locator("#audit tbody tr").last).to_contain_text("product.created")
    expect(page.locator("#audit tbody tr").last.get_by_role("link", name=product_name)).to_be_visible()
    j.shot("product history")

    # Settings -> Usage
    nav(page, "Settings").click()
    page.locator("#usage-link").click()
    expect(page.locator('#plan-limits tr[data-limit="products"]')).to_contain_text("3")
    expect(page.locator('#plan-limits tr[data-limit="webhook_subscriptions"] td').first).to_have_text(
        "Webhook subscriptions")
    j.shot("usage")

    # export, watch it finish, download it
    nav(page, "Settings").click()
    page.locator("#export-link").click()
    page.locator("#start-export").click()
    row = page.locator("#exports tbody tr").first
    expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
    done, total = row.locator("progress").get_attribute("value"), row.locator("progress").get_attribute("max")
    assert done == total and int(total) >= 5  # entities done / total
    j.shot("export ready")
    with page.expect_download() as download:
        row.locator(".download-export").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert {"products.ndjson", "audit.ndjson", "members.ndjson"} <= set(archive.namelist())
    assert len(archive.read("products.ndjson").splitlines()) == 3


def test_owner_deletes_the_tenant_by_typing_its_name(files_journey, oidc_provider, make_tenant, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 3600
    globex = make_tenant(name="Globex Supplies")
    register(oidc_provider, globex.admin)
    j = files_journey("lifecycle-owner-delete")
    j.sign_in(globex.admin.sub)
    page = j.page
    nav(page, "Settings").click()
    page.locator("#delete-link").click()
    j.shot("delete tenant")
    page.get_by_label("Type Globex Supplies to confirm").fill("globex supplies")
    page.locator("#confirm-delete").click()
    expect(page.locator("#delete-errors")).to_contain_text("not the tenant's name")
    j.shot("delete refused")
    page.get_by_label("Type Globex Supplies to confirm").fill("Globex Supplies")
    page.locator("#confirm-delete").click()
    expect(page.locator(".message-success")).to_contain_text("closed now")
    j.shot("after delete")
    # The owner still gets everything out: the final export, from the home page, while the tenant is closed.
    leaving = page.locator(f'#leaving li[data-tenant-id="{globex.id}"]')
    for _ in range(30):
        if leaving.get_attribute("data-ready") == "true":
            break
        page.wait_for_timeout(500)
        page.goto(j.live_url + "/")
    expect(leaving).to_have_attribute("data-ready", "true")
    j.shot("final export ready")
    with page.expect_download() as download:
        leaving.locator(".download-final-export").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert {"products.ndjson", "members.ndjson", "manifest.json"} <= set(archive.namelist())
    page.goto(j.live_url + "/catalogue/")
    expect(page.locator(".error-page")).to_have_attribute("data-status", "403")
    # ... and changes their mind during the grace period: the undo, and an email saying so
    page.goto(j.live_url + "/")
    page.get_by_role("button", name="Cancel the deletion of Globex Supplies").click()
    expect(page.locator(".message-success")).to_contain_text("The deletion of Globex Supplies was cancelled")
    j.shot("deletion cancelled")
    page.goto(j.live_url + "/catalogue/")
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    subjects = [m.subject for m in wait_for_email(globex.admin.email, count=3)]
    assert {"Globex Supplies is scheduled for deletion", "The final export of Globex Supplies is ready",
            "The deletion of Globex Supplies was cancelled"} <= set(subjects)


def test_platform_admin_offboards_a_tenant_and_reads_the_receipt(
        files_journey, oidc_provider, make_tenant, make_user, platform_admin, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 0
    initech = make_tenant(name="Initech")
    seed_demo_products(tenant_id=initech.id, count=2)
    register(oidc_provider, platform_admin, groups=["system_admin"])
    j = files_journey("lifecycle-platform-offboard")
    j.sign_in(platform_admin.sub)
    page = j.page
    page.goto(f"{j.live_url}/platform/{initech.id}/")
    page.locator("#offboard").click()
    j.shot("offboard confirm")
    page.locator("#confirm-offboard").click()
    expect(page.locator("#offboarding-status")).to_be_visible()
    page.goto(f"{j.live_url}/platform/{initech.id}/receipt")
    for _ in range(60):
        if page.locator("#offboarding-status").inner_text() == "completed":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("#offboarding-status")).to_have_text("completed")
    expect(page.locator("#receipt-counts")).to_contain_text("product")
    j.shot("deletion receipt")
    page.goto(f"{j.live_url}/platform/audit/?action=tenant.deleted")
    expect(page.locator("#audit tbody tr").first).to_contain_text("tenant.deleted")
    j.shot("platform audit")
