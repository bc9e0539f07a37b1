"""Structured logs: one JSON object per line (python-json-logger) with the tenant, the user and the
request id on every record, and the audit logger that production keeps at any level.

* ``RequestIdMiddleware`` (first in MIDDLEWARE) takes Lambda's ``aws_request_id`` from the WSGI
  environ (Zappa passes the Lambda context as ``lambda.context``), or generates one, keeps it in a
  ContextVar for the request and returns it as ``X-Request-ID``. A client-sent X-Request-ID is not
  trusted (it would let a caller forge log correlation).
* ``ContextFilter`` (on the handler) adds ``tenant_id``, ``user_id``, ``request_id`` to every record.
* ``audit`` (logger ``saas.audit``) is for cross-tenant ``system_context`` entries and security
  events; settings give it its own level, so prod's WARNING root level does not drop them.
"""
from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

AUDIT_LOGGER = "saas.audit"
audit = logging.getLogger(AUDIT_LOGGER)
request_logger = logging.getLogger("saas.request")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


class ContextFilter(logging.Filter):
    """Adds tenant_id / user_id (from the tenant context) and request_id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from saas.tenancy.context import TenantContext, current_context

        context = current_context()
        if not hasattr(record, "tenant_id"):
            record.tenant_id = context.tenant_id if isinstance(context, TenantContext) else None
        if not hasattr(record, "user_id"):
            record.user_id = context.user_id if isinstance(context, TenantContext) else None
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonLineFormatter(JsonFormatter):
    """level, logger, message, tenant_id, user_id, request_id, time, then any ``extra=``; the
    traceback, if any, as one ``exception`` field (one line, so one CloudWatch event)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(tenant_id)s %(user_id)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )


class RequestIdMiddleware:
    HEADER = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lambda_context = request.META.get("lambda.context")
        request_id = getattr(lambda_context, "aws_request_id", None) or uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[self.HEADER] = request_id
            self._log(request, response, started)
            return response
        finally:
            _request_id.reset(token)

    @staticmethod
    def _log(request, response, started: float) -> None:
        """One line per request, by tenant (the tenant context is already reset at this point)."""
        context = getattr(request, "tenant_context", None)
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        request_logger.log(level, "%s %s %s", request.method, request.path, response.status_code, extra={
            "status": response.status_code, "method": request.method, "path": request.path,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "tenant_id": getattr(context, "tenant_id", None), "user_id": getattr(context, "user_id", None)})


def logging_config(*, json_lines: bool, level: str, audit_level: str = "INFO") -> dict:
    """The LOGGING dict: JSON lines (Lambda, prod-like runs) or a readable line (local dev server)."""
    formatter = {"()": JsonLineFormatter} if json_lines else {
        "format": "%(asctime)s %(levelname)s %(name)s [tenant=%(tenant_id)s user=%(user_id)s "
                  "request=%(request_id)s] %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"default": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {AUDIT_LOGGER: {"level": audit_level}},
    }
