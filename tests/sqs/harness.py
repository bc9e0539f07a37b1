"""SQS mode for tests: a job queue + dead-letter queue of the module's own on the moto server (short
visibility timeout), this process's Celery app publishing to it (kombu's SQS transport), and the
worker stage's real Zappa handler in a separate read-only process fed by devstack's poller, which
does what Lambda's event source mapping does. No Celery worker process runs."""
from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.test import override_settings

from devstack import lambda_local
from devstack.sqs_poller import PollerThread, SqsEventSource, sqs_event
from saas import aws, queues
from tests.jobs.harness import WORKER_ENV, reset_publishing, wait_until

__all__ = ["SqsQueues", "make_queues", "use_sqs_broker", "LambdaWorker", "wait_until", "kombu_message",
           "sqs_event"]

VISIBILITY_SECONDS = 2
MAX_RECEIVE_COUNT = 3


@dataclass
class SqsQueues:
    prefix: str
    url: str
    arn: str
    dlq_url: str

    def receive_raw(self, *, url: str | None = None, max_messages: int = 10, wait: int = 1) -> list[dict]:
        return aws.client("sqs").receive_message(QueueUrl=url or self.url, MaxNumberOfMessages=max_messages,
                                                 WaitTimeSeconds=wait, AttributeNames=["All"]).get("Messages", [])

    def send_raw(self, body: str) -> str:
        return aws.client("sqs").send_message(QueueUrl=self.url, MessageBody=body)["MessageId"]

    def depth(self, url: str | None = None) -> int:
        attributes = aws.client("sqs").get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return sum(int(v) for v in attributes.values())


def make_queues(*, visibility: int = VISIBILITY_SECONDS, max_receive_count: int = MAX_RECEIVE_COUNT) -> SqsQueues:
    """The queues as `manage.py ensure_queues` declares them, under a fresh prefix."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with override_settings(SQS_QUEUE_PREFIX=prefix, SQS_VISIBILITY_TIMEOUT=visibility,
                           SQS_MAX_RECEIVE_COUNT=max_receive_count):
        queues.ensure_queues()
        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=queues.jobs_queue_name())["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=queues.dead_letter_queue_name())["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return SqsQueues(prefix=prefix, url=url, arn=arn, dlq_url=dlq_url)


@contextlib.contextmanager
def use_sqs_broker(jobs_queue_url: str) -> Iterator[None]:
    """Point this (web) process's Celery app at the SQS queue, as settings do for ``sqs://``."""
    from saas.celery import app

    url, options = queues.sqs_broker_settings(
        endpoint_url=settings.AWS_ENDPOINT_URLS["sqs"], region=settings.AWS_REGION, jobs_queue_url=jobs_queue_url,
        connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT, read_timeout=settings.BROKER_PUBLISH_TIMEOUT_SECONDS)
    names = ("broker_url", "broker_write_url", "broker_read_url", "broker_transport_options")
    previous = {name: app.conf[name] for name in names}
    app.conf.update({"broker_url": url, "broker_write_url": url, "broker_read_url": url,
                     "broker_transport_options": options})
    reset_publishing(app)
    try:
        yield
    finally:
        app.conf.update(previous)
        reset_publishing(app)


class LambdaWorker:
    """The worker stage (zappa_settings.json ``dev_worker``) on local resources: Zappa's settings
    module with the test's table/queue, and containers (``WarmLambda``) started on demand."""

    def __init__(self, jobs: SqsQueues, *, extra_env: dict[str, str] | None = None, timeout: float = 120.0):
        self.jobs = jobs
        self.log_dir = Path(lambda_local.ROOT, ".stack", "logs")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.settings_dir = Path(tempfile.mkdtemp(prefix="lambda-worker-"))
        lambda_local.publish_stage_configuration(  # the stage's ssm:/secretsmanager: references, locally
            "dev_worker", ssm=aws.client("ssm"), secretsmanager=aws.client("secretsmanager"))
        lambda_local.write_settings("dev_worker", self.settings_dir, base=_stage_settings("dev_worker"), environment={
            "DYNAMODB_TABLE": settings.DYNAMODB_TABLE, "DYNAMODB_SILO_TABLE_PREFIX": settings.DYNAMODB_SILO_TABLE_PREFIX,
            "WEBHOOKS_TOPIC_PREFIX": settings.WEBHOOKS_TOPIC_PREFIX, "S3_BUCKET": "saas-local-files",
            "SQS_QUEUE_PREFIX": jobs.prefix, "SQS_JOBS_QUEUE_URL": jobs.url, "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "plain",  # the tests read the worker's log lines
        }, sqs_event_source_arn=jobs.arn)
        passthrough = {k: v for k, v in os.environ.items() if k.startswith(("COGNITO_", "OIDC_"))}
        self.env = lambda_local.lambda_env(
            DJANGO_SECRET_KEY="lambda-worker-test-only", DYNAMODB_ENDPOINT_URL=os.environ["DYNAMODB_ENDPOINT_URL"],
            MOTO_ENDPOINT_URL=os.environ["MOTO_ENDPOINT_URL"], AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
            AWS_LAMBDA_FUNCTION_NAME="saas-commerce-dev-worker", **{**passthrough, **WORKER_ENV, **(extra_env or {})})
        self.timeout = timeout
        self.handler = lambda_local.configured_handler("dev_worker")
        self.containers: list[lambda_local.WarmLambda] = []

    def start_container(self, **extra_env: str) -> lambda_local.WarmLambda:
        log_path = Path(tempfile.mkstemp(prefix="lambda-worker-", suffix=".log", dir=self.log_dir)[1])
        container = lambda_local.WarmLambda(settings_dir=self.settings_dir, env={**self.env, **extra_env},
                                            handler=self.handler, timeout=self.timeout, log_path=log_path)
        self.containers.append(container)
        return container.start()

    def log(self) -> str:
        return "".join(Path(c.log_path).read_text(errors="replace") for c in self.containers if c.log_path)

    def event_source(self, *, batch_size: int = 10, start_lambda=None) -> SqsEventSource:
        return SqsEventSource(sqs=aws.client("sqs"), queue_url=self.jobs.url, batch_size=batch_size,
                              start_lambda=start_lambda or self.start_container, region=settings.AWS_REGION)

    def poller(self, **kwargs) -> PollerThread:
        poller = PollerThread(self.event_source(**kwargs))
        poller.start()
        return poller

    def close(self) -> None:
        for container in self.containers:
            container.stop()
            if container.log_path:
                Path(container.log_path).unlink(missing_ok=True)


@functools.lru_cache(maxsize=None)
def _stage_settings(stage: str) -> Path:
    """Zappa's settings module for the stage, generated once per test session."""
    return lambda_local.write_settings(stage, Path(tempfile.mkdtemp(prefix=f"zappa-{stage}-")))


def kombu_message(body: str) -> dict:
    """kombu's SQS envelope (base64 JSON) -> dict, headers and all."""
    return json.loads(base64.b64decode(body))


def kombu_body(message: dict) -> str:
    return base64.b64encode(json.dumps(message).encode()).decode()
