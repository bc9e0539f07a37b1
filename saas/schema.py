"""The API contract's cross-cutting parts, added to the generated OpenAPI document in one place
(a drf-spectacular postprocessing hook, run only when the schema is generated, never per request).

What every operation shares is written here once rather than in sixty ``extend_schema`` calls:
either authentication scheme (bearer JWT *or* browser session), the one error body
(``saas.errors.AppError.as_dict``) for each status the operation can return, the headers the
middleware and views set (``X-Request-ID``, ``Retry-After``, ``ETag``, ``Location``,
``Idempotent-Replayed``), the opaque cursor, and the request rules the serializers enforce but
drf-spectacular cannot see (unknown fields refused, the price's decimal form).
"""
from __future__ import annotations

import copy
from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error the API returns. `code` is stable (program against it); `message` is for "
                   "people. Some codes add fields: `limit`, `max`, `tier` (plan_limit), `dependency` "
                   "(service_unavailable), `order_id`, `check` (outcome_unknown), `lines` (insufficient_stock).",
    "properties": {
        "code": {"type": "string", "description": "A stable machine code, e.g. `invalid`, `not_found`, "
                                                  "`duplicate_sku`, `plan_limit`, `idempotency_key_reused`."},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": True,
                   "description": "400 `invalid`: each offending field (or header) with its problems."},
        "limit": {"type": "string"},
        "max": {"type": "integer", "nullable": True},
        "tier": {"type": "string"},
        "dependency": {"type": "string"},
        "order_id": {"type": "string"},
        "check": {"type": "string"},
    },
    "required": ["code", "message"],
    "additionalProperties": True,
    "example": {"code": "invalid", "message": "Invalid input.", "fields": {"sku": ["This field is required."]}},
}

HEADERS = {
    "X-Request-ID": {"description": "This request's id: in the logs and the audit trail; quote it to support.",
                     "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "ETag": {"description": 'The representation\'s version, `"<id>:<version>"`: send it back as `If-Match`.',
             "schema": {"type": "string"}},
    "Location": {"description": "Where the created (or pending) resource is read.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this answer replays an earlier request with the same "
                                           "Idempotency-Key: the first answer's status, body and headers again "
                                           "(nothing new was created).",
                            "schema": {"type": "string", "enum": ["true"]}},
}

ERROR_DESCRIPTIONS = {
    400: "Invalid input (`invalid`, `fields` names each problem), a malformed or foreign cursor (`invalid`, "
         "field `cursor`), invalid JSON (`parse_error`, `too_deep`, `too_many_keys`).",
    401: "No credentials, or credentials that do not verify (`not_authenticated`, `authentication_failed`).",
    403: "Signed in but not allowed: role too low, no active tenant, CSRF on a session write, a tenant "
         "that is not active, or over the plan's limit (`permission_denied`, `role_required`, `tenant_inactive`, "
         "`no_active_tenant`, `plan_limit` with `limit`, `max`, `tier`).",
    404: "Not found, or another tenant's (never revealed) (`not_found`).",
    409: "Conflicts with the current state (`conflict`, `version_conflict`, `duplicate_sku`, "
         "`idempotency_key_reused`, `insufficient_stock`, `invalid_status`, `last_admin`, "
         "`subscription_suspended`, ...).",
    412: "`If-Match` is not the current ETag (`precondition_failed`): read again and retry.",
    413: "The body is larger than the API accepts (`request_too_large`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    429: "Over the tenant's or caller's rate (`throttled`); `Retry-After` says when to come back.",
    503: "A dependency is unavailable (`service_unavailable`, `dependency` names it); nothing was lost or "
         "half-done; `Retry-After` says when to retry. `outcome_unknown` (orders): the write may have "
         "committed; `check` names where to look.",
}

UNSAFE = {"post", "put", "patch", "delete"}
CURSOR_DESCRIPTION = ("Opaque: pass `next_cursor` from the previous page unchanged. A cursor that was altered, "
                      "or made for another list, tenant or user, is a 400 naming `cursor`.")
