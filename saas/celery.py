"""The Celery app. Tenant propagation (headers at publish, context in the worker) lives in
``saas.tenancy.jobs``: it is connected through Celery's own ``before_task_publish`` signal and the
app's task class, so no caller sets a header by hand.

The app is created on first use (``get_app()``, or ``app`` / ``saas.celery_app`` as attributes), not
when Django starts: Celery with kombu, yaml and click costs ~60 ms of a Lambda cold start, and
``/health`` or a read never enqueues. What a request does use (``broker``, ``enqueue_after_commit``,
``task_named``) lives here without importing Celery. Whatever publishes or runs a job creates the
app first: ``enqueue_after_commit``/``task_named``, the worker (``celery -A saas``, ``saas.worker``)
and the apps' ``tasks`` modules, whose ``shared_task`` proxies resolve through it."""
import logging
import os
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from math import ceil

from saas.queues import MAX_DELAY_SECONDS, published_queue_url
from saas.tenancy.context import TenantContext, current_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings")

_app = None
_app_lock = threading.RLock()


def get_app():
    """The process's Celery app (created, configured from Django's settings, on the first call)."""
    if _app is None:
        with _app_lock:
            if _app is None:
                _create_app()
    return _app


def _create_app():
    global _app
    from celery import Celery
    from celery.signals import before_task_publish, task_postrun, worker_init, worker_shutdown

    app = Celery("saas", task_cls="saas.tenancy.jobs:TenantTask")
    app.set_default()  # the current app of every thread, whichever thread created it
    _app = app
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()

    import saas.tenancy.jobs  # noqa: F401  connects the header signal in every publishing process
    from saas.hooks import hooks

    before_task_publish.connect(sqs_delay_from_eta, dispatch_uid="saas.celery.sqs_delay_from_eta")
    before_task_publish.connect(sqs_fair_queue_group, dispatch_uid="saas.celery.sqs_fair_queue_group")
    worker_init.connect(_patch_worker, dispatch_uid="saas.celery.patch_worker")
    # A process that runs jobs has an app: the apps' after-job and shutdown hooks (usage: flush counts).
    task_postrun.connect(lambda **kw: [run() for run in hooks.after_job], weak=False,
                         dispatch_uid="saas.celery.after_job")
    worker_shutdown.connect(lambda **kw: [run() for run in hooks.worker_shutdown], weak=False,
                            dispatch_uid="saas.celery.worker_shutdown")
    return app


def __getattr__(name: str):
    if name == "app":  # `from saas.celery import app`, `celery -A saas`
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


logger = logging.getLogger("saas.celery")


