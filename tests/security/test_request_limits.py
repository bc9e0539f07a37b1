"""Request work is bounded before parsing, and errors stay small.

A 2.2 MB body of 170k unknown keys took 4.4 s and answered with a 4.8 MB error; JSON nested ~1000
deep raised RecursionError and answered an HTML 500 on every JSON endpoint."""
from __future__ import annotations

import json

import pytest


def _post(client, path, raw: str):
    return client.generic("POST", path, raw.encode(), content_type="application/json")


def test_an_oversized_body_is_refused_before_parsing_with_a_small_json_error(tenant_a):
    api = tenant_a.admin.client()
    body = json.dumps({f"k{i}": 1 for i in range(170_000)})  # ~2.2 MB
    response = _post(api, "/api/v1/products", body)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "request_too_large"
    assert len(response.content) < 1000


def test_too_many_keys_is_a_small_400(tenant_a):
    api = tenant_a.admin.client()
    body = json.dumps({f"k{i}": 1 for i in range(3_000)})  # under the size cap, over the key cap
    response = _post(api, "/api/v1/products", body)
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_keys"
    assert len(response.content) < 1000


def test_many_unknown_fields_give_a_bounded_error(tenant_a):
    api = tenant_a.admin.client()
    body = {"sku": "S-1", "name": "n", "price": "1.00", "currency": "USD", "stock": 1}
    body.update({f"unknown_field_{i:04d}": 1 for i in range(500)})
    response = api.post("/api/v1/products", body, format="json")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert len(fields) <= 21  # the first 20 unknown names, and a count of the rest
    assert len(response.content) < 4000


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/orders", "/api/v1/tenants",
                                  "/api/v1/webhooks/subscriptions", "/api/v1/me/active-tenant"])
@pytest.mark.parametrize("depth", [1000, 5000])
def test_deeply_nested_json_is_a_json_400_on_every_endpoint(tenant_a, path, depth):
    api = tenant_a.admin.client()
    body = "[" * depth + "]" * depth
    method = "PUT" if path.endswith("active-tenant") else "POST"
    response = api.generic(method, path, body.encode(), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"


def test_deep_nesting_inside_strings_is_not_counted(tenant_a):
    api = tenant_a.admin.client()
    body = {"sku": "S-DEEP", "name": "[" * 200, "price": "1.00", "currency": "USD", "stock": 1,
            "description": "{" * 500}
    response = api.post("/api/v1/products", body, format="json")
    assert response.status_code == 201, response.content[:500]


def test_a_normal_body_still_works(tenant_a):
    response = tenant_a.admin.client().post(
        "/api/v1/products", {"sku": "S-OK", "name": "ok", "price": "2.50", "currency": "USD", "stock": 3},
        format="json")
    assert response.status_code == 201
