"""The served schema is a valid OpenAPI document (openapi-spec-validator) and says what the issue of
the contract asked of it: either authentication scheme, one error schema, the headers."""
from __future__ import annotations


def test_the_served_schema_is_valid_openapi(served_schema):
    from openapi_spec_validator import validate

    validate(served_schema)  # raises, naming the offending part, if it is not valid


def test_every_operation_accepts_either_scheme_and_documents_its_errors(served_schema):
    for path, item in served_schema["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"cognitoBearer": []}, {"browserSession": []}], (method, path)
            for status in ("401", "403", "429", "503"):
                error = operation["responses"][status]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            if path.startswith("/api/v1/admin/"):
                assert operation["x-required-groups"] == ["system_admin"], (method, path)


RETRY_SAFE_CREATES = ("tenants_create", "products_create", "tenants_current_members_create", "exports_create",
                      "orders_create")


def _operations(schema: dict) -> dict[str, dict]:
    return {op["operationId"]: op for item in schema["paths"].values() for op in item.values()}


def test_every_retry_safe_create_documents_the_key_the_replay_and_the_409(served_schema):
    operations = _operations(served_schema)
    for operation_id in RETRY_SAFE_CREATES:
        operation = operations[operation_id]
        key = next(p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key")
        assert not key.get("required") and key["schema"]["pattern"], operation_id
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                assert "Idempotent-Replayed" in response["headers"], (operation_id, status)
        assert "idempotency_key_reused" in operation["responses"]["409"]["x-error-codes"], operation_id


def test_stable_error_codes_are_listed_on_the_operations_that_return_them(served_schema):
    operations = _operations(served_schema)
    for operation_id, status, code in (("products_create", "403", "plan_limit"),
                                       ("products_create", "409", "duplicate_sku"),
                                       ("tenants_create", "403", "plan_limit"),
                                       ("orders_create", "409", "insufficient_stock"),
                                       ("orders_create", "503", "outcome_unknown"),
                                       ("webhooks_subscriptions_test_create", "409", "subscription_suspended")):
        response = operations[operation_id]["responses"][status]
        assert code in response["x-error-codes"] and f"`{code}`" in response["description"], (operation_id, status)
    assert "x-error-codes" not in operations["products_list"]["responses"]["400"]