# A decimal string from 0 to 10^9 with at most 2 places (products.models.PRICE_MAX).
PRICE_PATTERN = r"^(?:(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,2})?|1000000000(?:\.00?)?)$"
PRICE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": PRICE_PATTERN},
        {"type": "number", "minimum": 0, "maximum": 1_000_000_000, "multipleOf": 0.01},
    ],
    "description": "A decimal string such as `\"19.99\"` (0 to 1000000000, at most 2 places). A JSON number "
                   "is read the same way, but a binary float may not hold the amount exactly: send a string.",
    "example": "19.99",
}


def _error_response(status: int) -> dict:
    response: dict[str, Any] = {"description": ERROR_DESCRIPTIONS[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}}
    if status in (429, 503):
        response["headers"]["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    return response


def _error_statuses(path: str, method: str, operation: dict) -> list[int]:
    parameters = operation.get("parameters", [])
    statuses = {401, 403, 429, 503}
    if method in UNSAFE or any(p["in"] in ("query", "header") for p in parameters):
        statuses.add(400)
    if "{" in path or path.startswith("/api/v1/tenants/current") or method in UNSAFE:
        statuses.add(404)
    if method in UNSAFE:
        statuses |= {409, 413, 415}
    if any(p["in"] == "header" and p["name"] == "If-Match" for p in parameters):
        statuses.add(412)
    return sorted(statuses)


def _mark_closed(schema: dict) -> None:
    """Request bodies refuse unknown fields (saas.serializers.RejectUnknownFieldsMixin for the strict
    serializers; DRF drops them silently elsewhere, so only the strict ones are closed)."""
    if schema.get("type") == "object" and "properties" in schema:
        schema["additionalProperties"] = False


# Request components whose serializer refuses unknown fields (saas.serializers.RejectUnknownFieldsMixin).
CLOSED_REQUESTS = ("ProductRequest", "PatchedProductRequest", "OrderCreateRequest", "OrderLineInputRequest",
                   "ImageAttachRequest")


# Examples of the main request bodies (shown by Swagger UI; schemathesis sends them too).
EXAMPLES = {
    "ProductRequest": {"sku": "TSHIRT-RED-M", "name": "T-shirt, red, M", "description": "Organic cotton.",
                       "price": "19.99", "currency": "EUR", "stock": 25, "category": "apparel"},
    "PatchedProductRequest": {"price": "17.50", "stock": 40},
    "TenantCreateRequest": {"name": "Acme Outfitters", "tier": "standard"},
    "MemberInviteRequest": {"email": "dana@example.com", "role": "member"},
    "PatchedMemberRoleRequest": {"role": "manager"},
}


def _property(schemas: dict, component: str, name: str) -> dict | None:
    return schemas.get(component, {}).get("properties", {}).get(name)


# The Idempotency-Key header: printable ASCII without spaces, 1-255 characters (saas.idempotency.KEY_PATTERN).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
# Limits the services enforce past the serializer: subscriber URLs (webhooks.services) are at most 2048.
MAX_LENGTHS = {("SubscriptionCreateRequest", "url"): 2048, ("EndpointCreateRequest", "url"): 2048,
               ("PatchedEndpointUpdateRequest", "url"): 2048}
HTTPS_URL_REQUESTS = ("SubscriptionCreateRequest", "EndpointCreateRequest", "PatchedEndpointUpdateRequest")


def _requests(schemas: dict) -> None:
    for (name, field), length in MAX_LENGTHS.items():
        if _property(schemas, name, field) is not None:
            schemas[name]["properties"][field]["maxLength"] = length
    for name in HTTPS_URL_REQUESTS:
        if _property(schemas, name, "url") is not None:
            schemas[name]["properties"]["url"]["pattern"] = "^https://[^\\s\\\\]+$"
    for name in CLOSED_REQUESTS:
        if name in schemas:
            _mark_closed(schemas[name])
    for name, example in EXAMPLES.items():
        if name in schemas:
            schemas[name]["example"] = example


def _components(schemas: dict) -> None:
    from saas.events import EVENT_TYPES

    _requests(schemas)
    for name in ("ProductRequest", "PatchedProductRequest"):
        if _property(schemas, name, "price") is not None:
            schemas[name]["properties"]["price"] = copy.deepcopy(PRICE_SCHEMA)
    if _property(schemas, "Product", "price") is not None:
        schemas["Product"]["properties"]["price"] = {"type": "string", "pattern": PRICE_PATTERN, "example": "19.99",
                                                     "description": "A decimal string with two places."}
    # PATCH bodies whose one field is required in practice (the server refuses `{}`).
    for name, required in (("PatchedTenantUpdateRequest", ["name"]), ("PatchedMemberRoleRequest", ["role"]),
                           ("PatchedTenantTierRequest", ["tier"])):
        if name in schemas:
            schemas[name]["required"] = required
    if _property(schemas, "OrderCreateRequest", "lines") is not None:
        schemas["OrderCreateRequest"]["properties"]["lines"]["minItems"] = 1
    for name in [n for n in schemas if n.endswith("Request") and _property(schemas, n, "event_types") is not None]:
        schemas[name]["properties"]["event_types"]["items"] = {
            "type": "string", "enum": [*sorted(EVENT_TYPES), "*"],
            "description": "One of GET /webhooks/event-types, or \"*\" for every type."}
    for name in [n for n in schemas if n.endswith("Request") and _property(schemas, n, "event_type") is not None]:
        schemas[name]["properties"]["event_type"] = {"type": "string", "enum": sorted(EVENT_TYPES),
                                                     "description": "One of GET /webhooks/event-types."}


# Success headers the views set, by operation.
SUCCESS_HEADERS = {
    "products_create": {"201": ["ETag"]},
    "products_retrieve": {"200": ["ETag"]},
    "products_update": {"200": ["ETag"]},
    "products_partial_update": {"200": ["ETag"]},
    "products_image_update": {"200": ["ETag"]},
    "products_image_destroy": {"200": ["ETag"]},
    "orders_create": {"201": ["Location"]},
    "tenants_create": {"202": ["Location", "Retry-After"]},
    "exports_create": {"202": ["Location"]},
}
# The stable error codes that matter per operation, by status: written into that response's
# description and as `x-error-codes` (clients switch on `code`). Statuses and codes every operation
# shares (401, 403 `permission_denied`, 429 `throttled`, 503 `service_unavailable`, ...) are described
# once per status in ERROR_DESCRIPTIONS. Operations that take an Idempotency-Key also get
# `idempotency_key_reused` (409) added by `_operation`.
IDEMPOTENCY_REUSED = "idempotency_key_reused"
PRODUCT_WRITE = {409: ["duplicate_sku", "version_conflict"], 412: ["precondition_failed"]}
OPERATION_ERROR_CODES: dict[str, dict[int, list[str]]] = {
    "products_create": {403: ["plan_limit"], 409: ["duplicate_sku"]},
    "products_update": PRODUCT_WRITE,
    "products_partial_update": PRODUCT_WRITE,
    "products_destroy": {409: ["version_conflict"], 412: ["precondition_failed"]},
    "products_image_update": {409: ["version_conflict"], 412: ["precondition_failed"]},
    "products_image_destroy": {409: ["version_conflict"], 412: ["precondition_failed"]},
    "products_image_upload_create": {409: ["too_many_pending_uploads"]},
    "orders_create": {409: ["insufficient_stock", "concurrent_update"],
                      503: ["service_unavailable", "outcome_unknown"]},
    "orders_cancel_create": {409: ["invalid_status", "concurrent_update"]},
    "tenants_create": {403: ["plan_limit"], 409: ["conflict"]},
    "tenants_current_members_create": {403: ["plan_limit", "role_required"], 409: ["already_member", "conflict"]},
    "tenants_current_members_partial_update": {403: ["cannot_raise_own_role"], 409: ["last_admin", "conflict"]},
    "tenants_current_members_destroy": {409: ["last_admin", "conflict"]},
    "me_invitations_accept_create": {403: ["plan_limit", "tenant_inactive"], 409: ["already_member", "conflict"]},
    "me_memberships_destroy": {403: ["not_a_member"], 409: ["last_admin", "conflict"]},
    "me_active_tenant_update": {403: ["not_a_member", "tenant_inactive"]},
    "admin_tenants_partial_update": {409: ["tier_change_requires_migration", "invalid_status"]},
    "admin_tenants_activate_create": {409: ["invalid_status"]},
    "admin_tenants_deactivate_create": {409: ["invalid_status"]},
    "admin_tenants_approve_create": {409: ["invalid_status"]},
    "admin_tenants_reject_create": {409: ["invalid_status"]},
    "tenants_current_offboard_create": {400: ["confirmation_mismatch"], 403: ["owner_required"],
                                        409: ["already_offboarding", "concurrent_change"]},
    "admin_tenants_offboard_create": {409: ["already_offboarding", "concurrent_change"]},
    "webhooks_subscriptions_create": {403: ["plan_limit"]},
    "webhooks_endpoints_create": {403: ["plan_limit"]},
    "webhooks_subscriptions_test_create": {409: ["subscription_suspended", "not_confirmed", "topic_missing"]},
}


def _error_codes(operation: dict) -> dict[int, list[str]]:
    codes = {status: list(names) for status, names in OPERATION_ERROR_CODES.get(operation.get("operationId", ""), {}).items()}
    if _takes_idempotency_key(operation):
        codes.setdefault(409, []).append(IDEMPOTENCY_REUSED)
    return codes


def _takes_idempotency_key(operation: dict) -> bool:
    return any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))


