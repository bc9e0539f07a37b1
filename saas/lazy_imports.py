"""Optional libraries DRF imports at start-up only because they are installed, run on first use.

``rest_framework.compat`` imports ``requests`` (for its test client), ``yaml`` (its OpenAPI renderer)
and ``uritemplate`` (its schema generator) whenever they are installed, and every API view imports
``rest_framework.compat``: ~45 ms of a Lambda cold start for modules no request touches. They are
installed because other code needs them (mozilla-django-oidc's token exchange, drf-spectacular's
YAML schema), so they cannot simply be left out of the package.

``install()`` (called by ``saas/__init__.py``, before Django loads DRF) puts a *deferred* module for
each of them in ``sys.modules``: ``import yaml`` binds it at once, and the library's own code runs,
in that same module object, on the first attribute the module does not have yet (``yaml.dump``,
``from requests import Session``), or when a submodule is imported (``import requests.adapters``
needs the package's ``__path__``, which is only set by the load). Written here rather than with
``importlib.util.LazyLoader``: its modules load on *any* attribute access, and every later
``import yaml`` statement reads ``__spec__``, so the first import by another module already ran it.
A module already imported is left as it is; a missing one stays missing (``ImportError``).
"""
from __future__ import annotations

import importlib.util
import sys
import threading
import types

LAZY_MODULES = ("requests", "yaml", "uritemplate")

_lock = threading.RLock()


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first missing attribute runs it (once, thread-safe)."""

    _deferred_loading: bool  # set while its code runs

    def __getattr__(self, name: str):
        with _lock:
            if type(self) is DeferredModule:  # another thread may have loaded it while we waited
                if self.__dict__.get("_deferred_loading"):  # a lookup from the module's own code
                    raise AttributeError(f"partially initialized module {self.__name__!r} has no attribute {name!r}")
                _load(self)
        return getattr(self, name)


def _load(module: DeferredModule) -> None:
    spec = module.__spec__
    if spec is None or spec.loader is None:  # defer() made it from a spec with a loader
        raise ImportError(f"deferred module {module.__name__!r} has no loader")
    module._deferred_loading = True
    try:
        if spec.submodule_search_locations is not None:
            module.__path__ = spec.submodule_search_locations
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)  # as a failed import: the next import tries again
        raise
    finally:
        del module._deferred_loading
    module.__class__ = types.ModuleType  # type: ignore[assignment]  # loaded: a plain module again


def defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__dict__.pop("__path__", None)  # importing a submodule reads it: that loads the package first
    module.__class__ = DeferredModule
    sys.modules[name] = module


def install(names: tuple[str, ...] = LAZY_MODULES) -> None:
    for name in names:
        defer(name)
