"""Product images on S3 (the moto server): presigned POST, checked attach, presigned GET, isolation.

moto accepts any POST form without checking the policy (signature, key, size, content type), so
these tests check the policy document we sign (what S3 enforces) *and* prove that our attach step
re-checks size and content by itself, which is what protects us when the policy is not enforced.
"""
from __future__ import annotations

import base64
import json
import struct
import time
import zlib

import pytest
import requests

from saas import files
from saas.tenancy import tenant_context
from saas.tenancy.store import DoesNotExist
from tests.products.factories import create_product

from .factories import trail


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def upload(form: dict, content: bytes, content_type: str = "image/png") -> requests.Response:
    fields = {**form["fields"], "Content-Type": content_type}
    return requests.post(form["url"], data=fields, files={"file": ("image.png", content, content_type)}, timeout=10)


def start(client, product_id: str) -> dict:
    response = client.post(f"/api/v1/products/{product_id}/image/upload")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_signed_policy_pins_key_size_type_and_expiry(tenant_a, manager, settings):
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    key = form["fields"]["key"]
    assert key == f"uploads/{tenant_a.id}/products/{product['id']}/{form['upload_id']}"
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"key": key} in conditions  # exactly this key: no other object can be written with the form
    assert ["content-length-range", 1, settings.PRODUCT_IMAGE_MAX_BYTES] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert {"bucket": files.bucket_name()} in conditions
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 0 < expires - time.time() <= settings.FILES_UPLOAD_EXPIRE_SECONDS + 5
    assert "x-amz-signature" in form["fields"]


def test_browser_upload_attach_and_short_lived_download(tenant_a, manager, viewer):
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    image = png(3, 2)
    assert upload(form, image).status_code in (201, 204)

    response = manager.client().put(f"/api/v1/products/{product['id']}/image", {"upload_id": form["upload_id"]},
                                    format="json")
    assert response.status_code == 200, response.content
    url = response.json()["image_url"]
    assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url
    assert requests.get(url, timeout=10).content == image

    # Everyone who can read the catalogue sees it, in the list too.
    listed = viewer.client().get("/api/v1/products").json()["results"]
    shown = next(p for p in listed if p["id"] == product["id"])
    assert requests.get(shown["image_url"], timeout=10).content == image

    record = [r for r in trail(tenant_a.id) if r["action"] == "product.image_attached"][-1]
    attached = record["changes"]["image_key"][1]
    assert record["changes"]["image_key"][0] is None
    assert attached.startswith(f"tenants/{tenant_a.id}/products/{product['id']}/images/{form['upload_id']}-")
    assert record["actor_id"] == manager.sub
    with tenant_context(tenant_a.id):
        assert files.head(form["fields"]["key"]) is None  # the upload itself is gone once attached

    # Replacing it deletes the old object; removing it clears the link.
    second = start(manager.client(), product["id"])
    upload(second, png(1, 1))
    manager.client().put(f"/api/v1/products/{product['id']}/image", {"upload_id": second["upload_id"]}, format="json")
    second_key = [r for r in trail(tenant_a.id) if r["action"] == "product.image_attached"][-1]["changes"]["image_key"][1]
    with tenant_context(tenant_a.id):
        assert files.head(attached) is None
    removed = manager.client().delete(f"/api/v1/products/{product['id']}/image")
    assert removed.status_code == 200 and removed.json()["image_url"] is None
    with tenant_context(tenant_a.id):
        assert files.head(second_key) is None


@pytest.mark.parametrize("content, content_type", [
    (b"#!/bin/sh\necho not an image\n", "image/png"),   # declared an image, is not one
    (b"<svg onload=alert(1)>", "image/svg+xml"),        # SVG (scriptable) is not accepted
])
def test_a_file_that_is_not_an_image_is_refused_and_deleted(manager, tenant_a, content, content_type):
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    assert upload(form, content, content_type).status_code in (201, 204)  # moto does not enforce the policy
    response = manager.client().put(f"/api/v1/products/{product['id']}/image", {"upload_id": form["upload_id"]},
                                    format="json")
    assert response.status_code == 400 and "upload_id" in response.json()["fields"]
    with tenant_context(tenant_a.id):
        assert files.head(form["fields"]["key"]) is None
    assert manager.client().get(f"/api/v1/products/{product['id']}").json()["image_url"] is None


def test_an_oversized_file_is_refused_even_when_the_store_accepted_it(manager, tenant_a, settings):
    settings.PRODUCT_IMAGE_MAX_BYTES = 1000
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    assert upload(form, png(200, 200) + b"\x00" * 2000).status_code in (201, 204)
    response = manager.client().put(f"/api/v1/products/{product['id']}/image", {"upload_id": form["upload_id"]},
                                    format="json")
    assert response.status_code == 400
    with tenant_context(tenant_a.id):
        assert files.head(form["fields"]["key"]) is None


