from typing import Iterable

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        # A deleted tenant's cached chain head is forgotten (its trail is gone with its partitions).
        from saas.hooks import TenantTeardown, hooks

        hooks.tenant_teardowns.append(TenantTeardown("audit", forget=_forget_head))

    def ensure_local_resources(self) -> str:
        """What ``manage.py ensure_tables`` sets up for this app on a local stack: the chain key
        secret (in AWS it is infrastructure)."""
        from .chain import ensure_chain_key

        return ensure_chain_key()


def _forget_head(tenant_id: str, users: Iterable[str]) -> None:
    from .trails import heads

    heads.forget(tenant_id)
