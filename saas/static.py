"""Static file URLs that carry the request's script prefix.

At ``https://<api>.execute-api.<region>.amazonaws.com/<stage>/`` API Gateway strips the stage before the
function sees the path and Zappa sets ``SCRIPT_NAME=/<stage>``. Django puts that prefix on reversed
URLs per request, but ``STATIC_URL`` is read once per process, so ``{% static %}`` would give
``/static/...``, which API Gateway refuses (403) before it reaches the function. Behind a custom domain
Zappa sets no script name and the URLs stay as they are; ``DJANGO_STATIC_URL`` may point at a CDN."""
from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from django.urls import get_script_prefix


class ScriptPrefixedStaticFilesStorage(StaticFilesStorage):
    def url(self, name: str | None) -> str:
        url = super().url(name)
        if url.startswith("/") and not url.startswith("//"):  # a path on this host, not a CDN's URL
            return get_script_prefix().rstrip("/") + url
        return url
