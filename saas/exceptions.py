"""The API's one error handler: every error becomes ``{"code", "message"[, "fields"][, extra...]}``.

Application errors (``saas.errors.AppError``, raised by services, selectors, stores and the tenancy
core) carry their own code, status and payload. DRF's own exceptions (authentication, permissions,
parsing, serializer validation, throttling) are rendered in the same shape. Unknown ``/api/`` paths
get the same JSON 404 (``api_not_found``) instead of Django's HTML page. The error classes
themselves are in ``saas.errors``.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from saas.errors import AppError, Forbidden, NotFound, ServiceUnavailable

__all__ = ["exception_handler", "api_not_found"]

logger = logging.getLogger("saas.api")


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


def _drf_body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return {"code": "invalid", "message": "Invalid input.", "fields": _flatten(detail)}
    codes = exc.get_codes()
    return {"code": codes if isinstance(codes, str) else exc.default_code, "message": str(exc.detail)}


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = Forbidden()
    if isinstance(exc, AppError):
        response = drf_exception_handler(_as_drf(exc), context)
        response.data = exc.as_dict()
        request = context.get("request")
        if (isinstance(exc, ServiceUnavailable) and getattr(exc, "dependency", None) == "dynamodb"
                and request is not None and request.method not in ("GET", "HEAD", "OPTIONS")
                and "order_id" not in response.data):
            # The store stopped answering mid-change: say how to repeat it without doing it twice.
            response.data["advice"] = ("The change may or may not have been saved. Repeat a create with the same "
                                       "Idempotency-Key (tenants, products, invitations, exports, orders, webhook "
                                       "endpoints): it creates at most once. Otherwise read the object back before repeating it "
                                       "(a repeated product create answers 409 duplicate_sku; a repeated update "
                                       "with the same If-Match answers 412).")
        if exc.fields is not None:
            response.data["fields"] = _flatten(exc.fields)
        for header, value in exc.headers.items():
            response[header] = value
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling (and the logs) take it from here
    response.data = _drf_body(exc)
    return response


def _as_drf(exc: AppError) -> exceptions.APIException:
    """Let DRF build the response (status, auth headers on 401/403) for an application error."""
    drf_exc = exceptions.APIException(exc.message, exc.code)
    drf_exc.status_code = exc.status
    return drf_exc


@csrf_exempt  # it changes nothing, so any method gets the 404 (not a 403 about a missing CSRF token)
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under ``/api/``: the API's JSON 404, not Django's HTML page."""
    return JsonResponse(NotFound().as_dict(), status=404)
