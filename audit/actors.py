"""Who acts: the signed-in user during a request (``AuditRequestMiddleware``), the job in a worker,
the ``system_context`` reason for platform work, or what ``acting_for`` names."""
from __future__ import annotations

import contextlib
import uuid
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from django.http import HttpRequest, HttpResponse

from saas.tenancy.context import SystemContext, TenantContext, current_context

_request: ContextVar[Any] = ContextVar("audit_request", default=None)


class AuditRequestMiddleware:
    """Makes the current request (its id, source IP, verified identity) visible to the audit
    trail; also counts the tenant's API requests (the usage app)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.request_id = _request_id(request)  # type: ignore[attr-defined]
        token = _request.set(request)
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = request_id
            return response
        finally:
            _request.reset(token)


def _request_id(request: HttpRequest) -> str:
    from saas.logs import current_request_id  # one id for the logs, the audit trail and X-Request-ID

    known = current_request_id()
    if known:
        return known
    lambda_context = request.META.get("lambda.context")
    aws_id = getattr(lambda_context, "aws_request_id", None)
    return str(aws_id or uuid.uuid4().hex)


def tenant_facing(actor: dict[str, Any]) -> dict[str, Any]:
    """How a platform operator (a request the platform views marked ``acting_as_operator``) appears
    in the trail, and so the exports, of a tenant she acts on: "platform operator", with the request
    id but not her id, email or address. The platform trail keeps who it was, under the same request id."""
    request = _request.get()
    if request is None or not getattr(request, "acting_as_operator", False) or actor.get("actor_type") != "user":
        return actor
    return {"actor_type": "operator", "actor_id": "platform-operator", "request_id": actor.get("request_id")}


def _actor() -> dict[str, Any]:
    ctx = current_context()
    request = _request.get()
    if request is not None:
        identity = getattr(request, "identity", None)
        return {"actor_type": "user",
                "actor_id": getattr(identity, "sub", None) or getattr(ctx, "user_id", None) or "anonymous",
                "actor_email": getattr(identity, "email", None) or None,
                "request_id": getattr(request, "request_id", None),
                "source_ip": request.META.get("REMOTE_ADDR")}
    from celery import current_task  # a worker: the job is the actor, on behalf of who enqueued it

    task_request = getattr(current_task, "request", None) if current_task else None
    if task_request is not None and getattr(task_request, "id", None):
        return {"actor_type": "job", "actor_id": current_task.name,
                "actor_detail": {"job_id": task_request.id,
                                 "on_behalf_of": getattr(ctx, "user_id", None) or getattr(task_request, "user_id", None)}}
    if isinstance(ctx, SystemContext):
        return {"actor_type": "system", "actor_id": "system", "actor_detail": {"reason": ctx.reason}}
    if isinstance(ctx, TenantContext) and ctx.user_id:
        return {"actor_type": "user", "actor_id": ctx.user_id}
    return {"actor_type": "system", "actor_id": "system"}


@contextlib.contextmanager
def acting_for(reason: str) -> Iterator[None]:
    """Label direct calls outside any request/job (management commands, scripts)."""
    token = _acting.set(reason)
    try:
        yield
    finally:
        _acting.reset(token)


_acting: ContextVar[str | None] = ContextVar("audit_acting", default=None)



def actor_now() -> dict[str, Any]:
    actor = _actor()
    reason = _acting.get()
    if reason and actor.get("actor_type") != "user":
        actor = {**actor, "actor_type": "system", "actor_id": "system",
                 "actor_detail": {**(actor.get("actor_detail") or {}), "reason": reason}}
    return actor

