"""The local stand-in for Lambda's SQS event source mapping and EventBridge schedule.

It receives batches from a queue on the moto server and hands each one, as the SQS event AWS
documents, to Zappa's real handler running in a separate process (``lambda_local.WarmLambda``,
read-only filesystem). Then it does what the event source mapping does with the answer (with
``ReportBatchItemFailures`` on): deletes every record not listed in ``batchItemFailures``; a
failed invocation, a dead process or a malformed answer deletes nothing, so the whole batch comes
back after the visibility timeout (and goes to the dead-letter queue after ``maxReceiveCount``).
A dead handler process is replaced by a new one, as Lambda starts a new container.

    python -m devstack.sqs_poller --queue-url URL [--stage dev_worker] [--batch-size 10]
                                  [--schedule-seconds 60]

runs until SIGTERM/SIGINT, with the environment of the local stack (``.stack/env``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import lambda_local
from .services import boto3_client

logger = logging.getLogger("devstack.sqs_poller")

WORKER_STAGE = "dev_worker"


def sqs_event(messages: list[dict], *, queue_arn: str, region: str) -> dict:
    """ReceiveMessage output -> the Lambda SQS event (records as AWS documents them)."""
    records = []
    for message in messages:
        records.append({
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                       "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
                for name, value in (message.get("MessageAttributes") or {}).items()},
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        })
    return {"Records": records}


def scheduled_event(*, rule_name: str, region: str, account: str = "123456789012") -> dict:
    """The EventBridge "Scheduled Event" AWS documents; Zappa finds the function in the rule name."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": [f"arn:aws:events:{region}:{account}:rule/{rule_name}"], "detail": {}}


def stage_config(zappa_settings: dict, stage: str) -> dict:
    """A stage of zappa_settings.json with what it ``extends`` (Zappa merges them shallowly)."""
    config = dict(zappa_settings[stage])
    parent = config.pop("extends", None)
    return {**stage_config(zappa_settings, parent), **config} if parent else config


def schedule_rule_names(stage: str, zappa_settings: dict | None = None) -> list[str]:
    """The EventBridge rule names Zappa gives the stage's scheduled ``events`` (its own naming code)."""
    from slugify import slugify
    from zappa.core import Zappa

    zappa_settings = zappa_settings or json.loads((lambda_local.ROOT / "zappa_settings.json").read_text())
    config = stage_config(zappa_settings, stage)
    lambda_name = slugify(f"{config['project_name']}-{stage}")
    namer = Zappa.__new__(Zappa)  # get_scheduled_event_name needs no AWS session
    return [namer.get_scheduled_event_name(event, event["function"], lambda_name)
            for event in config.get("events", []) if event.get("expression")]


def failed_ids(result: dict, batch: list[dict]) -> set[str] | None:
    """The records to leave in the queue; None = the whole batch (an error or an invalid answer, as
    Lambda treats them)."""
    if "error" in result:
        return None
    response = result.get("response")
    if response is None:
        return set()  # nothing returned: every record succeeded
    try:
        failures = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    except (TypeError, KeyError):
        return None
    ids = {m["MessageId"] for m in batch}
    return failures if failures <= ids and all(failures) else None


