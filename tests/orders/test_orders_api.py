"""/api/v1/orders against DynamoDB Local: pricing, stock reservation, roles, tenant isolation."""
from __future__ import annotations

from decimal import Decimal

import pytest

from orders import services
from saas.tenancy import tenant_context

from .factories import all_orders, make_product, order_events, place, stock_of


# --- placing ----------------------------------------------------------------------------------------
def test_member_places_an_order_priced_by_the_server_and_its_stock_is_reserved(tenant_a, member):
    widget = make_product(tenant_a.id, price="9.99", stock=5)
    bolt = make_product(tenant_a.id, price="0.50", stock=100)

    response = place(member, [(widget["id"], 2), (bolt["id"], 3)])

    assert response.status_code == 201, response.content
    order = response.json()
    assert response["Location"] == f"/api/v1/orders/{order['id']}"
    assert order["status"] == "pending" and order["user_id"] == member.sub
    assert order["currency"] == "EUR" and order["total"] == "21.48"
    assert [(line["product_id"], line["quantity"], line["unit_price"], line["line_total"]) for line in order["lines"]] == [
        (widget["id"], 2, "9.99", "19.98"), (bolt["id"], 3, "0.50", "1.50")]
    assert stock_of(tenant_a.id, widget["id"]) == 3 and stock_of(tenant_a.id, bolt["id"]) == 97
    assert [e["type"] for e in order_events(tenant_a.id, order["id"])] == ["order.created"]
    fetched = member.client().get(f"/api/v1/orders/{order['id']}")
    assert fetched.status_code == 200 and fetched.json() == order


def test_client_cannot_set_prices_or_totals(tenant_a, member):
    widget = make_product(tenant_a.id, price="9.99")
    response = place(member, [{"product_id": widget["id"], "quantity": 1, "unit_price": "0.01"}])
    assert response.status_code == 400
    assert response.json()["fields"]["lines"]["0"] == {"unit_price": ["Unknown field."]}
    response = member.client().post("/api/v1/orders", {"lines": [{"product_id": widget["id"], "quantity": 1}],
                                                       "total": "0.01"}, format="json")
    assert response.status_code == 400 and "total" in response.json()["fields"]
    assert stock_of(tenant_a.id, widget["id"]) == 10


