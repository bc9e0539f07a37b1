"""The one error model: every API error is JSON ``{"code", "message"[, "fields"]}``."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/products/x/y/z", "/api/v2/products", "/api/"])
def test_unknown_api_paths_answer_the_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "message": "Not found."}


def test_unknown_api_path_is_a_json_404_for_a_signed_in_caller_and_any_method(tenant_a):
    response = tenant_a.admin.client().post("/api/v1/does-not-exist", {"x": 1}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_store_miss_inside_a_tenant_is_the_api_404_shape(tenant_a):
    response = tenant_a.admin.client().get("/api/v1/products/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found."}


def test_bad_input_names_the_field(tenant_a):
    response = tenant_a.admin.client().post("/api/v1/orders", {"lines": [{"product_id": "missing", "quantity": 1}]},
                                            format="json")
    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid" and body["message"] == "Invalid input."
    assert body["fields"]["lines"]["0"]["product_id"] == ["Unknown product."]