DELETE_BODY = {
    "required": False,
    "description": "Optional: the version last read, used when no `If-Match` is sent (a 409 if it is not current).",
    "content": {"application/json": {"schema": {
        "type": "object", "properties": {"version": {"type": "integer", "minimum": 1, "maximum": 2**53}}}}},
}


def _body_has_required_fields(body: dict, schemas: dict) -> bool:
    reference = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return bool(schemas.get(reference.rsplit("/", 1)[-1], {}).get("required"))


def _parameters(parameters: list[dict]) -> None:
    for parameter in parameters:
        if parameter["name"] == "cursor" and parameter["in"] == "query":
            parameter["description"] = CURSOR_DESCRIPTION
        if parameter["name"] == "Idempotency-Key" and parameter["in"] == "header":
            parameter["schema"] = {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}


def _operation(path: str, method: str, operation: dict, schemas: dict) -> None:
    operation["security"] = [{"cognitoBearer": []}, {"browserSession": []}]
    if path.startswith("/api/v1/admin/"):
        operation["description"] = ("**Platform admins only** (the `system_admin` Cognito group); "
                                    "anyone else gets a 403.\n\n" + operation.get("description", "")).strip()
        operation["x-required-groups"] = ["system_admin"]
    _parameters(operation.get("parameters", []))
    if operation.get("operationId") == "products_destroy":
        operation["requestBody"] = copy.deepcopy(DELETE_BODY)
    body = operation.get("requestBody")
    if body and _body_has_required_fields(body, schemas):
        body["required"] = True
    responses = operation.setdefault("responses", {})
    extra_headers = SUCCESS_HEADERS.get(operation.get("operationId", ""), {})
    replayable = ["Idempotent-Replayed"] if _takes_idempotency_key(operation) else []
    for code, response in responses.items():
        if code.startswith("2"):
            headers = response.setdefault("headers", {})
            for name in ["X-Request-ID", *extra_headers.get(code, []), *replayable]:
                headers[name] = {"$ref": f"#/components/headers/{name}"}
    for status in _error_statuses(path, method, operation):
        responses.setdefault(str(status), _error_response(status))
    for status, codes in _error_codes(operation).items():
        response = responses.setdefault(str(status), _error_response(status))
        response["description"] += " This operation: " + ", ".join(f"`{code}`" for code in codes) + "."
        response["x-error-codes"] = codes


def postprocess(result, generator, request, public):
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _components(schemas)
    schemas["Error"] = copy.deepcopy(ERROR_SCHEMA)
    components["headers"] = copy.deepcopy(HEADERS)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method in UNSAFE | {"get"}:
                _operation(path, method, operation, schemas)
    return result