@pytest.mark.parametrize("body, field_path", [
    ({}, ["lines"]),
    ({"lines": []}, ["lines"]),
    ({"lines": "nope"}, ["lines"]),
    ({"lines": [{"quantity": 1}]}, ["lines", "0", "product_id"]),
    ({"lines": [{"product_id": "P", "quantity": 0}]}, ["lines", "0", "quantity"]),
    ({"lines": [{"product_id": "P", "quantity": 1001}]}, ["lines", "0", "quantity"]),
    ({"lines": [{"product_id": "P", "quantity": "2"}]}, ["lines", "0", "quantity"]),
    ({"lines": [{"product_id": "P", "quantity": 1.5}]}, ["lines", "0", "quantity"]),
    ({"lines": [{"product_id": "P", "quantity": True}]}, ["lines", "0", "quantity"]),
    ({"lines": [{"product_id": 7, "quantity": 1}]}, ["lines", "0", "product_id"]),
    ({"lines": [{"product_id": "P", "quantity": 1}, {"product_id": "P", "quantity": 2}]}, ["lines", "1", "product_id"]),
])
def test_bad_order_input_is_a_400_naming_the_field(tenant_a, member, body, field_path):
    response = member.client().post("/api/v1/orders", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    node = response.json()["fields"]
    for step in field_path:
        node = node[step]
    assert node
    assert all_orders(tenant_a.id) == []


def test_more_than_50_lines_is_a_400_and_50_lines_commit_in_one_transaction(tenant_a, member):
    products = [make_product(tenant_a.id, price="1.00", stock=2) for _ in range(51)]
    too_many = place(member, [(p["id"], 1) for p in products])
    assert too_many.status_code == 400 and "lines" in too_many.json()["fields"]

    fifty = place(member, [(p["id"], 1) for p in products[:50]])
    assert fifty.status_code == 201, fifty.content
    assert fifty.json()["total"] == "50.00"
    assert [stock_of(tenant_a.id, p["id"]) for p in products] == [1] * 50 + [2]


def test_unknown_and_other_tenants_products_are_the_same_400_naming_the_line(tenant_a, tenant_b, member):
    mine = make_product(tenant_a.id, stock=5)
    theirs = make_product(tenant_b.id, stock=5)

    foreign = place(member, [(mine["id"], 1), (theirs["id"], 1)])
    unknown = place(member, [(mine["id"], 1), ("0" * 32, 1)])

    for response in (foreign, unknown):
        assert response.status_code == 400
        assert response.json()["fields"] == {"lines": {"1": {"product_id": ["Unknown product."]}}}
    assert foreign.json() == unknown.json()  # nothing tells the other tenant's product exists
    assert stock_of(tenant_a.id, mine["id"]) == 5 and stock_of(tenant_b.id, theirs["id"]) == 5
    assert all_orders(tenant_a.id) == [] and all_orders(tenant_b.id) == []


def test_lines_in_different_currencies_are_a_400(tenant_a, member):
    euro = make_product(tenant_a.id, currency="EUR")
    dollar = make_product(tenant_a.id, currency="USD")
    response = place(member, [(euro["id"], 1), (dollar["id"], 1)])
    assert response.status_code == 400
    assert "EUR, USD" in response.json()["fields"]["lines"][0]
    assert stock_of(tenant_a.id, euro["id"]) == 10


def test_insufficient_stock_is_a_409_naming_the_lines_and_reserves_nothing(tenant_a, member):
    plenty = make_product(tenant_a.id, stock=5)
    scarce = make_product(tenant_a.id, stock=1)

    response = place(member, [(plenty["id"], 2), (scarce["id"], 3)])

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock" and scarce["id"] in body["message"]
    assert body["lines"] == [{"index": 1, "product_id": scarce["id"], "requested": 3, "available": 1}]
    assert stock_of(tenant_a.id, plenty["id"]) == 5 and stock_of(tenant_a.id, scarce["id"]) == 1
    assert all_orders(tenant_a.id) == [] and order_events(tenant_a.id) == []


def test_a_price_change_after_pricing_makes_the_reservation_fail_rather_than_commit_the_old_price(tenant_a):
    from products.models import Product, ProductRecord
    from products.services import update_product
    from saas.tenancy.store import TransactionCancelled, transact_write

    product = make_product(tenant_a.id, price="9.99", stock=5)
    with tenant_context(tenant_a.id):
        priced_at = ProductRecord.from_item(Product.objects.get(product["id"], consistent=True))
        update_product(product_id=product["id"], changes={"price": Decimal("12.00")})
        with pytest.raises(TransactionCancelled):
            transact_write([services._reserve_op({"product_id": product["id"], "quantity": 1}, priced_at)])
    assert stock_of(tenant_a.id, product["id"]) == 5


def test_reservation_bumps_the_product_version_so_a_stale_catalogue_write_cannot_overwrite_it(tenant_a, member):
    product = make_product(tenant_a.id, stock=5)
    assert place(member, [(product["id"], 2)]).status_code == 201
    stale = tenant_a.admin.client().patch(f"/api/v1/products/{product['id']}", {"stock": 50}, format="json",
                                          HTTP_IF_MATCH=f'"{product["id"]}:{product["version"]}"')
    assert stale.status_code == 412
    assert stock_of(tenant_a.id, product["id"]) == 3


# --- roles and visibility ---------------------------------------------------------------------------
def test_unauthenticated_calls_are_401(client):
    assert client.get("/api/v1/orders").status_code == 401
    assert client.post("/api/v1/orders", {"lines": []}, content_type="application/json").status_code == 401
    assert client.get("/api/v1/orders/x").status_code == 401
    assert client.post("/api/v1/orders/x/cancel").status_code == 401


def test_viewer_reads_but_cannot_place_or_cancel(tenant_a, viewer, member):
    product = make_product(tenant_a.id)
    order = place(member, [(product["id"], 1)]).json()

    denied = place(viewer, [(product["id"], 1)])
    assert denied.status_code == 403 and denied.json()["code"] == "role_required"
    assert viewer.client().post(f"/api/v1/orders/{order['id']}/cancel").status_code == 403
    listing = viewer.client().get("/api/v1/orders")
    assert listing.status_code == 200 and listing.json() == {"results": [], "next_cursor": None}
    assert stock_of(tenant_a.id, product["id"]) == 9


def test_members_list_only_their_own_orders_and_managers_list_all(tenant_a, member, other_member, manager):
    product = make_product(tenant_a.id, stock=50)
    mine = [place(member, [(product["id"], 1)]).json()["id"] for _ in range(3)]
    theirs = place(other_member, [(product["id"], 1)]).json()["id"]

    first = member.client().get("/api/v1/orders?limit=2").json()
    assert [o["id"] for o in first["results"]] == [mine[2], mine[1]]  # newest first
    second = member.client().get(f"/api/v1/orders?limit=2&cursor={first['next_cursor']}").json()
    assert [o["id"] for o in second["results"]] == [mine[0]] and second["next_cursor"] is None

    everything = manager.client().get("/api/v1/orders?limit=100").json()
    assert [o["id"] for o in everything["results"]] == [theirs, *reversed(mine)]

    # a member's cursor is bound to their own query: it cannot page through everyone's orders
    replay = manager.client().get(f"/api/v1/orders?limit=2&cursor={first['next_cursor']}")
    assert replay.status_code == 400 and "cursor" in replay.json()["fields"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "cursor=garbage"])
