"""GET /api/schema/ serves an OpenAPI 3 document covering the API's endpoints."""
from __future__ import annotations

import yaml


def test_schema_is_openapi_3_and_lists_the_contract(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert "cognitoBearer" in schema["components"]["securitySchemes"]
    paths = set(schema["paths"])
    for expected in ("/api/v1/me", "/api/v1/me/active-tenant", "/api/v1/tenants", "/api/v1/tenants/current",
                     "/api/v1/tenants/current/members", "/api/v1/products", "/api/v1/products/{product_id}",
                     "/api/v1/orders", "/api/v1/orders/{order_id}", "/api/v1/orders/{order_id}/cancel",
                     "/api/v1/webhooks/event-types", "/api/v1/webhooks/subscriptions",
                     "/api/v1/admin/tenants"):
        assert expected in paths, expected
