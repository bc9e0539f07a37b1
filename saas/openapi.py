"""DRF's ``DEFAULT_SCHEMA_CLASS``: drf-spectacular's ``AutoSchema``, loaded only when a schema is
generated.

``@extend_schema`` / ``@extend_schema_view`` subclass (and sometimes instantiate) the default schema
class when a view module is imported. Naming ``drf_spectacular.openapi.AutoSchema`` there made every
process import drf-spectacular's schema machinery, and with it ``rest_framework.test``,
``django.test`` and ``unittest`` (~30 ms of a Lambda cold start), to serve requests that never
describe themselves. ``AutoSchema`` below starts as a bare DRF ``ViewInspector``; ``load``, the first
of ``SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]``, which drf-spectacular's generator runs while it
enumerates the endpoints and before it inspects any view, makes it a subclass of drf-spectacular's
``AutoSchema`` (by setting its base class). From then on every view's schema, and every
``@extend_schema`` subclass of this class, is drf-spectacular's ``AutoSchema`` with the overrides
the decorators wrote: the generated document is the same as with the eager default.
"""
from __future__ import annotations

import threading

from rest_framework.schemas.inspectors import ViewInspector

_lock = threading.Lock()


class AutoSchema(ViewInspector):
    #: drf-spectacular's own ``AutoSchema.method_mapping``: ``@extend_schema_view`` reads it while
    #: decorating, before the real class is loaded (removed once it is, so the real one applies).
    method_mapping = {"get": "retrieve", "post": "create", "put": "update", "patch": "partial_update",
                      "delete": "destroy"}


def use_spectacular() -> None:
    """Make ``AutoSchema`` drf-spectacular's (idempotent, thread-safe)."""
    if AutoSchema.__bases__ != (ViewInspector,):
        return
    from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

    with _lock:
        if AutoSchema.__bases__ == (ViewInspector,):
            AutoSchema.__bases__ = (SpectacularAutoSchema,)
            del AutoSchema.method_mapping


def load(endpoints):
    """Preprocessing hook: schema generation is starting; endpoints pass through unchanged."""
    use_spectacular()
    return endpoints
