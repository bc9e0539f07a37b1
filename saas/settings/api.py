"""The API: DRF, bounds on request bodies, the health check, the OpenAPI description."""
from __future__ import annotations

from saas.settings.environment import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.VerifiedIdentityAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["saas.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "saas.openapi.AutoSchema",  # drf-spectacular's, loaded on schema generation
    "EXCEPTION_HANDLER": "saas.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["saas.throttling.TenantRateThrottle"],
}
# Work one request may cause, bounded before parsing (saas.parsers): 413 / 400 with a short error.
API_MAX_BODY_BYTES = int(env("API_MAX_BODY_BYTES", str(64 * 1024)))
API_MAX_JSON_DEPTH = int(env("API_MAX_JSON_DEPTH", "20"))
API_MAX_JSON_KEYS = int(env("API_MAX_JSON_KEYS", "1000"))
# Error bodies name at most this many offending fields (the rest are counted, not listed).
API_MAX_ERROR_FIELDS = int(env("API_MAX_ERROR_FIELDS", "20"))
# GET /health answers from a per-process copy this long (one DescribeTable per window at most).
HEALTH_CACHE_SECONDS = float(env("HEALTH_CACHE_SECONDS", "2"))
SPECTACULAR_SETTINGS = {
    "TITLE": "SaaS Commerce API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI / Redoc assets come from drf-spectacular-sidecar's static files (WhiteNoise), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["saas.openapi.load", "tenants.schema.load"],  # saas.openapi first
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "saas.schema.postprocess"],
    # Request and response components apart: read-only fields (id, created_at...) are not asked for on create.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.STATUSES",
        "TenantStatusEnum": "tenants.models.TENANT_STATUSES",
    },
}
