"""Django itself: the switches every other module reads (DEBUG, LOCAL_STACK), the apps, the
middleware stack, URLs, templates, the (empty) relational database, locale."""
from __future__ import annotations

from pathlib import Path

from saas.settings.environment import env, env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
LOCAL_STACK = env_bool("SAAS_LOCAL_STACK", False)  # set by devstack for the local servers
# The fixed key only with the local stack (never because DEBUG is on); saas.E001 otherwise.
SECRET_KEY = env("DJANGO_SECRET_KEY") or ("local-development-only-secret" if LOCAL_STACK else "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if LOCAL_STACK else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

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
    # Feature homes around the kernel (they import no app; apps may use them). `files` is a plain
    # package: it has no items, pages or jobs.
    "audit",
    "usage",
    "exports",
    "websessions",
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
    "usage.middleware.UsageMiddleware",
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
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
