"""The Celery app. Tenant propagation (headers at publish, context in the worker) lives in
``saas.tenancy.jobs``: it is connected through Celery's own ``before_task_publish`` signal and the
app's task class, so no caller sets a header by hand."""
import logging
import os
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from math import ceil

from celery import Celery
from celery.signals import before_task_publish, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings")

app = Celery("saas", task_cls="saas.tenancy.jobs:TenantTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import saas.tenancy.jobs  # noqa: E402,F401  connects the header signal in every publishing process
from saas.queues import MAX_DELAY_SECONDS, published_queue_url  # noqa: E402
from saas.tenancy.context import TenantContext, current_context  # noqa: E402

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

    guarded.saas_guarded = True
    kombu_redis.Channel._connparams = guarded


@worker_init.connect
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


@before_task_publish.connect(dispatch_uid="saas.celery.sqs_delay_from_eta")
def sqs_delay_from_eta(sender=None, headers=None, properties=None, **kwargs) -> None:
    """On SQS, a job with an ETA (``countdown``/``eta``, ``Task.retry``) is published with
    ``DelaySeconds`` (kombu's SQS transport passes the property to SendMessage), so SQS, not a
    worker holding the message, does the waiting. SQS caps a delay at 900 s: a later ETA arrives
    early and the worker sends it on with the rest of the delay (``saas.worker``)."""
    if properties is None or not headers or not headers.get("eta") or published_queue_url(app) is None:
        return
    properties["DelaySeconds"] = sqs_delay(headers["eta"])


@before_task_publish.connect(dispatch_uid="saas.celery.sqs_fair_queue_group")
def sqs_fair_queue_group(sender=None, headers=None, properties=None, **kwargs) -> None:
    """On SQS, a tenant job is published with ``MessageGroupId=<tenant id>`` (kombu's SQS transport
    passes the property to SendMessage): on the standard jobs queue that makes it an SQS fair queue,
    which delivers quiet tenants' messages first while one tenant has a backlog (``saas.fairness``).
    The tenant is the enqueuing context's, as for the ``tenant_id`` header; a platform job has none."""
    if properties is None or published_queue_url(app) is None:
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
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue_after_commit(task, *args, countdown: float | None = None) -> bool:
    """Publish ``task(*args)`` (a task or its registered name); never raises but for an unknown name
    (a bug). False when the broker refused it (or is known to be down: a request does not wait on a
    dead broker twice). A failure resets the broker probe, so the next write that needs a job
    answers 503 instead of committing without one."""
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
