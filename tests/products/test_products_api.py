"""The products API against DynamoDB Local: contract status codes, ETags, roles, events, SKUs."""
from __future__ import annotations

import pytest

from products import services
from products.models import Product, ProductSku
from saas.tenancy import tenant_context
from saas.tenancy.store import DoesNotExist

from .factories import create_product, outbox_events, product_payload

CONTRACT_FIELDS = {"id", "sku", "name", "description", "price", "currency", "stock", "category", "image_url",
                   "created_at", "updated_at", "version"}


def url(product_id: str) -> str:
    return f"/api/v1/products/{product_id}"


# --- happy paths ------------------------------------------------------------------------------------
def test_create_returns_201_with_contract_fields_and_etag(manager, tenant_a):
    response = manager.client().post("/api/v1/products", product_payload(sku="MUG-1", price=12.5), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == CONTRACT_FIELDS
    assert body["sku"] == "MUG-1"
    assert body["price"] == "12.50"  # a JSON number in, a 2-place decimal string out
    assert body["stock"] == 5 and body["version"] == 1 and body["category"] == "widgets"
    assert response["ETag"] == f'"{body["id"]}:1"'

    with tenant_context(tenant_a.id):
        stored = Product.objects.get(body["id"])
        assert ProductSku.objects.get("MUG-1")["product_id"] == body["id"]
    assert stored["sku"] == "MUG-1" and stored["tenant_id"] == tenant_a.id


def test_get_returns_200_with_etag_for_viewer(manager, viewer):
    created = create_product(manager.client())
    response = viewer.client().get(url(created["id"]))
    assert response.status_code == 200
    assert response.json() == created
    assert response["ETag"] == f'"{created["id"]}:1"'


def test_optional_fields_take_defaults(manager):
    payload = {"sku": "PLAIN-1", "name": "Plain", "price": "0", "currency": "EUR"}
    response = manager.client().post("/api/v1/products", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["description"], body["stock"], body["category"], body["price"]) == ("", 0, None, "0.00")


def test_put_replaces_and_patch_changes_only_what_is_sent(manager):
    client = manager.client()
    created = create_product(client, description="old", stock=7)

    patched = client.patch(url(created["id"]), {"name": "Renamed"}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["description"] == "old" and patched.json()["stock"] == 7
    assert patched.json()["version"] == 2
    assert patched["ETag"] == f'"{created["id"]}:2"'

    replaced = client.put(url(created["id"]), {"sku": created["sku"], "name": "New", "price": "1.00",
                                               "currency": "GBP"}, format="json")
    assert replaced.status_code == 200, replaced.content
    body = replaced.json()
    assert (body["name"], body["price"], body["currency"]) == ("New", "1.00", "GBP")
    assert (body["description"], body["stock"], body["category"]) == ("", 0, None)  # PUT replaces
    assert body["version"] == 3 and body["created_at"] == created["created_at"]
    assert client.get(url(created["id"])).json() == body


def test_client_can_put_back_what_it_read(manager):
    client = manager.client()
    created = create_product(client)
    response = client.put(url(created["id"]), {**created, "stock": 8}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["stock"] == 8 and response.json()["id"] == created["id"]


def test_delete_is_204_then_404(manager):
    client = manager.client()
    created = create_product(client)
    response = client.delete(url(created["id"]))
    assert response.status_code == 204
    assert client.get(url(created["id"])).status_code == 404
    assert client.delete(url(created["id"])).status_code == 404


def test_patch_that_changes_nothing_writes_nothing(manager, tenant_a):
    client = manager.client()
    created = create_product(client, price="5.00")
    response = client.patch(url(created["id"]), {"price": 5, "name": created["name"]}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert [e["type"] for e in outbox_events(tenant_a.id, created["id"])] == ["product.created"]


def test_category_can_be_removed(manager):
    client = manager.client()
    created = create_product(client, category="gadgets")
    response = client.patch(url(created["id"]), {"category": None}, format="json")
    assert response.status_code == 200 and response.json()["category"] is None
    listed = client.get("/api/v1/products?category=gadgets").json()
    assert created["id"] not in [p["id"] for p in listed["results"]]


def test_unicode_text_round_trips(manager):
    client = manager.client()
    name = "Café ☕ 東京 — ünïcødé 🧪"
    created = create_product(client, name=name, description="𝔘𝔫𝔦𝔠𝔬𝔡𝔢 " * 100)
    assert client.get(url(created["id"])).json()["name"] == name


# --- auth and roles ----------------------------------------------------------------------------------
def test_without_token_every_endpoint_is_401(client, manager):
    created = create_product(manager.client())
    for method, path in (("get", "/api/v1/products"), ("post", "/api/v1/products"), ("get", url(created["id"])),
                         ("put", url(created["id"])), ("patch", url(created["id"])), ("delete", url(created["id"]))):
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401, (method, path)
    assert manager.client().get(url(created["id"])).json()["version"] == 1


def test_garbage_token_is_401(manager):
    response = manager.client(token="not.a.jwt").get("/api/v1/products")
    assert response.status_code == 401


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewer_and_member_can_read_but_not_write(role, tenant_a, make_user, manager):
    created = create_product(manager.client())
    client = tenant_a.add(make_user, role).client()
    assert client.get("/api/v1/products").status_code == 200
    assert client.get(url(created["id"])).status_code == 200
    assert client.post("/api/v1/products", product_payload(), format="json").status_code == 403
    assert client.put(url(created["id"]), product_payload(), format="json").status_code == 403
    assert client.patch(url(created["id"]), {"name": "x"}, format="json").status_code == 403
    response = client.delete(url(created["id"]))
    assert response.status_code == 403 and response.json()["code"] == "role_required"
    assert manager.client().get(url(created["id"])).json()["version"] == 1


def test_admin_can_write(tenant_a):
    assert create_product(tenant_a.admin.client())["version"] == 1


def test_user_without_a_tenant_gets_403(make_user):
    assert make_user().client().get("/api/v1/products").status_code == 403


# --- not found and cross-tenant ----------------------------------------------------------------------
@pytest.mark.parametrize("product_id", ["0" * 32, "nope", "x" * 500, "..", "%23TENANT", "%ED%A0%80", "%00", "%F0%9F%A7%AA"])
def test_unknown_product_is_404_for_every_method(manager, product_id):
    client = manager.client()
    assert client.get(url(product_id)).status_code == 404
    assert client.put(url(product_id), product_payload(), format="json").status_code == 404
    assert client.patch(url(product_id), {"name": "x"}, format="json").status_code == 404
    assert client.delete(url(product_id)).status_code == 404


def test_another_tenants_product_is_404_everywhere_and_unchanged(tenant_a, tenant_b):
    theirs = create_product(tenant_b.admin.client(), sku="SECRET-1", category="secret")
    etag = f'"{theirs["id"]}:1"'
    mine = tenant_a.admin.client()
    assert mine.get(url(theirs["id"])).status_code == 404
    assert mine.put(url(theirs["id"]), product_payload(), format="json", HTTP_IF_MATCH=etag).status_code == 404
    assert mine.patch(url(theirs["id"]), {"stock": 0}, format="json").status_code == 404
    assert mine.patch(url(theirs["id"]), {"stock": 0}, format="json", HTTP_IF_MATCH=etag).status_code == 404
    assert mine.delete(url(theirs["id"])).status_code == 404
    assert mine.delete(url(theirs["id"]), HTTP_IF_MATCH="*").status_code == 404
    assert theirs["id"] not in [p["id"] for p in mine.get("/api/v1/products?limit=100").json()["results"]]
    assert mine.get("/api/v1/products?category=secret").json() == {"results": [], "next_cursor": None}

    assert tenant_b.admin.client().get(url(theirs["id"])).json() == theirs
    assert [e["type"] for e in outbox_events(tenant_b.id, theirs["id"])] == ["product.created"]
    assert outbox_events(tenant_a.id) == []


def test_another_tenants_cursor_is_400(tenant_a, tenant_b):
    for _ in range(3):
        create_product(tenant_b.admin.client())
    their_cursor = tenant_b.admin.client().get("/api/v1/products?limit=1").json()["next_cursor"]
    assert their_cursor
    response = tenant_a.admin.client().get("/api/v1/products", {"limit": 1, "cursor": their_cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["fields"]


# --- lists -------------------------------------------------------------------------------------------
def test_45_products_page_through_completely_with_limit_20(manager, tenant_a):
    with tenant_context(tenant_a.id):
        ids = {services.create_product(sku=f"PAGE-{n:03d}", name=f"P{n}", price="1", currency="USD")["id"]
               for n in range(45)}
    client = manager.client()
    seen, sizes, cursor = [], [], None
    while True:
        params = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/products", params)
        assert response.status_code == 200
        body = response.json()
        sizes.append(len(body["results"]))
        seen += [p["id"] for p in body["results"]]
        assert all(set(p) == CONTRACT_FIELDS for p in body["results"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sizes == [20, 20, 5]
    assert len(seen) == 45 and set(seen) == ids


def test_default_limit_is_20(manager, tenant_a):
    with tenant_context(tenant_a.id):
        for n in range(21):
            services.create_product(sku=f"DEF-{n}", name="x", price="1", currency="USD")
    body = manager.client().get("/api/v1/products").json()
    assert len(body["results"]) == 20 and body["next_cursor"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "99999999999999999999999", "1e2"])
def test_bad_limit_is_400_naming_limit(manager, limit):
    response = manager.client().get("/api/v1/products", {"limit": limit})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["limit"]


def test_limit_bounds_are_accepted(manager):
    assert manager.client().get("/api/v1/products", {"limit": 1}).status_code == 200
    assert manager.client().get("/api/v1/products", {"limit": 100}).status_code == 200


def test_tampered_cursor_is_400_naming_cursor(manager, tenant_a):
    with tenant_context(tenant_a.id):
        for n in range(3):
            services.create_product(sku=f"CUR-{n}", name="x", price="1", currency="USD", category="c1")
    client = manager.client()
    cursor = client.get("/api/v1/products", {"limit": 1}).json()["next_cursor"]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for bad in (tampered, "garbage", "x" * 5000, "💥"):
        response = client.get("/api/v1/products", {"limit": 1, "cursor": bad})
        assert response.status_code == 400, bad
        assert list(response.json()["fields"]) == ["cursor"]
    # A cursor is bound to its query: the plain list's cursor does not work for a category list.
    response = client.get("/api/v1/products", {"limit": 1, "cursor": cursor, "category": "c1"})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["cursor"]


def test_category_filter_uses_the_index_and_pages(manager, tenant_a):
    with tenant_context(tenant_a.id):
        tea = {services.create_product(sku=f"TEA-{n}", name="t", price="1", currency="USD", category="tea")["id"]
               for n in range(5)}
        services.create_product(sku="COFFEE-1", name="c", price="1", currency="USD", category="coffee")
        services.create_product(sku="NONE-1", name="n", price="1", currency="USD")
    client = manager.client()
    first = client.get("/api/v1/products", {"category": "tea", "limit": 3}).json()
    second = client.get("/api/v1/products", {"category": "tea", "limit": 3, "cursor": first["next_cursor"]}).json()
    assert {p["id"] for p in first["results"] + second["results"]} == tea
    assert second["next_cursor"] is None
    assert all(p["category"] == "tea" for p in first["results"] + second["results"])
    assert client.get("/api/v1/products", {"category": "nothing-here"}).json()["results"] == []
    assert len(client.get("/api/v1/products").json()["results"]) == 7


@pytest.mark.parametrize("category", ["Tea", "tea leaves", "-tea", "x" * 65, "tea#1"])
def test_bad_category_filter_is_400_naming_category(manager, category):
    response = manager.client().get("/api/v1/products", {"category": category})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["category"]


def test_category_change_moves_the_product_between_filters(manager):
    client = manager.client()
    created = create_product(client, category="old-cat")
    client.patch(url(created["id"]), {"category": "new-cat"}, format="json")
    assert client.get("/api/v1/products?category=old-cat").json()["results"] == []
    assert [p["id"] for p in client.get("/api/v1/products?category=new-cat").json()["results"]] == [created["id"]]


# --- SKU uniqueness ---------------------------------------------------------------------------------
def test_duplicate_sku_is_409_and_writes_no_event(manager, tenant_a):
    client = manager.client()
    first = create_product(client, sku="DUP-1")
    response = client.post("/api/v1/products", product_payload(sku="DUP-1", name="Other"), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_sku"
    assert "sku" in response.json()["fields"]
    events = outbox_events(tenant_a.id)
    assert [(e["type"], e["data"]["id"]) for e in events] == [("product.created", first["id"])]
    assert len(client.get("/api/v1/products").json()["results"]) == 1


def test_same_sku_is_allowed_in_two_tenants(tenant_a, tenant_b):
    a = create_product(tenant_a.admin.client(), sku="SHARED-1")
    b = create_product(tenant_b.admin.client(), sku="SHARED-1")
    assert a["id"] != b["id"]


def test_changing_sku_to_a_taken_one_is_409_and_changes_nothing(manager, tenant_a):
    client = manager.client()
    create_product(client, sku="TAKEN-1")
    other = create_product(client, sku="MINE-1")
    response = client.patch(url(other["id"]), {"sku": "TAKEN-1", "name": "changed"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "duplicate_sku"
    assert client.get(url(other["id"])).json() == other
    assert [e["type"] for e in outbox_events(tenant_a.id, other["id"])] == ["product.created"]


def test_sku_change_frees_the_old_sku(manager, tenant_a):
    client = manager.client()
    created = create_product(client, sku="OLD-SKU")
    response = client.patch(url(created["id"]), {"sku": "NEW-SKU"}, format="json")
    assert response.status_code == 200 and response.json()["sku"] == "NEW-SKU"
    reuse = create_product(client, sku="OLD-SKU")
    assert reuse["id"] != created["id"]
    duplicate = client.post("/api/v1/products", product_payload(sku="NEW-SKU"), format="json")
    assert duplicate.status_code == 409
    with tenant_context(tenant_a.id):
        assert ProductSku.objects.get("NEW-SKU")["product_id"] == created["id"]
        assert ProductSku.objects.get("OLD-SKU")["product_id"] == reuse["id"]


def test_delete_frees_the_sku(manager, tenant_a):
    client = manager.client()
    created = create_product(client, sku="GONE-1")
    assert client.delete(url(created["id"])).status_code == 204
    with tenant_context(tenant_a.id):
        with pytest.raises(DoesNotExist):
            ProductSku.objects.get("GONE-1")
    assert create_product(client, sku="GONE-1")["id"] != created["id"]


# --- ETag / If-Match / versions -------------------------------------------------------------------
def test_if_match_current_etag_succeeds_and_returns_new_etag(manager):
    client = manager.client()
    created = create_product(client)
    etag = client.get(url(created["id"]))["ETag"]
    response = client.patch(url(created["id"]), {"stock": 1}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] == f'"{created["id"]}:2"'
    response = client.put(url(created["id"]), product_payload(sku=created["sku"]), format="json",
                          HTTP_IF_MATCH=f'"other", {response["ETag"]}')
    assert response.status_code == 200 and response.json()["version"] == 3
    assert client.delete(url(created["id"]), HTTP_IF_MATCH=response["ETag"]).status_code == 204


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_stale_if_match_is_412_and_changes_nothing(manager, tenant_a, method):
    client = manager.client()
    created = create_product(client)
    stale = f'"{created["id"]}:1"'
    client.patch(url(created["id"]), {"stock": 2}, format="json")
    current = client.get(url(created["id"])).json()
    for if_match in (stale, "garbage", f'W/"{created["id"]}:2"', '"someone-else:2"'):
        response = getattr(client, method)(url(created["id"]), product_payload(sku=created["sku"], name="lost"),
                                           format="json", HTTP_IF_MATCH=if_match)
        assert response.status_code == 412, (if_match, response.content)
        assert response.json()["code"] == "precondition_failed"
    assert client.get(url(created["id"])).json() == current
    assert [e["type"] for e in outbox_events(tenant_a.id, created["id"])] == ["product.created", "product.updated"]


def test_if_match_star_matches_any_current_version(manager):
    client = manager.client()
    created = create_product(client)
    client.patch(url(created["id"]), {"stock": 2}, format="json")
    assert client.patch(url(created["id"]), {"stock": 3}, format="json", HTTP_IF_MATCH="*").status_code == 200


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_stale_version_in_body_is_409_version_conflict(manager, method):
    client = manager.client()
    created = create_product(client)
    client.patch(url(created["id"]), {"stock": 2}, format="json")
    body = {**product_payload(sku=created["sku"], name="lost"), "version": 1}
    response = getattr(client, method)(url(created["id"]), body if method != "delete" else {"version": 1},
                                       format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "version_conflict"
    assert client.get(url(created["id"])).json()["version"] == 2
    ok = getattr(client, method)(url(created["id"]), {**body, "version": 2} if method != "delete" else {"version": 2},
                                 format="json")
    assert ok.status_code in (200, 204)


def test_no_op_patch_with_stale_body_version_is_409(manager):
    client = manager.client()
    created = create_product(client)
    client.patch(url(created["id"]), {"stock": 2}, format="json")
    response = client.patch(url(created["id"]), {"stock": 2, "version": 1}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "version_conflict"


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_write_racing_another_writer_is_409_version_conflict(manager, tenant_a, monkeypatch, method):
    """Another writer commits between our read and our write: the store's version guard catches it."""
    client = manager.client()
    created = create_product(client, sku="RACE-1")
    real_get = services.get_product

    def read_then_someone_else_writes(product_id, **kwargs):
        snapshot = real_get(product_id, **kwargs)
        monkeypatch.setattr(services, "get_product", real_get)
        services.update_product(product_id=product_id, changes={"stock": 99})
        return snapshot

    monkeypatch.setattr(services, "get_product", read_then_someone_else_writes)
    etag = f'"{created["id"]}:1"'
    if method == "patch":
        response = client.patch(url(created["id"]), {"sku": "RACE-2", "name": "mine"}, format="json",
                                HTTP_IF_MATCH=etag)
    else:
        response = client.delete(url(created["id"]), HTTP_IF_MATCH=etag)
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "version_conflict"

    now = client.get(url(created["id"])).json()
    assert (now["stock"], now["name"], now["sku"], now["version"]) == (99, created["name"], "RACE-1", 2)
    assert [e["type"] for e in outbox_events(tenant_a.id, created["id"])] == ["product.created", "product.updated"]
    with tenant_context(tenant_a.id):  # the SKU swap was rolled back with the product write
        assert ProductSku.objects.get("RACE-1")["product_id"] == created["id"]
        with pytest.raises(DoesNotExist):
            ProductSku.objects.get("RACE-2")


# --- outbox events -----------------------------------------------------------------------------------
def test_each_change_writes_its_event_with_the_product(manager, tenant_a):
    client = manager.client()
    created = create_product(client, price="3.5")
    updated = client.patch(url(created["id"]), {"price": "4", "sku": "EVT-2"}, format="json").json()
    client.delete(url(created["id"]))
    events = outbox_events(tenant_a.id, created["id"])
    assert [e["type"] for e in events] == ["product.created", "product.updated", "product.deleted"]
    assert events[0]["data"]["price"] == "3.50" and events[0]["data"]["version"] == 1
    # The event carries the product as stored; the API adds a short-lived image link (not in events).
    assert events[1]["data"] == {k: v for k, v in updated.items() if k != "image_url"} and updated["version"] == 2
    assert events[1]["data"]["price"] == "4.00" and events[1]["data"]["sku"] == "EVT-2"
    assert events[2]["data"]["id"] == created["id"]
    assert all(e["tenant_id"] == tenant_a.id for e in events)


def test_failed_changes_write_no_event(manager, viewer, tenant_a):
    client = manager.client()
    created = create_product(client, sku="KEEP-1")
    client.post("/api/v1/products", product_payload(sku="KEEP-1"), format="json")  # 409
    client.post("/api/v1/products", product_payload(price="-1"), format="json")  # 400
    client.patch(url(created["id"]), {"name": "x"}, format="json", HTTP_IF_MATCH='"stale"')  # 412
    viewer.client().patch(url(created["id"]), {"name": "x"}, format="json")  # 403
    client.delete(url("missing"))  # 404
    assert [e["type"] for e in outbox_events(tenant_a.id)] == ["product.created"]


# --- demo seed ----------------------------------------------------------------------------------------
def test_seed_demo_products_is_idempotent(tenant_a):
    first = services.seed_demo_products(tenant_id=tenant_a.id)
    again = services.seed_demo_products(tenant_id=tenant_a.id)
    assert len(first) == 12
    assert [p["id"] for p in again] == [p["id"] for p in first]
    body = tenant_a.admin.client().get("/api/v1/products?limit=100").json()
    assert len(body["results"]) == 12
    assert {p["sku"] for p in body["results"]} == {f"DEMO-{n:04d}" for n in range(1, 13)}
    assert len(services.seed_demo_products(tenant_id=tenant_a.id, count=14)) == 14