class SqsEventSource:
    """One poller for one queue; ``poll_once`` is one receive + one invocation."""

    def __init__(self, *, sqs, queue_url: str, start_lambda: Callable[[], lambda_local.WarmLambda],
                 batch_size: int = 10, wait_seconds: int = 1, region: str = "us-east-1"):
        self.sqs, self.queue_url, self.start_lambda = sqs, queue_url, start_lambda
        self.batch_size, self.wait_seconds, self.region = batch_size, wait_seconds, region
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.container: lambda_local.WarmLambda | None = None
        self.batches: list[dict] = []  # what each invocation got and answered (newest last)
        self._lock = threading.Lock()

    def poll_once(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if messages:
            self.handle(messages)
        return len(messages)

    def handle(self, messages: list[dict]) -> dict:
        with self._lock:
            if self.container is None or not self.container.running:
                self.container = self.start_lambda()
            event = sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
            try:
                result = self.container.invoke(event)
            except RuntimeError as exc:  # the process died or hung: Lambda would retry the whole batch
                result = {"error": f"container lost: {exc}"}
                self.container = None
            failed = failed_ids(result, messages)
            done = [m for m in messages if failed is not None and m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
            record = {"received": [m["MessageId"] for m in messages], "result": result,
                      "deleted": [m["MessageId"] for m in done]}
            self.batches.append(record)
            if "error" in result:
                logger.warning("invocation failed (%s): %d message(s) left for redelivery", result["error"], len(messages))
            return record

    def stop(self) -> None:
        with self._lock:
            if self.container is not None:
                self.container.stop()
                self.container = None


class PollerThread(threading.Thread):
    """``SqsEventSource.poll_once`` in a loop until ``stop()``."""

    def __init__(self, source: SqsEventSource, *, on_error: Callable[[BaseException], None] | None = None):
        super().__init__(daemon=True, name="sqs-poller")
        self.source, self.on_error = source, on_error
        self._stopping = threading.Event()
        self.paused = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            if self.paused.is_set():
                time.sleep(0.05)
                continue
            try:
                self.source.poll_once()
            except Exception as exc:  # moto restarting, a test stopping it...
                logger.warning("poll failed: %r", exc)
                if self.on_error:
                    self.on_error(exc)
                time.sleep(0.5)

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)
        self.source.stop()


# --- the command: local SQS mode of the stack -----------------------------------------------------
def stage_environment(env: dict[str, str], queue_url: str) -> dict[str, str]:
    """The local resources the worker stage uses instead of its AWS ones (it publishes follow-up
    jobs to the queue it consumes)."""
    defaults = {"DYNAMODB_TABLE": "saas-local-pooled", "DYNAMODB_SILO_TABLE_PREFIX": "saas-local-silo-",
                "S3_BUCKET": "saas-local-files", "WEBHOOKS_TOPIC_PREFIX": "saas-local", "SQS_QUEUE_PREFIX": "saas-local",
                "LOG_LEVEL": "INFO"}
    local = {key: env.get(key) or default for key, default in defaults.items()}
    return {**local, "CELERY_BROKER_URL": "sqs://", "SQS_JOBS_QUEUE_URL": queue_url}


def start_container_factory(*, stage: str, env: dict[str, str], queue_url: str, queue_arn: str, timeout: float,
                            log_path: Path | None) -> Callable[[], lambda_local.WarmLambda]:
    settings_dir = Path(tempfile.mkdtemp(prefix="lambda-worker-"))
    lambda_local.write_settings(stage, settings_dir, environment=stage_environment(env, queue_url),
                                sqs_event_source_arn=queue_arn)
    # The stage's secrets and settings are references (ssm:/..., secretsmanager:...): put local values
    # behind them in the moto server, as an operator does in AWS.
    region = env.get("AWS_DEFAULT_REGION", "us-east-1")
    lambda_local.publish_stage_configuration(
        stage, env=env, ssm=boto3_client("ssm", env["MOTO_ENDPOINT_URL"], region),
        secretsmanager=boto3_client("secretsmanager", env["MOTO_ENDPOINT_URL"], region))

    handler = lambda_local.configured_handler(stage)

    def start() -> lambda_local.WarmLambda:
        return lambda_local.WarmLambda(settings_dir=settings_dir, env=env, handler=handler, timeout=timeout,
                                       log_path=log_path).start()

    return start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.sqs_poller", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", default=os.environ.get("SQS_JOBS_QUEUE_URL"))
    parser.add_argument("--stage", default=WORKER_STAGE)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--schedule-seconds", type=float, default=60.0,
                        help="EventBridge rate(1 minute); 0: no scheduled invocations")
    parser.add_argument("--log", default=str(lambda_local.ROOT / ".stack" / "logs" / "lambda-worker.log"),
                        help="where the handler process logs")
    parser.add_argument("--timeout", type=float, default=None, help="the function timeout (default: the stage's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not args.queue_url:
        parser.error("--queue-url (or SQS_JOBS_QUEUE_URL) is required")

    import boto3

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    sqs = boto3.client("sqs", endpoint_url=os.environ.get("MOTO_ENDPOINT_URL"), region_name=region)
    zappa = json.loads((lambda_local.ROOT / "zappa_settings.json").read_text())
    timeout = args.timeout or float(stage_config(zappa, args.stage).get("timeout_seconds", 30))
    env = {**os.environ, **lambda_local.lambda_env(), "AWS_LAMBDA_FUNCTION_NAME": f"local-{args.stage}"}
    queue_arn = sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    start = start_container_factory(stage=args.stage, env=env, queue_url=args.queue_url, queue_arn=queue_arn,
                                    timeout=timeout, log_path=Path(args.log))
    source = SqsEventSource(sqs=sqs, queue_url=args.queue_url, start_lambda=start, batch_size=args.batch_size,
                            region=region)
    poller = PollerThread(source)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    poller.start()
    logger.info("polling %s (batches of %d) for stage %s; worker log %s", args.queue_url, args.batch_size,
                args.stage, args.log)
    rules = schedule_rule_names(args.stage, zappa) if args.schedule_seconds > 0 else []
    scheduler = start() if rules else None  # its own container, as EventBridge invocations get their own
    try:
        while not stopping.is_set():
            for rule in rules:  # a scheduler was started if there are rules
                result = scheduler.invoke(scheduled_event(rule_name=rule, region=region)) if scheduler else {}
                logger.info("schedule %s: %s", rule, result.get("error") or result.get("response"))
            stopping.wait(args.schedule_seconds if rules else 3600)
    finally:
        poller.stop()
        if scheduler is not None:
            scheduler.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
