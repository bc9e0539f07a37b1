"""Settings. Everything comes from environment variables; defaults are for the local stack.

In AWS (Zappa stages) the endpoint variables are unset, so boto3 talks to the real services.
Any variable may hold a reference instead of a value, ``ssm:/path/name`` or
``secretsmanager:name#json-key``: they are resolved here, once per process start (saas.config).
Missing configuration is reported by the ``saas.E00x`` system checks (saas.checks).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from saas import config as _config
from saas import logs

BASE_DIR = Path(__file__).resolve().parent.parent

# Resolve every referenced variable in one go (one SSM call, one per secret); an unresolvable
# reference stops start-up with an error naming the variable.
_RESOLVED = _config.resolve_environment(os.environ)


def env(name: str, default: str = "") -> str:
    return _RESOLVED.get(name, os.environ.get(name, default))


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in env(name, default).split(",") if v.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
LOCAL_STACK = env_bool("SAAS_LOCAL_STACK", False)  # set by devstack for the local servers
# The fixed key only with the local stack (never because DEBUG is on); saas.E001 otherwise.
SECRET_KEY = env("DJANGO_SECRET_KEY") or ("local-development-only-secret" if LOCAL_STACK else "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if LOCAL_STACK else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Where this stage's parameters and secrets live (its IAM policy grants only these; see deploy/iam/).
CONFIG_PARAMETER_PATH = env("CONFIG_PARAMETER_PATH", "/saas-commerce/local/")
CONFIG_SECRET_PREFIX = env("CONFIG_SECRET_PREFIX", "saas-commerce/local/")
if not (LOCAL_STACK or DEBUG):
    # Behind API Gateway (HTTPS only, X-Forwarded-Proto set by it) - what `check --deploy` asks for.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(env("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading commits the whole registrable domain to HTTPS in browsers, irreversibly for
        # months: an owner's decision per custom domain (never for execute-api's), not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mozilla_django_oidc",
    "django_htmx",
    "csp",
    "saas",
    "audit",
    "tenants",
    "products",
    "orders",
    "webhooks",
]

MIDDLEWARE = [
    "saas.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "saas.web.NoStoreMiddleware",  # below WhiteNoise: static files keep their long-lived caching
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.actors.AuditRequestMiddleware",
    "saas.tenancy.middleware.TenantContextMiddleware",
    "saas.usage.UsageMiddleware",
    "saas.throttling.CallerThrottleMiddleware",  # inside the tenant middleware: sees identity + context
    "django_htmx.middleware.HtmxMiddleware",
    "saas.web.MethodNotAllowedMiddleware",
]

ROOT_URLCONF = "saas.urls"
APPEND_SLASH = False
TENANT_RESOLVER = "tenants.resolution.resolve_request"
WSGI_APPLICATION = "saas.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "tenants.web.shell",
            ]
        },
    }
]

# Django's relational database holds nothing durable: users are built from verified tokens and
# sessions live in DynamoDB. An in-memory SQLite satisfies contrib.auth's imports.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
# Nothing is kept in that database (DynamoDB is the store), so the contrib apps' SQL migrations are
# never applied: declaring them unmigrated says so, and `runserver` stops warning about them.
MIGRATION_MODULES = {"auth": None, "contenttypes": None, "sessions": None}
# Server-side sessions (saas/sessions.py): the cookie holds a random key, the record lives in the
# table with a TTL, so signing out ends every copy of the cookie.
SESSION_ENGINE = "saas.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not (DEBUG or LOCAL_STACK)
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
# A path on this host (WhiteNoise serves it; saas.static adds the API Gateway stage per request), or a
# CDN's URL when the static files are served from one.
STATIC_URL = env("DJANGO_STATIC_URL", "/static/")
STATIC_ROOT = env("DJANGO_STATIC_ROOT") or None  # not needed: WhiteNoise serves from the apps
# WhiteNoise serves the apps' static files straight from the package (locally and on Lambda): no
# collectstatic step, no CDN, no bucket. Files are found once at start-up.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
CSRF_FAILURE_VIEW = "saas.web.csrf_failure"
# How long the header's tenant list (names and statuses of your other tenants) may lag in a process.
WEB_SWITCHER_CACHE_SECONDS = float(env("WEB_SWITCHER_CACHE_SECONDS", "30"))

# Where presigned file links point (the S3 endpoint locally; the bucket's hosts in AWS), for the CSP.
_s3_endpoint = env("S3_ENDPOINT_URL", env("MOTO_ENDPOINT_URL"))
_files_bucket = env("S3_BUCKET", "saas-local-files")
FILES_ORIGINS = ([_s3_endpoint.rstrip("/")] if _s3_endpoint else
                 [f"https://{_files_bucket}.s3.amazonaws.com",
                  f"https://{_files_bucket}.s3.{env('AWS_REGION', env('AWS_DEFAULT_REGION', 'us-east-1'))}.amazonaws.com"])

# Content-Security-Policy (django-csp): scripts only from us and with the request's nonce, no
# inline script or style, no third party anywhere. The API docs page relaxes styles only.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *FILES_ORIGINS],  # product images: short-lived presigned S3 links
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

CACHES: dict[str, dict[str, Any]] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "saas"}}
if env("REDIS_CACHE_URL"):
    # Short socket timeouts: a frozen cache must not hold a request (the throttle fails open).
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_CACHE_URL"),
                         "OPTIONS": {"socket_connect_timeout": float(env("REDIS_CACHE_TIMEOUT", "0.25")),
                                     "socket_timeout": float(env("REDIS_CACHE_TIMEOUT", "0.25"))}}

# --- AWS --------------------------------------------------------------------------------------------
AWS_REGION = env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1"))
AWS_ENDPOINT_URLS = {
    "dynamodb": env("DYNAMODB_ENDPOINT_URL"),
    "sns": env("SNS_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "sqs": env("SQS_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "s3": env("S3_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "ssm": env("SSM_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "secretsmanager": env("SECRETSMANAGER_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "cognito-idp": env("COGNITO_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "lambda": env("LAMBDA_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "ses": env("SES_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
}
# A frozen dependency must cost a request well under API Gateway's 29 s (target: < 10 s in all): a
# call is at most AWS_MAX_ATTEMPTS x AWS_READ_TIMEOUT plus one back-off (standard mode, < 1 s), i.e.
# ~5 s; a DynamoDB call normally answers in milliseconds. Measured in tests/outages/test_frozen_aws.py.
# Email (saas.mail): django-ses on our SES client, always sent from the ``mail.send`` job.
MAIL_BACKEND = env("MAIL_BACKEND", "saas.mail_backend.SESBackend")
# No django-ses self-throttling (it reads GetSendQuota before sending): one message per job, and a
# throttled send fails the job, which Celery retries with backoff.
AWS_SES_AUTO_THROTTLE = None
EMAIL_BACKEND = MAIL_BACKEND
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "no-reply@saas-commerce.example")
# The address people open the web app at: links in emails are built on it.
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
AWS_CONNECT_TIMEOUT = float(env("AWS_CONNECT_TIMEOUT", "2"))
AWS_READ_TIMEOUT = float(env("AWS_READ_TIMEOUT", "2"))
AWS_MAX_ATTEMPTS = int(env("AWS_MAX_ATTEMPTS", "2"))
if LOCAL_STACK:
    # Dummy credentials for local servers only; in AWS the Lambda role provides real ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")

DYNAMODB_TABLE = env("DYNAMODB_TABLE", "saas-local-pooled")
DYNAMODB_SILO_TABLE_PREFIX = env("DYNAMODB_SILO_TABLE_PREFIX", "saas-local-silo-")

# Files: S3 via django-storages under a per-tenant prefix (see saas.tenancy.keys.storage_key).
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("S3_BUCKET", "saas-local-files"),
            "endpoint_url": AWS_ENDPOINT_URLS["s3"] or None,
            "region_name": AWS_REGION,
            "file_overwrite": False,
            "querystring_auth": True,  # url() gives presigned GETs
            "querystring_expire": int(env("FILES_GET_EXPIRE_SECONDS", "300")),
            "default_acl": None,  # the bucket stays private
            "signature_version": "s3v4",
        },
    },
    "staticfiles": {"BACKEND": "saas.static.ScriptPrefixedStaticFilesStorage"},
}

# --- Identity (Cognito) -----------------------------------------------------------------------------
COGNITO_USER_POOL_ID = env("COGNITO_USER_POOL_ID")
COGNITO_APP_CLIENT_IDS = env_list("COGNITO_APP_CLIENT_IDS")
COGNITO_ISSUER = env(
    "COGNITO_ISSUER",
    f"https://cognito-idp.{AWS_REGION}.amazonaws.com/{COGNITO_USER_POOL_ID}" if COGNITO_USER_POOL_ID else "",
)
# The JWKS URL differs from the issuer only locally (the emulator serves it on its own endpoint).
COGNITO_JWKS_URL = env("COGNITO_JWKS_URL", f"{COGNITO_ISSUER}/.well-known/jwks.json" if COGNITO_ISSUER else "")
COGNITO_JWKS_MIN_REFRESH_SECONDS = float(env("COGNITO_JWKS_MIN_REFRESH_SECONDS", "60"))
COGNITO_JWKS_RETRY_SECONDS = float(env("COGNITO_JWKS_RETRY_SECONDS", "5"))  # after a failed JWKS fetch
# How long the key set is trusted before it is fetched again (an unknown kid refreshes it sooner).
COGNITO_JWKS_LIFESPAN_SECONDS = float(env("COGNITO_JWKS_LIFESPAN_SECONDS", "86400"))
COGNITO_SYSTEM_ADMIN_GROUP = env("COGNITO_SYSTEM_ADMIN_GROUP", "system_admin")
# Pending invitations (tenants.services.invitations) expire after this.
INVITATION_TTL_SECONDS = int(env("INVITATION_TTL_SECONDS", str(7 * 24 * 3600)))
MEMBERSHIP_CACHE_TTL_SECONDS = float(env("MEMBERSHIP_CACHE_TTL_SECONDS", "30"))
# Silo (platinum) tenants are provisioned by a worker (tenants.provision_silo). An attempt holds the
# tenant this long; after it the outbox sweep re-enqueues a tenant still `provisioning` (lost enqueue,
# dead worker). Keep it well above the time a table takes to create. After MAX_ATTEMPTS it is `failed`.
TENANT_PROVISIONING_RETRY_SECONDS = float(env("TENANT_PROVISIONING_RETRY_SECONDS", "120"))
TENANT_PROVISIONING_MAX_ATTEMPTS = int(env("TENANT_PROVISIONING_MAX_ATTEMPTS", "5"))
# A job waits this long for a new silo table, then a follow-up job (POLL seconds later) continues;
# it must fit the worker function's timeout with room to spare (the web stage's 30 s included).
TENANT_PROVISIONING_WAIT_SECONDS = float(env("TENANT_PROVISIONING_WAIT_SECONDS", "10"))
TENANT_PROVISIONING_POLL_SECONDS = float(env("TENANT_PROVISIONING_POLL_SECONDS", "5"))
TENANT_PROVISIONING_MAX_WAITS = int(env("TENANT_PROVISIONING_MAX_WAITS", "60"))

# Browser sign-in (mozilla-django-oidc): the Cognito hosted UI in AWS, a local provider locally.
# In AWS set COGNITO_DOMAIN (the hosted UI, e.g. https://<prefix>.auth.<region>.amazoncognito.com) and
# the web app client's OIDC_RP_CLIENT_ID / OIDC_RP_CLIENT_SECRET; the endpoints follow from it.
# Locally devstack sets the OIDC_OP_* endpoints of its provider process; its issuer is its origin.
COGNITO_DOMAIN = env("COGNITO_DOMAIN").rstrip("/")
_hosted_ui = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{COGNITO_DOMAIN}/oauth2/authorize",
    "OIDC_OP_SIGNUP_ENDPOINT": f"{COGNITO_DOMAIN}/signup",  # the hosted UI's sign-up (self sign-up on)
    "OIDC_OP_TOKEN_ENDPOINT": f"{COGNITO_DOMAIN}/oauth2/token",
    "OIDC_OP_USER_ENDPOINT": f"{COGNITO_DOMAIN}/oauth2/userInfo",
    "OIDC_OP_JWKS_ENDPOINT": COGNITO_JWKS_URL,
    "OIDC_OP_LOGOUT_URL": f"{COGNITO_DOMAIN}/logout",
} if COGNITO_DOMAIN else {}
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", _hosted_ui.get("OIDC_OP_AUTHORIZATION_ENDPOINT", ""))
OIDC_OP_SIGNUP_ENDPOINT = env("OIDC_OP_SIGNUP_ENDPOINT", _hosted_ui.get("OIDC_OP_SIGNUP_ENDPOINT", ""))
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", _hosted_ui.get("OIDC_OP_TOKEN_ENDPOINT", ""))
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", _hosted_ui.get("OIDC_OP_USER_ENDPOINT", ""))
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", _hosted_ui.get("OIDC_OP_JWKS_ENDPOINT", ""))
OIDC_OP_LOGOUT_URL = env("OIDC_OP_LOGOUT_URL", _hosted_ui.get("OIDC_OP_LOGOUT_URL", ""))
# The ID token's iss must equal this (tenants.backends checks it; mozilla-django-oidc does not).
OIDC_OP_ISSUER = env(
    "OIDC_OP_ISSUER",
    COGNITO_ISSUER if COGNITO_DOMAIN else "/".join(OIDC_OP_AUTHORIZATION_ENDPOINT.split("/")[:3]),
)
OIDC_RP_SCOPES = "openid email profile"
OIDC_STORE_ID_TOKEN = False  # the session keeps only sub/email/groups: a small signed cookie
OIDC_USE_NONCE = True
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", False)
OIDC_TIMEOUT = float(env("OIDC_TIMEOUT", "5"))
OIDC_OP_LOGOUT_URL_METHOD = "tenants.backends.provider_logout_url"
# The local provider lives in a separate process that does not know Cognito's users: seed_demo
# registers the demo users there under their Cognito subs (see tenants/demo.py).
OIDC_LOCAL_PROVIDER_URL = env("OIDC_LOCAL_PROVIDER_URL", OIDC_OP_ISSUER if LOCAL_STACK else "")
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/login/?error=1"
LOGOUT_REDIRECT_URL = "/login/"

# The browser backend returns a lightweight user from verified claims; no database user exists.
AUTHENTICATION_BACKENDS = ["tenants.backends.CognitoOIDCBackend"]

# --- API ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.VerifiedIdentityAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["saas.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "saas.openapi.AutoSchema",  # drf-spectacular's, loaded on schema generation
    "EXCEPTION_HANDLER": "saas.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["saas.throttling.TenantRateThrottle"],
}
# Work one request may cause, bounded before parsing (saas.parsers): 413 / 400 with a short error.
API_MAX_BODY_BYTES = int(env("API_MAX_BODY_BYTES", str(64 * 1024)))
API_MAX_JSON_DEPTH = int(env("API_MAX_JSON_DEPTH", "20"))
API_MAX_JSON_KEYS = int(env("API_MAX_JSON_KEYS", "1000"))
# Error bodies name at most this many offending fields (the rest are counted, not listed).
API_MAX_ERROR_FIELDS = int(env("API_MAX_ERROR_FIELDS", "20"))
# Requests per tenant (all of its users together), by tier. Per-second windows, so a flooding
# tenant is refused within a second instead of after spending a minute's allowance.
TENANT_THROTTLE_RATES = {
    "basic": env("THROTTLE_RATE_BASIC", "20/s"),
    "standard": env("THROTTLE_RATE_STANDARD", "50/s"),
    "premium": env("THROTTLE_RATE_PREMIUM", "100/s"),
    "platinum": env("THROTTLE_RATE_PLATINUM", "300/s"),
}
# Callers with no tenant context (saas.throttling.CallerThrottleMiddleware): a signed-in user with
# no active tenant (per user), unauthenticated callers incl. /health (per address), and failed bearer
# tokens (per address; over budget -> refused before any signature check).
CALLER_THROTTLE_RATES = {
    "no_tenant": env("THROTTLE_RATE_NO_TENANT", "10/s"),
    "anonymous": env("THROTTLE_RATE_ANONYMOUS", "20/s"),
    "bad_token": env("THROTTLE_RATE_BAD_TOKEN", "30/min"),
}
# Where budgets are kept (saas.throttling): "dynamodb" = one counter per window shared by every
# process/container, leased in slices of ceil(limit / THROTTLE_LEASE_SLICES) growing (doubling while
# the container spends them) up to ceil(limit / THROTTLE_LEASE_MIN_SLICES); "cache" = per cache.
THROTTLE_SHARED_STORE = env("THROTTLE_SHARED_STORE", "dynamodb")
THROTTLE_LEASE_SLICES = int(env("THROTTLE_LEASE_SLICES", "10"))
THROTTLE_LEASE_MIN_SLICES = int(env("THROTTLE_LEASE_MIN_SLICES", "4"))
# After a cache error the throttles allow everything (logged) and leave the cache alone this long.
THROTTLE_CACHE_RETRY_SECONDS = float(env("THROTTLE_CACHE_RETRY_SECONDS", "5"))
# GET /health answers from a per-process copy this long (one DescribeTable per window at most).
HEALTH_CACHE_SECONDS = float(env("HEALTH_CACHE_SECONDS", "2"))
SPECTACULAR_SETTINGS = {
    "TITLE": "SaaS Commerce API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI / Redoc assets come from drf-spectacular-sidecar's static files (WhiteNoise), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["saas.openapi.load", "tenants.schema.load"],  # saas.openapi first
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "saas.schema.postprocess"],
    # Request and response components apart: read-only fields (id, created_at...) are not asked for on create.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.STATUSES",
        "TenantStatusEnum": "tenants.models.TENANT_STATUSES",
    },
}

# --- Celery ---------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0" if LOCAL_STACK else "")  # saas.E005
# SQS (the broker in AWS; the moto server locally): the job queue and its dead-letter queue are
# declared in saas/queues.py and created by `manage.py ensure_queues`. The worker is a Lambda
# function (saas.worker.handle_sqs) fed by an SQS event source; its timeout sets the visibility.
SQS_QUEUE_PREFIX = env("SQS_QUEUE_PREFIX", "saas-local")
SQS_JOBS_QUEUE_URL = env("SQS_JOBS_QUEUE_URL")  # https://sqs.<region>.amazonaws.com/<account>/<prefix>-jobs
WORKER_TIMEOUT_SECONDS = int(env("WORKER_TIMEOUT_SECONDS", "120"))  # the worker stage's timeout_seconds
SQS_VISIBILITY_TIMEOUT = int(env("SQS_VISIBILITY_TIMEOUT", str(6 * WORKER_TIMEOUT_SECONDS)))
SQS_MAX_RECEIVE_COUNT = int(env("SQS_MAX_RECEIVE_COUNT", "5"))  # then the dead-letter queue
# A worker invocation starts no new record with less than this left (they go back to the queue).
WORKER_STOP_MARGIN_SECONDS = float(env("WORKER_STOP_MARGIN_SECONDS", "15"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = float(env("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
# The longest a job may legitimately run (silo provisioning waits for a table; fulfilment is short).
# A Redis message unacknowledged for longer (its worker died) is redelivered after the visibility
# timeout, so it is sized to the longest job plus a margin, and workers look for such messages every
# few seconds. Orders do not wait for that: the sweep recovers an orphaned order within ~30 s.
CELERY_LONGEST_JOB_SECONDS = int(env("CELERY_LONGEST_JOB_SECONDS", "120"))
# Every broker operation has a socket timeout: a frozen Redis cannot hold a request (or a publish).
BROKER_SOCKET_TIMEOUT_SECONDS = float(env("BROKER_SOCKET_TIMEOUT_SECONDS", "0.3"))
# SQS: one SendMessage waits at most this long for its answer (normally tens of ms), one attempt per
# Celery publish try (AFTER_COMMIT_PUBLISH allows two); after a failure the request's later publishes
# are skipped (saas.celery.broker), so a frozen SQS costs a request ~2 x this, not 9 x 5 s.
BROKER_PUBLISH_TIMEOUT_SECONDS = float(env("BROKER_PUBLISH_TIMEOUT_SECONDS", "1.5"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", str(CELERY_LONGEST_JOB_SECONDS + 30))),
    "unacked_restore_interval": 5, "unacked_restore_throttle": 1,
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
}
if CELERY_BROKER_URL.startswith("sqs://"):
    from saas.queues import sqs_broker_settings  # (endpoint, queue URL, timeouts)

    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = sqs_broker_settings(
        endpoint_url=AWS_ENDPOINT_URLS["sqs"], region=AWS_REGION, jobs_queue_url=SQS_JOBS_QUEUE_URL,
        connect_timeout=CELERY_BROKER_CONNECTION_TIMEOUT, read_timeout=BROKER_PUBLISH_TIMEOUT_SECONDS)
    # Celery prefers the CELERY_BROKER_URL environment variable ("sqs://", no endpoint) to
    # broker_url; the read/write URLs win over both.
    CELERY_BROKER_READ_URL = CELERY_BROKER_WRITE_URL = CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = False
# The outbox relay's safety net: publishes pending events and re-enqueues stuck orders (orders.tasks).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "outbox-sweep": {"task": "outbox.sweep", "schedule": float(env("OUTBOX_SWEEP_SECONDS", "10"))},
    # Locally the delivery queue is read by this job; in AWS by the worker's SQS event source.
    **({"webhooks-consume": {"task": "webhooks.consume", "schedule": float(env("WEBHOOKS_CONSUME_SECONDS", "2")),
                             "kwargs": {"seconds": 1.5}}} if LOCAL_STACK else {}),
    # Subscriber hosts are re-validated (DNS may have changed); failing ones are suspended.
    "webhooks-revalidate": {"task": "webhooks.revalidate",
                            "schedule": float(env("WEBHOOKS_REVALIDATE_SECONDS", "900"))},
    "offboarding-sweep": {"task": "offboarding.sweep", "schedule": float(env("OFFBOARDING_SWEEP_SECONDS", "60"))},
    # Exports whose job was lost (enqueue lost after the commit, worker killed) are re-enqueued.
    "exports-sweep": {"task": "exports.sweep", "schedule": float(env("EXPORT_SWEEP_SECONDS", "60"))},
    # The audit trails' anchor outside DynamoDB (audit.write_digest).
    "audit-digest": {"task": "audit.digest", "schedule": float(env("AUDIT_DIGEST_SECONDS", "3600"))},
}
# A fair share of the workers per tenant (saas.fairness): on the Redis broker at most this many bulk
# jobs (exports) of one tenant run at once, across workers; one that finds them all running is
# published again BULK_DEFER_SECONDS later (doubling up to BULK_DEFER_MAX_SECONDS). A slot held by a
# killed worker expires after BULK_SLOT_SECONDS. On SQS the jobs queue is a fair queue instead.
CELERY_TASK_ROUTES = ("saas.fairness.route",)  # bulk jobs (exports) at the lowest priority
BULK_JOBS_PER_TENANT = int(env("BULK_JOBS_PER_TENANT", "1"))
BULK_SLOT_SECONDS = int(env("BULK_SLOT_SECONDS", str(CELERY_LONGEST_JOB_SECONDS + 30)))
BULK_DEFER_SECONDS = float(env("BULK_DEFER_SECONDS", "0.5"))
BULK_DEFER_MAX_SECONDS = float(env("BULK_DEFER_MAX_SECONDS", "2"))
# Writes that need a job (POST /orders) probe the broker first: 503 and nothing written when it is down.
BROKER_CHECK_TIMEOUT_SECONDS = float(env("BROKER_CHECK_TIMEOUT_SECONDS", "0.5"))
BROKER_CHECK_CACHE_SECONDS = float(env("BROKER_CHECK_CACHE_SECONDS", "1.5"))
# How long a worker trusts a tenant's status before re-reading it (saas.tenancy.jobs).
TENANT_JOB_CACHE_SECONDS = float(env("TENANT_JOB_CACHE_SECONDS", "5"))
# Outbox retry back-off: base * 2^(attempt-1), capped; events are never given up on.
OUTBOX_RETRY_BASE_SECONDS = float(env("OUTBOX_RETRY_BASE_SECONDS", "30"))
OUTBOX_RETRY_MAX_SECONDS = float(env("OUTBOX_RETRY_MAX_SECONDS", "900"))
# Sent outbox events are kept this long (for inspection and redelivery questions), then expire by TTL.
OUTBOX_SENT_RETENTION_SECONDS = int(env("OUTBOX_SENT_RETENTION_SECONDS", str(7 * 24 * 3600)))
# In-process attempts of an order's commit when DynamoDB fails transiently (same order id each time).
ORDERS_COMMIT_ATTEMPTS = int(env("ORDERS_COMMIT_ATTEMPTS", "3"))
# ...but no new attempt (nor a read to learn the outcome) starts once the commit has taken this long:
# a frozen DynamoDB then answers 503 outcome_unknown with the order id in < 10 s, not 67 s.
ORDERS_COMMIT_DEADLINE_SECONDS = float(env("ORDERS_COMMIT_DEADLINE_SECONDS", "3"))
# Order pipeline: simulated fulfilment time, and when the sweep treats an open order as stuck.
# The local stack (scripts/dev.sh) sets it to 20 s so a person can watch an order move and cancel it.
ORDERS_FULFILMENT_DELAY_SECONDS = float(env("ORDERS_FULFILMENT_DELAY_SECONDS", "0"))
# An orphaned order (lost enqueue, killed worker) is re-enqueued by the next sweep after this: with
# the 10 s sweep it is finished <= ~30 s after it stopped moving. Kept above the fulfilment time so a
# running job is not duplicated (a duplicate would change nothing: transitions are guarded).
ORDERS_STUCK_AFTER_SECONDS = float(env("ORDERS_STUCK_AFTER_SECONDS",
                                       str(max(15.0, ORDERS_FULFILMENT_DELAY_SECONDS + 10))))
# The sweep re-enqueues one order again only after twice the previous wait (15, 30, 60, ... s, at most
# this): a backed-up queue gets a few copies of a job, not one per sweep (orders.services).
ORDERS_RECOVERY_MAX_BACKOFF_SECONDS = float(env("ORDERS_RECOVERY_MAX_BACKOFF_SECONDS", "240"))

# JSON lines with tenant_id, user_id and request_id (saas.logs); the local stack keeps a readable line
# unless LOG_FORMAT=json. The audit logger (system_context, security events) keeps its own level.
LOGGING = logs.logging_config(json_lines=env("LOG_FORMAT", "plain" if LOCAL_STACK else "json") == "json",
                              level=env("LOG_LEVEL", "INFO"), audit_level=env("AUDIT_LOG_LEVEL", "INFO"))

# --- Webhooks ---------------------------------------------------------------------------------------
# Locally, subscribers are test receivers on 127.0.0.1 over http; never allowed outside local stacks.
WEBHOOKS_ALLOW_INSECURE_LOCAL = env_bool("WEBHOOKS_ALLOW_INSECURE_LOCAL", LOCAL_STACK)
# ``(host, port) -> addresses`` used to validate subscriber hosts; empty = the system resolver.
WEBHOOKS_RESOLVER = env("WEBHOOKS_RESOLVER", "")
WEBHOOKS_TOPIC_PREFIX = env("WEBHOOKS_TOPIC_PREFIX", "saas-local")
# How long another process may keep using a (tenant, event type) -> topic lookup, found or not.
WEBHOOKS_TOPIC_CACHE_SECONDS = float(env("WEBHOOKS_TOPIC_CACHE_SECONDS", "5"))
# A topic stuck in "deleting" this long (its deleter died) may be finished off by a new subscriber.
WEBHOOKS_TOPIC_DELETE_STALE_SECONDS = float(env("WEBHOOKS_TOPIC_DELETE_STALE_SECONDS", "60"))
# Endpoint delivery: one SNS topic per tenant -> this SQS queue (raw delivery) -> the worker POSTs
# each event to the tenant's endpoints (webhooks.services.delivery). Named like the jobs queue.
# Empty: ``<SQS_QUEUE_PREFIX>-webhooks`` (saas.queues.webhooks_queue_name).
WEBHOOKS_DELIVERY_QUEUE = env("WEBHOOKS_DELIVERY_QUEUE", "")
WEBHOOKS_DELIVERY_TIMEOUT_SECONDS = float(env("WEBHOOKS_DELIVERY_TIMEOUT_SECONDS", "15"))
# Messages, deliveries and attempts expire (DynamoDB TTL) after this; recover-since reaches this far.
WEBHOOKS_LOG_RETENTION_SECONDS = int(env("WEBHOOKS_LOG_RETENTION_SECONDS", str(30 * 86400)))
# After a rotation the previous secret still signs (a second signature) this long.
WEBHOOKS_SECRET_OVERLAP_SECONDS = int(env("WEBHOOKS_SECRET_OVERLAP_SECONDS", str(24 * 3600)))
# An endpoint failing this long without one success is disabled and its admins told.
WEBHOOKS_DISABLE_AFTER_SECONDS = int(env("WEBHOOKS_DISABLE_AFTER_SECONDS", str(5 * 86400)))
# Optional forward proxy for deliveries in production (e.g. Smokescreen, which then enforces the
# address rules itself); empty = connect directly to the checked address.
WEBHOOKS_EGRESS_PROXY = env("WEBHOOKS_EGRESS_PROXY", "")

# --- Tenant lifecycle: audit, files, export, offboarding, usage, plan limits -------------------------
# Audit records expire (DynamoDB TTL) after this many days, by tier; "platform" is the platform trail.
AUDIT_RETENTION_DAYS = {
    "basic": int(env("AUDIT_RETENTION_DAYS_BASIC", "90")),
    "standard": int(env("AUDIT_RETENTION_DAYS_STANDARD", "365")),
    "premium": int(env("AUDIT_RETENTION_DAYS_PREMIUM", "730")),
    "platinum": int(env("AUDIT_RETENTION_DAYS_PLATINUM", "2555")),
    "platform": int(env("AUDIT_RETENTION_DAYS_PLATFORM", "2555")),
}
# A tenant trail's head is checkpointed every this many records: verify_audit_chain detects a
# truncation only back past the last checkpoint. 1 (the default) = every record, so deleting even the
# newest record is detected, at the cost of one more item per change.
AUDIT_CHECKPOINT_EVERY = int(env("AUDIT_CHECKPOINT_EVERY", "1"))
# The chain key (HMAC of every record and head) is this Secrets Manager secret, read at run time by
# the functions (never an environment value: whoever reads the function's configuration must not get
# it). `manage.py ensure_tables` creates it on local stacks; in AWS it is infrastructure.
AUDIT_CHAIN_KEY_SECRET = env("AUDIT_CHAIN_KEY_SECRET", f"{CONFIG_SECRET_PREFIX}audit-chain-key")
# Digests (audit.write_digest): every trail's tip, written to the files bucket under this prefix
# every AUDIT_DIGEST_SECONDS (hourly, like CloudTrail's digest files). The functions may only add
# objects there (deploy/iam: PutObject + GetObject, no DeleteObject; the bucket policy requires
# If-None-Match) - see docs/ARCHITECTURE.md.
# One digest chain per pooled table (its trails): stages, or a local stack and a packaged stage,
# that share a bucket never read each other's digests.
AUDIT_DIGEST_PREFIX = env("AUDIT_DIGEST_PREFIX", f"audit-digests/{DYNAMODB_TABLE}/")
AUDIT_DIGEST_SECONDS = float(env("AUDIT_DIGEST_SECONDS", "3600"))
# Files (saas.files): presigned upload forms and read links are short-lived.
FILES_UPLOAD_EXPIRE_SECONDS = int(env("FILES_UPLOAD_EXPIRE_SECONDS", "600"))
FILES_GET_EXPIRE_SECONDS = int(env("FILES_GET_EXPIRE_SECONDS", "300"))
FILES_ENSURE_BUCKET = env_bool("FILES_ENSURE_BUCKET", LOCAL_STACK)  # ensure_tables also creates the bucket
PRODUCT_IMAGE_MAX_BYTES = int(env("PRODUCT_IMAGE_MAX_BYTES", str(5 * 1024 * 1024)))
# A tenant's uploads not (yet) attached may hold this much before new upload forms are refused
# (they are counted on Settings -> Usage and expire by the bucket lifecycle rule, saas.files).
FILES_PENDING_UPLOADS_MAX_BYTES = int(env("FILES_PENDING_UPLOADS_MAX_BYTES", str(50 * 1024 * 1024)))
# Exports (saas.export): download links live 15 minutes; archives spool to /tmp beyond this size.
EXPORT_LINK_SECONDS = int(env("EXPORT_LINK_SECONDS", "900"))
EXPORT_SPOOL_BYTES = int(env("EXPORT_SPOOL_BYTES", str(32 * 1024 * 1024)))
# A running export writes its progress after every entity and every EXPORT_HEARTBEAT_PAGES pages (100
# items each); an open export untouched for EXPORT_STALE_SECONDS is re-enqueued by the exports sweep
# (its job was lost or its worker killed), at most EXPORT_MAX_ATTEMPTS runs, then it is failed.
EXPORT_HEARTBEAT_PAGES = int(env("EXPORT_HEARTBEAT_PAGES", "20"))
EXPORT_STALE_SECONDS = float(env("EXPORT_STALE_SECONDS", "300"))
EXPORT_MAX_ATTEMPTS = int(env("EXPORT_MAX_ATTEMPTS", "3"))
# Offboarding (tenants.offboarding): deletion runs this long after the request (0 allowed: tests);
# the sweep re-enqueues an offboarding whose job has not touched it for OFFBOARDING_STALE_SECONDS.
OFFBOARDING_GRACE_SECONDS = float(env("OFFBOARDING_GRACE_SECONDS", str(7 * 24 * 3600)))
OFFBOARDING_STALE_SECONDS = float(env("OFFBOARDING_STALE_SECONDS", "300"))
# Plan limits: THE table of limits by tier (saas.limits). None = unlimited.
PLAN_LIMITS: dict[str, dict[str, int | None]] = {
    "basic": {"products": 100, "members": 5, "webhook_subscriptions": 5, "webhook_endpoints": 5},
    "standard": {"products": 1_000, "members": 25, "webhook_subscriptions": 20, "webhook_endpoints": 20},
    "premium": {"products": 10_000, "members": 100, "webhook_subscriptions": 50, "webhook_endpoints": 50},
    "platinum": {"products": None, "members": 1_000, "webhook_subscriptions": 200, "webhook_endpoints": 200},
}
# How many tenants one user may create through self-service, in total: one cap per person, whatever
# tier each request asks for (a per-tier cap let a user at the basic cap keep creating by asking for
# a higher tier). Rejected, failed and deleted tenants give their slot back.
TENANTS_PER_USER = int(env("TENANTS_PER_USER", "3"))
# Usage counters (saas.usage) are aggregated in process and written at most this often.
USAGE_FLUSH_SECONDS = float(env("USAGE_FLUSH_SECONDS", "60"))
# On Lambda a frozen container may never run again: write the counts before each invocation returns.
USAGE_FLUSH_EACH_INVOCATION = env_bool("USAGE_FLUSH_EACH_INVOCATION", bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")))
