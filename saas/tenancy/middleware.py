"""Sets the TenantContext for each request and always resets it afterwards.

Who the caller is and which tenant is active is decided by the resolver named in
``settings.TENANT_RESOLVER`` (identity from a verified token or session, then the membership
record). The resolver never reads the tenant from headers, query string or body.
"""
from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils.module_loading import import_string

from saas.errors import ServiceUnavailable

from .context import enter, request_scope
from .store import StoreUnavailable


class TenantContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.resolve = import_string(settings.TENANT_RESOLVER)

    def __call__(self, request):
        with request_scope():  # every request starts from "no context", whatever the thread carried before
            try:
                context = self.resolve(request)
            except StoreUnavailable:  # before any view runs, so rendered here in the API's error shape
                error = ServiceUnavailable("dynamodb", "The data store is unavailable; try again shortly.")
                return JsonResponse(error.as_dict(), status=error.status, headers=error.headers)
            if context is not None:
                enter(context)
                request.tenant_context = context  # for the request log line written after the reset
            return self.get_response(request)
