"""GET /health: no auth; 200 when DynamoDB answers, 503 naming the failing dependency otherwise."""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from saas import aws


@require_GET
def health(request):
    try:
        aws.client("dynamodb").describe_table(TableName=settings.DYNAMODB_TABLE)
    except (BotoCoreError, ClientError) as exc:
        return JsonResponse({"status": "unavailable", "failing": ["dynamodb"], "detail": type(exc).__name__},
                            status=503)
    return JsonResponse({"status": "ok", "dependencies": {"dynamodb": "ok"}})