def _survive_broker_loss_with_jobs_in_flight() -> None:
    """Work around celery 5.7.0 / kombu 5.7.0 killing the worker when the Redis connection drops
    while a job is in flight: the consumer collects the broken connection (dropping the
    transport's client) and then closes its channel, so pushing the in-flight messages back, and
    later acking them when they finish, go through a channel with no connection and raise
    AttributeError in ``Channel._connparams`` ("Unrecoverable error": the worker exits).

    Raising the transport's own ConnectionError there instead lets kombu and celery treat it like
    any broker error (logged, ignored) and the worker reconnects. Nothing is lost: the messages
    stay in Redis' unacked set and are redelivered after the visibility timeout (jobs are
    idempotent), and if the broker lost them too, the outbox sweep re-enqueues from DynamoDB."""
    from kombu.transport import redis as kombu_redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    connparams = kombu_redis.Channel._connparams
    if getattr(connparams, "saas_guarded", False):
        return

    def guarded(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("this channel's broker connection is already closed")
        return connparams(self, asynchronous=asynchronous)

    guarded.saas_guarded = True  # type: ignore[attr-defined]  # the mark that it is patched already
    kombu_redis.Channel._connparams = guarded  # type: ignore[method-assign]  # the patch itself


def _patch_worker(**kwargs) -> None:
    # Only workers consume; web processes (Lambda cold starts) skip importing the redis transport.
    _survive_broker_loss_with_jobs_in_flight()


class BrokerProbe:
    """Is the broker reachable right now? One fresh connection (for Redis: connect + PING) with a
    short timeout; the answer is cached for ``BROKER_CHECK_CACHE_SECONDS`` so a burst of requests
    costs one probe. Writes that must be followed by a job check this first (503, write nothing)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[bool, float] = (False, float("-inf"))

    def reachable(self) -> bool:
        ok, until = self._answer
        if until > self._clock():
            return ok
        with self._lock:
            ok, until = self._answer
            if until <= self._clock():
                ok = self._probe()
                self._answer = (ok, self._clock() + _setting("BROKER_CHECK_CACHE_SECONDS"))
            return ok

    def forget(self) -> None:
        self._answer = (False, float("-inf"))

    def report_failure(self) -> None:
        """A publish just failed: trust no cached "up"; answer "down" until the next probe is due."""
        self._answer = (False, self._clock() + _setting("BROKER_CHECK_CACHE_SECONDS"))

    def known_down(self) -> bool:
        ok, until = self._answer
        return not ok and until > self._clock()

    @staticmethod
    def _probe() -> bool:
        timeout = _setting("BROKER_CHECK_TIMEOUT_SECONDS")
        app = get_app()
        sqs_url = published_queue_url(app)
        if sqs_url is not None:
            return _probe_sqs(sqs_url, timeout)
        options = {**app.conf.broker_transport_options, "socket_connect_timeout": timeout, "socket_timeout": timeout}
        try:
            with app.connection_for_write(connect_timeout=timeout, transport_options=options) as connection:
                connection.ensure_connection(max_retries=0)  # one attempt, no back-off sleeps
            return True
        except Exception as exc:  # refused, timeout, DNS, auth...
            logger.warning("broker unreachable: %r", exc)
            return False


def _probe_sqs(queue_url: str, timeout: float) -> bool:
    """SQS has no connection to open: ask the job queue for one attribute, once, quickly."""
    try:
        _sqs_probe_client(timeout).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return True
    except Exception as exc:  # refused, timeout, missing queue, access denied...
        logger.warning("broker (SQS %s) unreachable: %r", queue_url, exc)
        return False


@lru_cache(maxsize=4)
def _sqs_probe_client(timeout: float):
    import boto3
    from botocore.config import Config
    from django.conf import settings

    return boto3.session.Session().client(
        "sqs", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URLS["sqs"] or None,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1}))


def _setting(name: str) -> float:
    from django.conf import settings

    return float(getattr(settings, name))


broker = BrokerProbe()


def sqs_delay_from_eta(sender=None, headers=None, properties=None, **kwargs) -> None:
    """On SQS, a job with an ETA (``countdown``/``eta``, ``Task.retry``) is published with
    ``DelaySeconds`` (kombu's SQS transport passes the property to SendMessage), so SQS, not a
    worker holding the message, does the waiting. SQS caps a delay at 900 s: a later ETA arrives
    early and the worker sends it on with the rest of the delay (``saas.worker``)."""
    if properties is None or not headers or not headers.get("eta") or published_queue_url(get_app()) is None:
        return
    properties["DelaySeconds"] = sqs_delay(headers["eta"])


def sqs_fair_queue_group(sender=None, headers=None, properties=None, **kwargs) -> None:
    """On SQS, a tenant job is published with ``MessageGroupId=<tenant id>`` (kombu's SQS transport
    passes the property to SendMessage): on the standard jobs queue that makes it an SQS fair queue,
    which delivers quiet tenants' messages first while one tenant has a backlog (``saas.fairness``).
    The tenant is the enqueuing context's, as for the ``tenant_id`` header; a platform job has none."""
    if properties is None or published_queue_url(get_app()) is None:
        return
    properties.pop("MessageGroupId", None)
    ctx = current_context()
    if isinstance(ctx, TenantContext):
        properties["MessageGroupId"] = ctx.tenant_id


def sqs_delay(eta: str, now: datetime | None = None) -> int:
    """Whole seconds from now until ``eta`` (ISO 8601), within SQS's 0..900."""
    when = datetime.fromisoformat(eta)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    remaining = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0, min(MAX_DELAY_SECONDS, ceil(remaining)))

# After a DynamoDB commit the enqueue is best effort: one quick retry (it also replaces a pooled
# connection that died with a broker restart), then give up; the periodic sweep re-enqueues from
# what DynamoDB holds.
AFTER_COMMIT_PUBLISH = {"retry": True,
                        "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}}


def task_named(name: str):
    """A registered task by its name (``"orders.confirm"``): services enqueue through this, so they
    never import the task layer. The first miss imports every app's ``tasks`` module (Celery's
    autodiscovery, which a worker does at start and a web process only when it first enqueues)."""
    app = get_app()
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue_after_commit(task, *args, countdown: float | None = None) -> bool:
    """Publish ``task(*args)`` (a task or its registered name); never raises but for an unknown name
    (a bug). False when the broker refused it (or is known to be down: a request does not wait on a
    dead broker twice). A failure resets the broker probe, so the next write that needs a job
    answers 503 instead of committing without one."""
    get_app()  # a shared_task proxy resolves through the current app: ours, created if need be
    if isinstance(task, str):
        task = task_named(task)
    name = task.name
    if broker.known_down():
        logger.warning("enqueue of %s%r deferred to the sweep: the broker is down", name, args)
        return False
    try:
        task.apply_async(args=args, countdown=countdown, **AFTER_COMMIT_PUBLISH)
        return True
    except Exception:
        broker.report_failure()
        logger.warning("enqueue of %s%r deferred to the sweep", name, args, exc_info=True)
        return False