def test_no_tenant_reaches_another_tenants_objects(tenant_a, tenant_b, manager):
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    upload(form, png())
    b_admin = tenant_b.admin.client()
    b_product = create_product(b_admin)

    # B cannot start an upload for, attach to, or read A's product: 404, as if it did not exist.
    assert b_admin.post(f"/api/v1/products/{product['id']}/image/upload").status_code == 404
    assert b_admin.put(f"/api/v1/products/{product['id']}/image", {"upload_id": form["upload_id"]},
                       format="json").status_code == 404
    # A guessed (even a correct) upload id of A's object, attached to B's own product, finds nothing:
    # the key is rebuilt under B's prefix, never taken from the request.
    stolen = b_admin.put(f"/api/v1/products/{b_product['id']}/image", {"upload_id": form["upload_id"]}, format="json")
    assert stolen.status_code == 400
    assert b_admin.get(f"/api/v1/products/{b_product['id']}").json()["image_url"] is None
    # A client cannot send a key at all.
    sneaky = b_admin.put(f"/api/v1/products/{b_product['id']}/image",
                         {"upload_id": form["upload_id"], "key": form["fields"]["key"]}, format="json")
    assert sneaky.status_code == 400 and "key" in sneaky.json()["fields"]
    # And below the API, the file helpers refuse a key outside the tenant in context.
    with tenant_context(tenant_b.id):
        for call in (files.head, files.delete, files.presigned_get, files.first_bytes):
            with pytest.raises(DoesNotExist):
                call(form["fields"]["key"])
    with tenant_context(tenant_a.id):
        assert files.head(form["fields"]["key"]) is not None  # untouched


def test_viewers_cannot_upload(viewer, manager):
    product = create_product(manager.client())
    assert viewer.client().post(f"/api/v1/products/{product['id']}/image/upload").status_code == 403


# --- an upload form is good for one attach; unattached uploads are counted and expire -----------------
def _attach(client, product_id: str, upload_id: str):
    return client.put(f"/api/v1/products/{product_id}/image", {"upload_id": upload_id}, format="json")


def test_an_attached_image_cannot_be_replaced_through_its_still_valid_form(tenant_a, manager):
    """The form stays valid for FILES_UPLOAD_EXPIRE_SECONDS after the attach; writing through it again
    must neither change the attached image nor attach the new content."""
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    original = png(2, 2)
    upload(form, original)
    attached = _attach(manager.client(), product["id"], form["upload_id"])
    assert attached.status_code == 200, attached.content

    assert upload(form, png(9, 9)).status_code in (201, 204)  # the still-valid form, used again
    shown = manager.client().get(f"/api/v1/products/{product['id']}").json()["image_url"]
    assert requests.get(shown, timeout=10).content == original, "the attached image was replaced through its form"
    again = _attach(manager.client(), product["id"], form["upload_id"])
    assert again.status_code == 400 and "already attached" in again.json()["fields"]["upload_id"][0]
    shown = manager.client().get(f"/api/v1/products/{product['id']}").json()["image_url"]
    assert requests.get(shown, timeout=10).content == original


def test_unattached_uploads_are_counted_in_usage(tenant_a, manager):
    product = create_product(manager.client())
    before = tenant_a.admin.client().get("/api/v1/tenants/current/usage").json().get("unattached_upload_bytes", 0)
    sizes = []
    for n in (40, 60):
        content = png(n, n)
        upload(start(manager.client(), product["id"]), content)
        sizes.append(len(content))
    usage = tenant_a.admin.client().get("/api/v1/tenants/current/usage").json()
    assert usage.get("unattached_upload_bytes", 0) - before == sum(sizes), usage.get("unattached_upload_bytes")


def test_new_forms_are_refused_while_unattached_uploads_hold_too_much(tenant_a, manager, settings):
    settings.FILES_PENDING_UPLOADS_MAX_BYTES = 500
    product = create_product(manager.client())
    upload(start(manager.client(), product["id"]), png(30, 30) + b"\x00" * 600)
    refused = manager.client().post(f"/api/v1/products/{product['id']}/image/upload")
    assert refused.status_code == 409 and refused.json()["code"] == "too_many_pending_uploads"


def test_the_bucket_expires_what_the_forms_write(tenant_a, manager):
    """S3 lifecycle rules match a key by prefix and expire the object ``Days`` after it was written
    (S3 queues the removal asynchronously, usually within a day of eligibility). The moto server
    stores the rule but never runs it, so this checks that the rule exists and covers the exact key
    an upload form writes to, and does not cover attached images."""
    product = create_product(manager.client())
    form = start(manager.client(), product["id"])
    rules = files.s3_client().get_bucket_lifecycle_configuration(Bucket=files.bucket_name())["Rules"]
    expiring = [r for r in rules if r["Status"] == "Enabled" and "Expiration" in r]
    assert any(form["fields"]["key"].startswith(r["Filter"]["Prefix"]) and r["Expiration"]["Days"] <= 1
               for r in expiring), rules
    upload(form, png())
    attached = _attach(manager.client(), product["id"], form["upload_id"])
    assert attached.status_code == 200
    kept = [r for r in trail(tenant_a.id) if r["action"] == "product.image_attached"][-1]["changes"]["image_key"][1]
    assert not any(kept.startswith(r["Filter"]["Prefix"]) for r in expiring)
