from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ensure_local_resources(self) -> str:
        """What ``manage.py ensure_tables`` sets up for this app on a local stack: the chain key
        secret (in AWS it is infrastructure)."""
        from .chain import ensure_chain_key

        return ensure_chain_key()
