"""Server-side sessions, error pages, CSP and static files, seen over HTTP as a browser sees them
(a real HTTP client against the live server, sign-in through the local OIDC provider)."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from products import services as products_services
from saas.errors import ServiceUnavailable
from saas.tenancy import system_context
from saas.tenancy.store import DoesNotExist, StoreUnavailable, VersionConflict, transact_write
from tenants.models import Member, UserMembership
from tests.tenants.test_browser_signin import csrf, new_session, sign_in
from tests.webhooks.factories import ENDPOINTS
from websessions.backend import SESSION_ITEM, WebSession

from .harness import register

pytestmark = pytest.mark.slow


def signed_in(live_server, oidc_provider, user, groups=(), next_path="/"):
    register(oidc_provider, user, groups)
    browser = new_session()
    page = sign_in(browser, live_server.url, user.sub, next_path=next_path)
    assert page.status_code == 200
    return browser


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(live_server, browser_settings, oidc_provider,
                                                                tenant_a):
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    key = browser.cookies["sessionid"]
    copy = new_session()
    copy.cookies.set("sessionid", key)
    assert copy.get(f"{live_server.url}/api/v1/me").json()["user"]["id"] == tenant_a.admin.sub
    with system_context(reason="test: the session record"):
        assert WebSession.objects.get(key, SESSION_ITEM)["user_id"] == tenant_a.admin.sub

    out = browser.post(f"{live_server.url}/oidc/logout/", data={"csrfmiddlewaretoken": csrf(browser)},
                       allow_redirects=False)
    assert out.status_code == 302
    assert copy.get(f"{live_server.url}/api/v1/me").status_code == 401  # the replayed cookie is refused
    assert copy.get(f"{live_server.url}/catalogue/", allow_redirects=False).headers["Location"].startswith("/login/")
    with system_context(reason="test: the session record"), pytest.raises(DoesNotExist):
        WebSession.objects.get(key, SESSION_ITEM)


def test_sign_out_of_all_sessions_ends_the_other_devices_too(live_server, browser_settings, oidc_provider, tenant_a):
    laptop = signed_in(live_server, oidc_provider, tenant_a.admin)
    phone = signed_in(live_server, oidc_provider, tenant_a.admin)
    assert laptop.cookies["sessionid"] != phone.cookies["sessionid"]
    assert phone.get(f"{live_server.url}/api/v1/me").status_code == 200
    ended = laptop.post(f"{live_server.url}/settings/sessions/end", data={"csrfmiddlewaretoken": csrf(laptop)})
    assert urlsplit(ended.url).path == "/login/" and "signed out of all your sessions (2)" in ended.text
    assert phone.get(f"{live_server.url}/api/v1/me").status_code == 401
    assert laptop.get(f"{live_server.url}/api/v1/me").status_code == 401


def test_an_expired_session_goes_to_sign_in_with_a_message_and_comes_back(live_server, browser_settings,
                                                                          oidc_provider, tenant_a):
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    key = browser.cookies["sessionid"]
    with system_context(reason="test: expire the session"):  # TTL deletion is lazy: expiry is checked on read
        item = WebSession.objects.get(key, SESSION_ITEM)
        WebSession.objects.put(key, SESSION_ITEM, must_exist=True, data=item["data"], user_id=item["user_id"],
                               expires_at=int(time.time()) - 1)
    response = browser.get(f"{live_server.url}/orders/?page=2", allow_redirects=False)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).path == "/login/" and parse_qs(urlsplit(location).query)["next"] == ["/orders/?page=2"]
    login = browser.get(f"{live_server.url}{location}")
    assert "Your session has ended" in login.text
    back = sign_in(browser, live_server.url, tenant_a.admin.sub, next_path="/orders/?page=2")
    assert urlsplit(back.url).path == "/orders/" and "page=2" in back.url


def test_a_membership_removed_by_another_process_takes_effect_on_the_next_request(live_server, browser_settings,
                                                                                  oidc_provider, tenant_a, make_user):
    member = tenant_a.add(make_user, "member")
    browser = signed_in(live_server, oidc_provider, member)
    assert browser.get(f"{live_server.url}/catalogue/").status_code == 200  # this process has it cached now
    # Another process removes the membership: nothing invalidates this process's cache.
    with system_context(reason="test: remove membership elsewhere"):
        mirror = UserMembership.objects.get(member.sub, tenant_a.id, consistent=True)
        transact_write([UserMembership.objects.delete_op(member.sub, tenant_a.id)])
    from saas.tenancy import tenant_context

    with tenant_context(tenant_a.id, roles={"admin"}):
        row = Member.objects.get(member.sub, consistent=True)
        transact_write([Member.objects.delete_op(member.sub, expected_version=row["version"])])
    assert mirror["role"] == "member"
    response = browser.get(f"{live_server.url}/catalogue/", allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/start/"
    assert browser.get(f"{live_server.url}/api/v1/tenants/current").status_code == 403


def test_losing_the_platform_admin_group_takes_effect_on_the_next_request(live_server, browser_settings,
                                                                         oidc_provider, platform_admin, cognito,
                                                                         settings):
    browser = signed_in(live_server, oidc_provider, platform_admin, groups=["system_admin"])
    assert browser.get(f"{live_server.url}/platform/").status_code == 200
    assert browser.get(f"{live_server.url}/api/v1/admin/tenants").status_code == 200
    cognito.admin_remove_user_from_group(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=platform_admin.email,
                                         GroupName="system_admin")
    refused = browser.get(f"{live_server.url}/platform/")
    assert refused.status_code == 403 and "Only platform administrators" in refused.text
    assert browser.get(f"{live_server.url}/api/v1/admin/tenants").status_code == 403
    assert 'href="/platform/"' not in browser.get(f"{live_server.url}/").text  # the menu forgets it too


# --- error pages -----------------------------------------------------------------------------------------
def test_error_pages_are_styled_with_a_way_back_and_the_api_keeps_json(live_server, browser_settings, oidc_provider,
                                                                       tenant_a):
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    missing = browser.get(f"{live_server.url}/catalogue/no-such-product/")
    assert missing.status_code == 404 and 'id="way-back"' in missing.text and "app.css" in missing.text
    anonymous = new_session().get(f"{live_server.url}/nowhere")
    assert anonymous.status_code == 404 and 'id="way-back"' in anonymous.text

    wrong_method = browser.get(f"{live_server.url}/switch-tenant")
    assert wrong_method.status_code == 405 and 'id="way-back"' in wrong_method.text
    assert wrong_method.headers["Allow"] == "POST"

    stale = browser.post(f"{live_server.url}/switch-tenant", data={"tenant_id": tenant_a.id,
                                                                   "csrfmiddlewaretoken": "stale-token" * 4},
                         headers={"Referer": f"{live_server.url}/catalogue/"})
    assert stale.status_code == 403 and "This form had expired" in stale.text and "Nothing was changed" in stale.text
    assert f'href="{live_server.url}/catalogue/"' in stale.text  # reload the page it came from

    forged = browser.get(f"{live_server.url}/oidc/callback/?code=stolen&state=forged")
    assert forged.status_code == 400 and 'id="way-back"' in forged.text

    api = browser.get(f"{live_server.url}/api/v1/no-such-thing")
    assert api.status_code == 404 and api.headers["Content-Type"].startswith("application/json")
    assert api.json()["code"] == "not_found"
    api_405 = browser.delete(f"{live_server.url}/api/v1/me", headers={"X-CSRFToken": csrf(browser)})
    assert api_405.status_code == 405 and api_405.headers["Content-Type"].startswith("application/json")


def test_a_form_action_that_fails_says_why_on_the_page_it_returns_to(live_server, browser_settings, oidc_provider,
                                                                      tenant_a, make_user, monkeypatch):
    """``web_page(back=...)``: whatever application error the action meets (an invitation that is not
    there, 404; the data store down, 503) is a message on the page the action returns to, the same
    page a success returns to: not an error page, not a form error, nothing half done."""
    member = tenant_a.add(make_user, "member")
    browser = signed_in(live_server, oidc_provider, member)
    gone = browser.post(f"{live_server.url}/invitations/no-such-invitation/accept",
                        data={"csrfmiddlewaretoken": csrf(browser)})
    assert gone.status_code == 200 and urlsplit(gone.url).path == "/" and "No such invitation." in gone.text

    def store_down(**_):
        raise StoreUnavailable("test: DynamoDB does not answer")

    monkeypatch.setattr("tenants.services.leave_tenant", store_down)
    outage = browser.post(f"{live_server.url}/memberships/{tenant_a.id}/leave",
                          data={"csrfmiddlewaretoken": csrf(browser)})
    assert outage.status_code == 200 and urlsplit(outage.url).path == "/"
    assert "dynamodb is unavailable; try again shortly." in outage.text and "You left the tenant" not in outage.text
    assert browser.get(f"{live_server.url}/catalogue/").status_code == 200  # still a member


def test_a_bulk_change_says_for_each_product_why_it_was_not_changed(live_server, browser_settings, oidc_provider,
                                                                    tenant_a, monkeypatch):
    """The catalogue's bulk change tries each product on its own; the page names the ones it did not
    change with the reason of each (a concurrent change, the data store down, deleted meanwhile),
    never one blanket reason, and changes the rest."""
    api = tenant_a.admin.client()
    ids = {}
    for sku in ("BULK-OK", "BULK-RACED", "BULK-DOWN"):
        created = api.post("/api/v1/products", {"sku": sku, "name": sku.title(), "price": "1.00", "currency": "USD",
                                                "stock": 1}, format="json")
        ids[sku] = created.json()["id"]
    real_update = products_services.update_product

    def update(*, product_id, changes, **kwargs):
        if product_id == ids["BULK-RACED"]:
            raise VersionConflict("product was changed by someone else")
        if product_id == ids["BULK-DOWN"]:
            raise StoreUnavailable("test: DynamoDB does not answer")
        return real_update(product_id=product_id, changes=changes, **kwargs)

    monkeypatch.setattr(products_services, "update_product", update)
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    page = browser.post(f"{live_server.url}/catalogue/bulk", data={
        "selected": [*ids.values(), "no-such-product"], "action": "price", "value": "9.50",
        "csrfmiddlewaretoken": csrf(browser)})
    assert page.status_code == 200 and urlsplit(page.url).path == "/catalogue/"
    assert "1 product changed." in page.text
    assert "Not changed (changed by someone else meanwhile): Bulk-Raced." in page.text
    assert "Not changed (dynamodb is unavailable; try again shortly): Bulk-Down." in page.text
    assert "1 selected product was deleted meanwhile." in page.text
    prices = {sku: api.get(f"/api/v1/products/{pid}").json()["price"] for sku, pid in ids.items()}
    assert prices == {"BULK-OK": "9.50", "BULK-RACED": "1.00", "BULK-DOWN": "1.00"}


def test_a_webhook_form_refused_for_a_reason_not_about_a_field_says_so_above_the_form(
        live_server, browser_settings, oidc_provider, tenant_a, monkeypatch):
    """SNS down while an endpoint is created: a 503 page whose message says nothing was saved, the
    form keeps what was typed, and the URL field is not marked wrong (it is not)."""
    def sns_down(name):
        raise ServiceUnavailable("sns")

    monkeypatch.setattr("webhooks.sns.create_topic", sns_down)
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    url = "http://127.0.0.1:9/warehouse"
    page = browser.post(f"{live_server.url}/webhooks/", data={
        "form": "endpoint", "url": url, "description": "Warehouse", "event_types": ["product.created"],
        "csrfmiddlewaretoken": csrf(browser)})
    assert page.status_code == 503
    assert "Nothing was saved: sns is unavailable; try again shortly." in page.text
    assert f'value="{url}"' in page.text and 'id="endpoint-url-errors"' not in page.text
    assert tenant_a.admin.client().get(ENDPOINTS).json()["results"] == []


def test_the_server_error_page_needs_nothing_that_may_be_down(rf):
    from saas.web import server_error

    page = server_error(rf.get("/catalogue/"))
    assert page.status_code == 500 and b'id="way-back"' in page.content
    api = server_error(rf.get("/api/v1/products"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"


# --- CSP, static files, API docs -----------------------------------------------------------------------
def test_pages_carry_a_nonce_csp_and_serve_their_own_assets(live_server, browser_settings, oidc_provider, tenant_a):
    browser = signed_in(live_server, oidc_provider, tenant_a.admin)
    page = browser.get(f"{live_server.url}/catalogue/")
    policy = page.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    nonce = next(v for v in directives["script-src"] if v.startswith("'nonce-"))[7:-1]
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts and all(f'nonce="{nonce}"' in s and "src=" in s for s in scripts)  # no inline script
    assert " style=" not in page.text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert any("htmx" in a for a in assets) and any(a.endswith("app.css") for a in assets)
    for asset in assets:
        assert browser.get(f"{live_server.url}{asset}").status_code == 200, asset
    assert not re.search(r'(?:src|href)="https?://', page.text)  # nothing from a CDN

    docs = browser.get(f"{live_server.url}/api/docs/")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    doc_assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert doc_assets and all(a.startswith("/") for a in doc_assets)
    for asset in doc_assets:
        assert browser.get(f"{live_server.url}{asset}").status_code == 200, asset
    assert "'unsafe-inline'" not in dict((d.split()[0], d) for d in docs.headers["Content-Security-Policy"].split("; "))[
        "script-src"]


def test_a_platinum_request_shows_its_progress_and_the_page_keeps_watching(live_server, browser_settings,
                                                                           oidc_provider, make_user):
    owner = make_user()
    browser = signed_in(live_server, oidc_provider, owner)
    page = browser.post(f"{live_server.url}/start/", data={"name": "Silo Co", "tier": "platinum",
                                                           "csrfmiddlewaretoken": csrf(browser)})
    assert page.status_code == 200 and urlsplit(page.url).path == "/"  # Home shows the request until approved
    assert 'id="pending-request-' in page.text and "Silo Co" in page.text and "waiting for a platform operator" in page.text
    page = browser.get(f"{live_server.url}/start/")
    assert "Silo Co" in page.text and "pending_approval" in page.text
    assert 'hx-get="/start/progress"' in page.text and 'hx-trigger="every 2s"' in page.text
    fragment = browser.get(f"{live_server.url}/start/progress")
    assert fragment.status_code == 200 and "Silo Co" in fragment.text and 'hx-trigger="every 2s"' in fragment.text
