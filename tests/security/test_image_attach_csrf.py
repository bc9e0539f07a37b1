"""No state change on GET. S3 sends the browser back to ``/catalogue/<id>/image/attached?upload=``
after a browser upload; that address used to attach (or, for a bad file, delete) the upload at once,
so any site could make a signed-in manager's browser attach an upload, and the audit trail named the
manager. Now the GET shows a confirming page; only its POST form (with the CSRF token) attaches."""
from __future__ import annotations

import re

import pytest

from tests.lifecycle.test_product_images import png, start, upload
from tests.products.factories import create_product
from tests.web.test_sessions_and_errors import signed_in

pytestmark = pytest.mark.slow


def image_of(client, product_id: str):
    return client.get(f"/api/v1/products/{product_id}").json()["image_url"]


def test_a_cross_site_navigation_attaches_nothing(live_server, browser_settings, oidc_provider, tenant_a, manager):
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])  # an upload the attacker made (or saw) and not yet attached
    assert upload(form, png(2, 2)).status_code in (201, 204)
    browser = signed_in(live_server, oidc_provider, manager)

    # a link or redirect on another site: a top-level GET carries the (SameSite=Lax) session cookie
    landed = browser.get(f"{live_server.url}/catalogue/{product['id']}/image/attached?upload={form['upload_id']}",
                         headers={"Referer": "https://attacker.example/"})
    assert landed.status_code == 200
    assert image_of(manager.client(), product["id"]) is None, "a GET attached the upload"

    # the confirming page's form (POST + CSRF token) attaches it; a POST without the token does not
    assert 'name="csrfmiddlewaretoken"' in landed.text and form["upload_id"] in landed.text
    action = re.search(r'<form method="post" action="([^"]+)"[^>]*id="attach-image"', landed.text).group(1)
    forged = browser.post(f"{live_server.url}{action}", data={"upload": form["upload_id"]},
                          headers={"Referer": f"{live_server.url}/"})
    assert forged.status_code == 403 and image_of(manager.client(), product["id"]) is None
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', landed.text).group(1)
    attached = browser.post(f"{live_server.url}{action}", data={"upload": form["upload_id"],
                                                                 "csrfmiddlewaretoken": token},
                            headers={"Referer": landed.url})
    assert attached.status_code == 200 and "image was uploaded" in attached.text
    assert image_of(manager.client(), product["id"]) is not None
