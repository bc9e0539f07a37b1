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
