"""A tenant admin's webhook endpoint in the browser: create one for several event types, copy its
secret, see the attempts with their status codes, resend one message, recover failures since a time.
Deliveries are made by the same code the worker runs, driven by the test (relay, queue, sweep)."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from devstack.webhook_receiver import EndpointReceiver
from saas.tenancy import tenant_context
from tests.factories import Clock
from tests.webhooks.factories import deliver_pending, sweep, verify
from webhooks import clock as delivery_clock
from webhooks.services import run_recovery
from webhooks.services.delivery import SCHEDULE

from .harness import register
from .test_journeys import htmx_idle, htmx_ready, nav

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver():
    r = EndpointReceiver()
    yield r
    r.stop()


def test_an_admin_creates_an_endpoint_copies_its_secret_sees_attempts_resends_and_recovers(
        journey, oidc_provider, make_tenant, receiver, monkeypatch):
    shop = make_tenant(name="Hooks Co")
    register(oidc_provider, shop.admin)
    j = journey("webhook endpoints")
    j.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=j.live_url)
    j.sign_in(shop.admin.sub)
    page = j.page
    nav(page, "Webhooks").click()

    # no event type chosen: refused on the field, nothing created
    url = receiver.url("/shop")
    page.get_by_label("Deliver to (URL)").fill(url)
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.locator("#endpoint-types-errors")).to_be_visible()
    expect(page.locator("#endpoints")).to_contain_text("No endpoints yet")
    j.shot("endpoint needs event types")

    page.get_by_label("Deliver to (URL)").fill(url)
    page.get_by_label("Description").fill("Warehouse system")
    page.get_by_label("product.created").check()
    page.get_by_label("product.updated").check()
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.locator("#endpoints")).to_contain_text(url)
    secret = page.locator("#new-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Copy secret").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    j.shot("endpoint created with its secret")

    # an event: delivered, signed; the endpoint's page shows the attempt with its status code
    api = shop.admin.client()
    assert api.post("/api/v1/products", {"sku": "J-1", "name": "n", "price": "1.00", "currency": "USD", "stock": 1},
                    format="json").status_code == 201
    deliver_pending(shop.id)
    [(headers, body)] = receiver.received("/shop")
    message_id = verify(secret, headers, body)["id"]
    page.get_by_role("link", name=url).click()
    expect(page.locator("#attempts")).to_contain_text("200")
    expect(page.locator("#attempts")).to_contain_text(message_id)
    j.shot("endpoint attempts")

    # resend that message: a second attempt, the same webhook-id
    page.get_by_role("button", name=f"Resend {message_id}").first.click()
    expect(page.locator(".message-success")).to_contain_text("will be sent again")
    sweep(shop.id)
    assert receiver.ids("/shop") == [message_id, message_id]
    page.reload()
    expect(page.locator("#attempts tbody tr")).to_have_count(2)

    # the endpoint fails for a while; filter the log to the failures; then recover since a time
    receiver.answer("/shop", 503)
    assert api.post("/api/v1/products", {"sku": "J-2", "name": "n", "price": "1.00", "currency": "USD", "stock": 1},
                    format="json").status_code == 201
    deliver_pending(shop.id)
    page.reload()
    htmx_ready(page)
    page.get_by_label("Outcome").select_option("failed")
    htmx_idle(page)
    expect(page.locator("#attempts tbody tr")).to_have_count(1)
    expect(page.locator("#attempts")).to_contain_text("503")
    j.shot("failed attempts")
    clock = Clock(time.time())  # the failing message's schedule runs out (27.5 h of retries, simulated)
    monkeypatch.setattr(delivery_clock, "now", clock)
    for delay in SCHEDULE[1:]:
        clock.now += delay
        sweep(shop.id)
    assert len(receiver.received("/shop")) == 2 + len(SCHEDULE)
    receiver.answer("/shop", 200)
    page.get_by_label("Failed since (UTC)").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Recover").click()
    expect(page.locator("#since-errors")).to_contain_text("kept 30 days")  # beyond the retention: refused
    from datetime import datetime, timedelta, timezone

    since = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Failed since (UTC)").fill(since)
    page.get_by_role("button", name="Recover").click()
    expect(page.locator(".message-success")).to_contain_text("Recovery started")
    recovery_id = re.search(r"recovery=([0-9a-f]+)", page.url).group(1)
    with tenant_context(shop.id):
        assert run_recovery(recovery_id=recovery_id)["requeued"] == 1
    sweep(shop.id)
    expect(page.locator("#recovery")).to_contain_text("done")
    assert len(receiver.received("/shop")) == 3 + len(SCHEDULE)  # created, resent, 8 failures, recovered
    j.shot("recovered")
