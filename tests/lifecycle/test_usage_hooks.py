"""The core counts and flushes usage only through ``saas.hooks`` (the kernel imports no feature):
what the outbox relay publishes is counted for the tenant in context, and a process that runs jobs
writes its counts after a job, as the usage app registered."""
from __future__ import annotations

from saas.hooks import hooks
from saas.tenancy import tenant_context
from usage import services as usage
from usage.models import UsageDay
from usage.models import today as usage_day


def test_what_the_core_counts_through_its_hook_lands_on_the_tenants_day(tenant_a, settings):
    settings.USAGE_FLUSH_SECONDS = 3600  # only the explicit flush below writes
    usage.flush()
    with tenant_context(tenant_a.id):
        hooks.count_usage("events_published", 2)  # what saas.outbox calls after a published batch
    assert usage.counter.pending(tenant_a.id) == {"events_published": 2}
    assert usage.flush() >= 1
    with tenant_context(tenant_a.id):
        assert int(UsageDay.objects.get(usage_day(), consistent=True)["events_published"]) == 2


def test_a_process_that_runs_jobs_writes_its_counts_after_each_job(tenant_a, settings):
    """Celery's ``task_postrun`` (sent by the worker and by ``saas.worker`` on Lambda after every job)
    reaches the usage app's flush through the ``after_job`` hook that ``saas.celery`` connects."""
    from celery.signals import task_postrun

    from saas.celery import get_app

    get_app()  # the app connects the signal when it is created, as in every process that runs jobs
    usage.flush()
    settings.USAGE_FLUSH_EACH_INVOCATION = True  # Lambda's setting: flush after every job
    usage.add("orders_placed", 1, tenant_id=tenant_a.id)
    task_postrun.send(sender=None, task_id="t", task=None, args=(), kwargs={}, retval=None, state="SUCCESS")
    assert usage.counter.pending(tenant_a.id) == {}
    with tenant_context(tenant_a.id):
        assert int(UsageDay.objects.get(usage_day(), consistent=True)["orders_placed"]) == 1
