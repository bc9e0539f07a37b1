"""SQS queue declarations (the broker in AWS) and the idempotent create/update used by
``manage.py ensure_queues`` (the SQS counterpart of ``saas.tenancy.tables``).

Four queues per stage, named from ``SQS_QUEUE_PREFIX``: the jobs queue and its dead-letter queue,
and the webhook delivery queue (``WEBHOOKS_DELIVERY_QUEUE``, ``<prefix>-webhooks``) with its own:

* ``<prefix>-jobs``: every Celery job. Its visibility timeout is at least 6x the worker function's
  timeout (AWS's advice for Lambda event sources: a batch that is retried by the Lambda service
  must not become visible to another poller while the first attempt may still run). Its redrive
  policy sends a message to the dead-letter queue after ``SQS_MAX_RECEIVE_COUNT`` receives.
* ``<prefix>-jobs-dlq``: what failed that often (kept 14 days for inspection and redrive).

Publishing goes through Celery's own SQS transport (kombu ``sqs://``, boto3 only: nothing here
consumes with kombu, so no pycurl). The job queue is a kombu *predefined queue*: the transport
never lists or creates queues, so a missing queue fails the publish (503) instead of kombu
silently creating one without a dead-letter queue.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from saas import aws

CELERY_QUEUE = "celery"  # the Celery queue name every task is routed to (Celery's default)
MAX_DELAY_SECONDS = 900  # SQS's cap on DelaySeconds
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum


@dataclass(frozen=True)
class QueueSpec:
    name: str
    attributes: dict[str, str]
    dead_letter_of: str | None = None  # the queue whose redrive policy points here


def jobs_queue_name() -> str:
    return f"{settings.SQS_QUEUE_PREFIX}-jobs"


def dead_letter_queue_name() -> str:
    return f"{jobs_queue_name()}-dlq"


def webhooks_queue_name() -> str:
    return settings.WEBHOOKS_DELIVERY_QUEUE or f"{settings.SQS_QUEUE_PREFIX}-webhooks"


def queue_specs() -> list[QueueSpec]:
    """The dead-letter queue first: the job queue's redrive policy needs its ARN."""
    visibility = settings.SQS_VISIBILITY_TIMEOUT
    if visibility < 6 * settings.WORKER_TIMEOUT_SECONDS and not settings.LOCAL_STACK:
        raise ValueError(f"SQS_VISIBILITY_TIMEOUT={visibility} must be at least 6 x WORKER_TIMEOUT_SECONDS="
                         f"{settings.WORKER_TIMEOUT_SECONDS}")
    webhooks = webhooks_queue_name()
    return [
        QueueSpec(dead_letter_queue_name(), {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
                  dead_letter_of=jobs_queue_name()),
        QueueSpec(jobs_queue_name(), {"VisibilityTimeout": str(visibility)}),
        # Webhook delivery: each tenant's SNS topic sends its events here (raw message delivery);
        # the worker stores them and POSTs them to the tenant's endpoints (webhooks.services.delivery).
        QueueSpec(f"{webhooks}-dlq", {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}, dead_letter_of=webhooks),
        QueueSpec(webhooks, {"VisibilityTimeout": str(visibility), "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}),
    ]


def ensure_queues(*, client=None) -> list[str]:
    """Create the queues or bring their attributes up to date. Returns a line per action/queue."""
    sqs = client or aws.client("sqs")
    lines: list[str] = []
    arns: dict[str, str] = {}
    specs = queue_specs()
    dead_letter_for = {spec.dead_letter_of: spec.name for spec in specs if spec.dead_letter_of}
    for spec in specs:
        attributes = dict(spec.attributes)
        if spec.dead_letter_of is None and dead_letter_for.get(spec.name) in arns:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[dead_letter_for[spec.name]], "maxReceiveCount": settings.SQS_MAX_RECEIVE_COUNT},
                separators=(",", ":"))
        url, action = ensure_queue(sqs, spec.name, attributes)
        arns[spec.name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        lines.append(f"{action} queue {spec.name}: url={url} arn={arns[spec.name]}")
    return lines


def ensure_queue(sqs, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    """(url, "created" | "updated" | "up to date")."""
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], "created"
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    stale = {k: v for k, v in attributes.items() if not _same_attribute(k, current.get(k), v)}
    if not stale:
        return url, "up to date"
    sqs.set_queue_attributes(QueueUrl=url, Attributes=stale)
    return url, "updated"


def _same_attribute(name: str, current: str | None, wanted: str) -> bool:
    if name == "RedrivePolicy" and current:  # JSON: compare values, not spelling (SQS may quote numbers)
        def normal(policy: str) -> dict:
            return {k: str(v) for k, v in json.loads(policy).items()}
        return normal(current) == normal(wanted)
    return current == wanted


def queue_arn(queue_url: str, region: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> from a queue URL (https://host/<account>/<name>)."""
    account, name = urlsplit(queue_url).path.strip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


# --- the Celery broker settings -------------------------------------------------------------------
def sqs_broker_settings(*, endpoint_url: str, region: str, jobs_queue_url: str, connect_timeout: float,
                        read_timeout: float) -> tuple[str, dict]:
    """(broker URL, kombu transport options) for ``CELERY_BROKER_URL=sqs://``. Called by saas/settings/jobs.py,
    so it reads nothing from Django settings.

    The endpoint comes from settings (the moto server locally; unset in AWS, so boto3 picks the
    regional endpoint); credentials always come from boto3's chain (the Lambda role in AWS)."""
    if not jobs_queue_url:
        raise RuntimeError("CELERY_BROKER_URL is sqs:// but SQS_JOBS_QUEUE_URL is not set "
                           "(`manage.py ensure_queues` prints it)")
    url = "sqs://"
    options: dict = {
        "region": region,
        "predefined_queues": {CELERY_QUEUE: {"url": jobs_queue_url}},
        # A publish must not hang a request: short timeouts and no botocore retry (Celery's own
        # AFTER_COMMIT_PUBLISH retry is the second try; the broker probe decides what happens next).
        "client-config": {"connect_timeout": connect_timeout, "read_timeout": read_timeout,
                          "retries": {"total_max_attempts": 1, "mode": "standard"}},
    }
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        url = f"sqs://@{parts.hostname}:{parts.port}" if parts.port else f"sqs://@{parts.hostname}"
        options["is_secure"] = parts.scheme == "https"
    return url, options


def published_queue_url(app, queue: str = CELERY_QUEUE) -> str | None:
    """The SQS URL the Celery app publishes ``queue`` to, or None when the broker is not SQS."""
    # The write URL: Celery's broker_url prefers the CELERY_BROKER_URL environment variable.
    if not str(app.conf.broker_write_url).startswith("sqs://"):
        return None
    return app.conf.broker_transport_options["predefined_queues"][queue]["url"]


# --- the worker's event source mapping --------------------------------------------------------------
def report_batch_item_failures(*, function_name: str, queue_arn: str, client=None) -> list[str]:
    """Turn on ``ReportBatchItemFailures`` on the SQS -> worker event source mapping (Zappa creates
    the mapping but cannot set it; without it a returned ``batchItemFailures`` is ignored and a
    failed record's whole batch comes back). Idempotent; raises when there is no mapping."""
    lam = client or aws.client("lambda")
    mappings = lam.list_event_source_mappings(FunctionName=function_name, EventSourceArn=queue_arn)["EventSourceMappings"]
    if not mappings:
        raise LookupError(f"no event source mapping from {queue_arn} to {function_name}: deploy the worker stage first")
    lines = []
    for mapping in mappings:
        if "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []):
            lines.append(f"mapping {mapping['UUID']}: ReportBatchItemFailures already on")
            continue
        lam.update_event_source_mapping(UUID=mapping["UUID"], FunctionResponseTypes=["ReportBatchItemFailures"])
        lines.append(f"mapping {mapping['UUID']}: ReportBatchItemFailures turned on")
    return lines


def worker_stage_event_sources(zappa_settings: dict, stage: str) -> tuple[str, list[str]]:
    """(Lambda function name, SQS event source ARNs) of a stage of zappa_settings.json, named as
    Zappa names them (``slugify(project_name-stage)``)."""
    from slugify import slugify  # Zappa's own dependency (python-slugify)

    config = _stage_config(zappa_settings, stage)
    function_name = slugify(f"{config['project_name']}-{stage}")
    arns = [e["event_source"]["arn"] for e in config.get("events", [])
            if e.get("event_source", {}).get("arn", "").startswith("arn:aws:sqs:")]
    return function_name, arns


def _stage_config(zappa_settings: dict, stage: str) -> dict:
    config = dict(zappa_settings[stage])
    parent = config.pop("extends", None)
    return {**_stage_config(zappa_settings, parent), **config} if parent else config
