"""GET /health: no auth; 200 when DynamoDB answers, 503 naming the failing dependency otherwise.

The answer is kept per process for ``HEALTH_CACHE_SECONDS``, so a flood of /health costs at most one
DescribeTable per window (and unauthenticated callers are throttled per address)."""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from saas import aws
from saas.cache import TTLCache

# The last answer, kept HEALTH_CACHE_SECONDS: a flood of probes costs one DescribeTable.
_last: TTLCache[tuple[int, dict]] = TTLCache(maxsize=1, ttl=lambda _: settings.HEALTH_CACHE_SECONDS)


def _check() -> tuple[int, dict]:
    try:
        aws.client("dynamodb").describe_table(TableName=settings.DYNAMODB_TABLE)
    except (BotoCoreError, ClientError) as exc:
        return 503, {"status": "unavailable", "failing": ["dynamodb"], "detail": type(exc).__name__}
    return 200, {"status": "ok", "dependencies": {"dynamodb": "ok"}}


@require_GET
def health(request):
    status, body = _last.get_or_load("dynamodb", _check)
    return JsonResponse(body, status=status)


def forget() -> None:
    _last.clear()
