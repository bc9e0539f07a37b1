"""Where the core calls back into the apps. The core (``saas``) imports no app: when core code needs
an app's behaviour, the app registers a function here in its ``AppConfig.ready()``.

* ``publish_events`` (webhooks): deliver a batch of one tenant's outbox events to their subscribers;
  returns one outcome per event (``"published"`` / ``"skipped"``) or the exception that event met.
* ``get_tenant`` (tenants): a tenant directory record, or None. Read by the job runner
  (``saas.tenancy.jobs``) to check a job's tenant is still active.
* ``tenant_pages`` (tenants): the tenant directory a page at a time (``cursor`` -> ``Page``), for
  the periodic sweep.
* ``tenant_sweeps``: run by ``outbox.sweep_tenant`` inside each active tenant's context (orders:
  re-enqueue stuck orders; webhooks: confirm pending subscriptions, attempt due endpoint
  deliveries); each returns how much it did.
* ``directory_sweeps``: run by ``outbox.sweep`` for every tenant record that is not active (tenants:
  re-enqueue stuck silo provisioning); each returns the number of jobs it enqueued.
* ``limit_usage``: plan limits whose usage an app counts itself rather than in ``saas.limits``'
  quota counter (webhooks: ``webhook_subscriptions``), read in the tenant's context for Settings ->
  Usage.
* ``tenant_teardowns``: what each app does when a tenant leaves (``tenants.offboarding``), so
  offboarding knows no app's data or caches. ``delete`` removes what the app keeps outside the
  tenant's entity partitions (webhooks: SNS subscriptions and topics) and returns the counts for the
  deletion receipt; it runs before the partitions are deleted and must be safe to rerun. ``forget``
  drops the app's in-process caches of the tenant (and of the given users); it also runs when a
  deletion is scheduled or cancelled.
* ``demo_seeders``: demo data an app adds to each demo tenant (products: the demo catalogue), by
  name, for ``tenants.demo.seed_demo``; each must be idempotent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


class NotRegistered(RuntimeError):
    """A hook the core needs was never registered (is the app that provides it installed?)."""


@dataclass(frozen=True)
class TenantTeardown:
    """One app's part in deleting a tenant (see ``tenant_teardowns`` above)."""

    app: str
    delete: Callable[[str], dict[str, int]] | None = None  # tenant id -> {receipt counter: number removed}
    forget: Callable[[str, Iterable[str]], None] | None = None  # (tenant id, user ids) -> None


@dataclass
class Hooks:
    publish_events: Callable[[list[dict]], list[Any]] | None = None
    get_tenant: Callable[[str], dict | None] | None = None
    tenant_pages: Callable[[str | None], Any] | None = None
    tenant_sweeps: list[Callable[[], int]] = field(default_factory=list)
    directory_sweeps: list[Callable[..., int]] = field(default_factory=list)
    limit_usage: dict[str, Callable[[], int]] = field(default_factory=dict)
    tenant_teardowns: list[TenantTeardown] = field(default_factory=list)
    demo_seeders: dict[str, Callable[[str], Any]] = field(default_factory=dict)

    def require(self, name: str) -> Callable:
        hook = getattr(self, name)
        if hook is None:
            raise NotRegistered(f"no {name!r} hook is registered")
        return hook


hooks = Hooks()
