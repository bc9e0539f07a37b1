import os

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class SaasConfig(AppConfig):
    name = "saas"

    def ready(self) -> None:
        from saas import checks  # registers the configuration checks

        # No `manage.py check` runs on Lambda: refuse to start instead of failing every request.
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            problems = [e for e in checks.configuration() if e.is_serious()]
            if problems:
                raise ImproperlyConfigured("configuration errors:\n" + "\n".join(
                    f"{e.id}: {e.msg} {e.hint}" for e in problems))