def test_bad_list_parameters_are_a_400_naming_them(tenant_a, member, query):
    response = member.client().get(f"/api/v1/orders?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["fields"]


def test_members_get_only_their_own_order_others_are_404(tenant_a, member, other_member, manager):
    product = make_product(tenant_a.id)
    order = place(member, [(product["id"], 1)]).json()

    assert member.client().get(f"/api/v1/orders/{order['id']}").status_code == 200
    hidden = other_member.client().get(f"/api/v1/orders/{order['id']}")
    missing = other_member.client().get(f"/api/v1/orders/{'9' * 29}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert manager.client().get(f"/api/v1/orders/{order['id']}").status_code == 200


def test_every_order_endpoint_is_404_across_tenants(tenant_a, tenant_b, member):
    product = make_product(tenant_a.id)
    order = place(member, [(product["id"], 1)]).json()
    outsider = tenant_b.admin.client()

    assert outsider.get(f"/api/v1/orders/{order['id']}").status_code == 404
    assert outsider.post(f"/api/v1/orders/{order['id']}/cancel").status_code == 404
    assert outsider.get("/api/v1/orders").json()["results"] == []
    assert outsider.post("/api/v1/orders", {"lines": [{"product_id": product["id"], "quantity": 1}]},
                         format="json").status_code == 400
    assert member.client().get(f"/api/v1/orders/{order['id']}").json()["status"] == "pending"
    assert stock_of(tenant_a.id, product["id"]) == 9


# --- cancelling -------------------------------------------------------------------------------------
def test_member_cancels_own_order_and_the_stock_comes_back(tenant_a, member):
    product = make_product(tenant_a.id, stock=4)
    order = place(member, [(product["id"], 3)]).json()
    assert stock_of(tenant_a.id, product["id"]) == 1

    response = member.client().post(f"/api/v1/orders/{order['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["cancelled_at"]
    assert stock_of(tenant_a.id, product["id"]) == 4
    assert [e["type"] for e in order_events(tenant_a.id, order["id"])] == ["order.created", "order.cancelled"]
    again = member.client().post(f"/api/v1/orders/{order['id']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "invalid_status"
    assert stock_of(tenant_a.id, product["id"]) == 4


def test_member_cannot_cancel_someone_elses_order_but_a_manager_can(tenant_a, member, other_member, manager):
    product = make_product(tenant_a.id, stock=4)
    order = place(member, [(product["id"], 2)]).json()

    assert other_member.client().post(f"/api/v1/orders/{order['id']}/cancel").status_code == 404
    assert stock_of(tenant_a.id, product["id"]) == 2
    response = manager.client().post(f"/api/v1/orders/{order['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert stock_of(tenant_a.id, product["id"]) == 4


def test_confirmed_orders_can_be_cancelled_fulfilled_ones_cannot(tenant_a, member):
    product = make_product(tenant_a.id, stock=10)
    confirmed = place(member, [(product["id"], 1)]).json()
    fulfilled = place(member, [(product["id"], 1)]).json()
    with tenant_context(tenant_a.id):  # drive the pipeline steps in-process (no worker in this module)
        services.confirm_order(order_id=confirmed["id"])
        services.confirm_order(order_id=fulfilled["id"])
        services.fulfil_order(order_id=fulfilled["id"])

    assert member.client().post(f"/api/v1/orders/{confirmed['id']}/cancel").status_code == 200
    refused = member.client().post(f"/api/v1/orders/{fulfilled['id']}/cancel")
    assert refused.status_code == 409 and refused.json() == {
        "code": "invalid_status", "message": "A fulfilled order cannot be cancelled.", "status": "fulfilled"}
    assert stock_of(tenant_a.id, product["id"]) == 9


def test_cancelling_after_the_product_was_deleted_still_cancels(tenant_a, member):
    product = make_product(tenant_a.id, stock=3)
    order = place(member, [(product["id"], 1)]).json()
    assert tenant_a.admin.client().delete(f"/api/v1/products/{product['id']}").status_code == 204
    response = member.client().post(f"/api/v1/orders/{order['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


# --- the pipeline transitions are idempotent ---------------------------------------------------------
def test_running_each_transition_twice_changes_nothing_the_second_time(tenant_a, member):
    product = make_product(tenant_a.id)
    order_id = place(member, [(product["id"], 1)]).json()["id"]
    with tenant_context(tenant_a.id):
        first = services.confirm_order(order_id=order_id)
        again = services.confirm_order(order_id=order_id)
        done = services.fulfil_order(order_id=order_id)
        done_again = services.fulfil_order(order_id=order_id)
        confirm_late = services.confirm_order(order_id=order_id)
    assert first["status"] == again["status"] == "confirmed" and again["version"] == first["version"]
    assert done["status"] == done_again["status"] == confirm_late["status"] == "fulfilled"
    assert done_again["version"] == done["version"] == confirm_late["version"] == 3
    assert [e["type"] for e in order_events(tenant_a.id, order_id)] == [
        "order.created", "order.confirmed", "order.fulfilled"]
