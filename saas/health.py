"""GET /health: no auth; 200 when DynamoDB answers, 503 naming the failing dependency otherwise.

The answer is kept per process for ``HEALTH_CACHE_SECONDS``, so a flood of /health costs at most one
DescribeTable per window (and unauthenticated callers are throttled per address)."""
from __future__ import annotations

import time

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from saas import aws

_last: tuple[float, int, dict] = (float("-inf"), 0, {})


def _check() -> tuple[int, dict]:
    try:
        aws.client("dynamodb").describe_table(TableName=settings.DYNAMODB_TABLE)
    except (BotoCoreError, ClientError) as exc:
        return 503, {"status": "unavailable", "failing": ["dynamodb"], "detail": type(exc).__name__}
    return 200, {"status": "ok", "dependencies": {"dynamodb": "ok"}}


@require_GET
def health(request):
    global _last
    checked_at, status, body = _last
    if time.monotonic() - checked_at >= settings.HEALTH_CACHE_SECONDS:
        status, body = _check()
        _last = (time.monotonic(), status, body)
    return JsonResponse(body, status=status)


def forget() -> None:
    global _last
    _last = (float("-inf"), 0, {})
