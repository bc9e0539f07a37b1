"""Configuration checks (``manage.py check``; on Lambda they also run at start-up, see saas.apps).

Each names the environment variable to set. Outside the local stack nothing falls back to a
local default: a deployment with a missing secret stops at start-up instead of failing requests.
"""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

LOCAL_SECRET_KEY = "local-development-only-secret"


@register(Tags.security, deploy=False)
def configuration(app_configs=None, **kwargs) -> list[Error]:
    local = settings.LOCAL_STACK
    errors: list[Error] = []
    try:
        secret_key = settings.SECRET_KEY
    except Exception:  # Django raises ImproperlyConfigured for an empty SECRET_KEY
        secret_key = ""
    if not secret_key:
        errors.append(Error("No secret key.", hint="Set DJANGO_SECRET_KEY (e.g. secretsmanager:<name>#secret_key).",
                            id="saas.E001"))
    elif secret_key == LOCAL_SECRET_KEY and not local:
        errors.append(Error("The fixed local secret key is in use outside the local stack.",
                            hint="Set DJANGO_SECRET_KEY.", id="saas.E001"))
    if not settings.ALLOWED_HOSTS:
        errors.append(Error("No allowed hosts: every request would be refused (DisallowedHost).",
                            hint="Set DJANGO_ALLOWED_HOSTS to the API Gateway / custom domain.", id="saas.E002"))
    if not settings.COGNITO_USER_POOL_ID:
        errors.append(Error("No Cognito user pool: every bearer token would be rejected.",
                            hint="Set COGNITO_USER_POOL_ID.", id="saas.E003"))
    if not settings.COGNITO_APP_CLIENT_IDS:
        errors.append(Error("No Cognito app client ids: every bearer token would be rejected.",
                            hint="Set COGNITO_APP_CLIENT_IDS (comma-separated).", id="saas.E004"))
    if not settings.CELERY_BROKER_URL and not local:
        errors.append(Error("No Celery broker: orders and jobs could not be enqueued.",
                            hint="Set CELERY_BROKER_URL (sqs:// in AWS).", id="saas.E005"))
    if settings.COGNITO_DOMAIN and not (settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET):
        errors.append(Error("Browser sign-in is configured (COGNITO_DOMAIN) without its web client.",
                            hint="Set OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET.", id="saas.E006"))
    return errors
