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
* ``count_usage`` (usage): count a metric for the tenant in context (the outbox relay counts the
  events it published); nothing is counted when no app registered it.
* ``after_job`` / ``worker_shutdown`` (usage: write its counts): run after each job, and when a
  worker stops, in every process that has a Celery app (connected by ``saas.celery``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class NotRegistered(RuntimeError):
    """A hook the core needs was never registered (is the app that provides it installed?)."""


@dataclass
class Hooks:
    publish_events: Callable[[list[dict]], list[Any]] | None = None
    get_tenant: Callable[[str], dict | None] | None = None
    tenant_pages: Callable[[str | None], Any] | None = None
    tenant_sweeps: list[Callable[[], int]] = field(default_factory=list)
    directory_sweeps: list[Callable[..., int]] = field(default_factory=list)
    limit_usage: dict[str, Callable[[], int]] = field(default_factory=dict)
    count_usage: Callable[..., None] | None = None
    after_job: list[Callable[[], Any]] = field(default_factory=list)
    worker_shutdown: list[Callable[[], Any]] = field(default_factory=list)

    def require(self, name: str) -> Callable:
        hook = getattr(self, name)
        if hook is None:
            raise NotRegistered(f"no {name!r} hook is registered")
        return hook


hooks = Hooks()
