"""The web app: server-side sessions, static files, the Content-Security-Policy, error views."""
from __future__ import annotations

from csp.constants import NONCE, NONE, SELF

from saas.settings.base import DEBUG, LOCAL_STACK
from saas.settings.environment import env
from saas.settings.files import FILES_ORIGINS

# Server-side sessions (websessions/backend.py): the cookie holds a random key, the record lives in the
# table with a TTL, so signing out ends every copy of the cookie.
SESSION_ENGINE = "websessions.backend"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not (DEBUG or LOCAL_STACK)
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
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

# Content-Security-Policy (django-csp): scripts only from us and with the request's nonce, no
# inline script or style, no third party anywhere. The API docs page relaxes styles only.
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
