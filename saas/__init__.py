from . import lazy_imports

lazy_imports.install()  # before Django loads DRF, which imports requests/yaml/uritemplate if installed


def __getattr__(name: str):
    # Celery's Django layout exposes the app here (`celery -A saas`); it is created on first use
    # (saas.celery), so importing the project does not import Celery.
    if name == "celery_app":
        from .celery import get_app

        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ("celery_app",)
