"""The one application error model.

Services, selectors, stores and jobs raise these; they know nothing about HTTP frameworks. An
``AppError`` carries a stable machine ``code``, the HTTP ``status`` it means, a human ``message``,
optionally the offending ``fields`` (``{"field": ["problem", ...]}``) and extra payload that clients
rely on (``dependency`` of a 503, the short ``lines`` of an insufficient-stock 409, ...).

The API turns them into ``{"code", "message"[, "fields"][, extra...]}`` in one place
(``saas.exceptions.exception_handler``); the web views turn them into messages and pages.
This module imports nothing from Django or DRF, so any layer may raise these.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping


class AppError(Exception):
    """Base of every error a client may see. Subclasses set ``status``, ``code`` and ``default_message``."""

    status: ClassVar[int] = 400
    code: str = "invalid"
    default_message: ClassVar[str] = "The request is not valid."

    def __init__(self, message: str | None = None, code: str | None = None, *,
                 fields: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)
        if code is not None:
            self.code = code
        self.fields = dict(fields) if fields else None
        self.extra = dict(extra) if extra else {}

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the response must carry (``Retry-After`` for 429 and 503)."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        """The client-facing body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


class InvalidInput(AppError):
    """400: bad input; ``fields`` names what is wrong."""

    status, code, default_message = 400, "invalid", "Invalid input."


class Forbidden(AppError):
    """403: authenticated, but not allowed."""

    status, code, default_message = 403, "permission_denied", "You do not have permission to perform this action."


class NotFound(AppError):
    """404: missing, or another tenant's (never revealed)."""

    status, code, default_message = 404, "not_found", "Not found."


class Conflict(AppError):
    """409: the request conflicts with the current state (version, duplicate, stock, status)."""

    status, code, default_message = 409, "conflict", "The request conflicts with the current state."


class PreconditionFailed(AppError):
    """412: a stale ``If-Match``."""

    status, code, default_message = 412, "precondition_failed", "If-Match does not match the current version."


class Throttled(AppError):
    """429: over a rate limit; ``Retry-After`` says when to come back."""

    status, code, default_message = 429, "throttled", "Request was throttled."

    def __init__(self, message: str | None = None, code: str | None = None, *, retry_after: int | None = None,
                 **kwargs: Any):
        super().__init__(message, code, **kwargs)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class ServiceUnavailable(AppError):
    """503: a dependency (``dynamodb``, ``broker``, ``sns``, ``cognito``...) is down; nothing was lost."""

    status, code, default_message = 503, "service_unavailable", "A dependency is unavailable; try again shortly."
    RETRY_AFTER_SECONDS: ClassVar[int] = 5

    def __init__(self, dependency: str, message: str | None = None, code: str | None = None, **kwargs: Any):
        super().__init__(message or f"{dependency} is unavailable; try again shortly.", code, **kwargs)
        self.dependency = dependency
        self.extra.setdefault("dependency", dependency)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER_SECONDS)}


__all__ = ["AppError", "InvalidInput", "Forbidden", "NotFound", "Conflict", "PreconditionFailed", "Throttled",
           "ServiceUnavailable"]
