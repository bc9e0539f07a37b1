"""Where a stage runs: its parameters and secrets, and HTTPS behind API Gateway (Zappa on Lambda)."""
from __future__ import annotations

from saas.settings.base import DEBUG, LOCAL_STACK
from saas.settings.environment import env, env_bool

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
