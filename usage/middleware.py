"""Counting API requests (``MIDDLEWARE``, after the tenant middleware)."""
from __future__ import annotations

from .services import counter


class UsageMiddleware:
    """Counts the tenant's API requests (placed after the tenant middleware) and flushes now and then."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            if request.path_info.startswith("/api/"):  # path_info: without the API Gateway stage
                counter.add("api_requests")
            counter.maybe_flush()
