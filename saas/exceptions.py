"""One error shape for the whole API: ``{"code", "message"[, "fields"]}``.

Store failures map to the contract's status codes here, so services can simply raise.
"""
from __future__ import annotations

import logging

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from saas.tenancy.context import NoTenantContext
from saas.tenancy import store

logger = logging.getLogger("saas.api")


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A dependency is unavailable; try again shortly."

    def __init__(self, dependency: str, detail: str | None = None, code: str | None = None, *,
                 extra: dict | None = None):
        super().__init__(detail or f"{dependency} is unavailable; try again shortly.", code)
        self.dependency = dependency
        self.extra = extra or {}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."

    def __init__(self, detail=None, code=None, *, extra: dict | None = None):
        super().__init__(detail, code)
        self.extra = extra or {}


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "If-Match does not match the current version."


def _flatten(detail, depth: int = 0):
    """Plain JSON of DRF's error detail, bounded: at most API_MAX_ERROR_FIELDS entries per level,
    a few levels deep, messages cut to 300 characters (an error never grows with the input)."""
    limit = settings.API_MAX_ERROR_FIELDS
    if depth > 4:
        return "..."
    if isinstance(detail, dict):
        flat = {str(k)[:100]: _flatten(v, depth + 1) for k, v in list(detail.items())[:limit]}
        if len(detail) > limit:
            flat["errors_omitted"] = [f"{len(detail) - limit} more."]
        return flat
    if isinstance(detail, list):
        return [_flatten(v, depth + 1) for v in detail[:limit]]
    return str(detail)[:300]


def exception_handler(exc, context):
    if isinstance(exc, (store.DoesNotExist, store.TenantMismatch)):
        exc = exceptions.NotFound()
    elif isinstance(exc, store.VersionConflict):
        exc = Conflict("The item was changed by someone else.", "version_conflict")
    elif isinstance(exc, store.AlreadyExists):
        exc = Conflict("The item already exists.", "already_exists")
    elif isinstance(exc, store.InvalidCursor):
        exc = exceptions.ValidationError({"cursor": ["Invalid cursor."]})
    elif isinstance(exc, store.StoreUnavailable):
        exc = ServiceUnavailable("dynamodb")
    elif isinstance(exc, NoTenantContext):
        exc = exceptions.PermissionDenied("No active tenant.", "no_active_tenant")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {"code": "invalid", "message": "Invalid input.", "fields": _flatten(detail)}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        body = {"code": codes if isinstance(codes, str) else getattr(exc, "default_code", "error"),
                "message": str(getattr(exc, "detail", exc))}
    if isinstance(exc, ServiceUnavailable):
        body["dependency"] = exc.dependency
        body.update(exc.extra)
        response["Retry-After"] = "5"
    if isinstance(exc, Conflict):
        body.update(exc.extra)
    response.data = body
    return response
