"""The SQS side of the deployment: queues declared in code and created idempotently, the worker
stage in zappa_settings.json, ReportBatchItemFailures on the event source mapping (moto's Lambda
API), and SQS delays: an ETA past SQS's 900 s cap and ``retry(countdown=...)``."""
from __future__ import annotations

import json
import socket
import uuid

from django.core.management import call_command
from django.test import override_settings

from devstack import deploy, lambda_local
from saas import aws, queues
from saas.tenancy import tenant_context
from tests.orders.factories import make_product, place
from tests.sqs.harness import kombu_body, kombu_message, wait_until

ZAPPA = json.loads((lambda_local.ROOT / "zappa_settings.json").read_text())


def attributes(url: str) -> dict:
    return aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def run_command(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_ensure_queues_creates_the_job_queue_and_its_dead_letter_queue_idempotently():
    prefix = f"q{uuid.uuid4().hex[:10]}"
    with override_settings(SQS_QUEUE_PREFIX=prefix, WORKER_TIMEOUT_SECONDS=120, SQS_VISIBILITY_TIMEOUT=720,
                           SQS_MAX_RECEIVE_COUNT=5):
        first = run_command("ensure_queues")
        sqs = aws.client("sqs")
        jobs_url = sqs.get_queue_url(QueueName=f"{prefix}-jobs")["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=f"{prefix}-jobs-dlq")["QueueUrl"]
        jobs, dlq = attributes(jobs_url), attributes(dlq_url)
        assert int(jobs["VisibilityTimeout"]) == 720 >= 6 * 120
        assert json.loads(jobs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 5}
        assert int(dlq["MessageRetentionPeriod"]) == 14 * 24 * 3600
        assert first.count("created queue") == 4 and jobs_url in first and dlq["QueueArn"] in first

        webhooks = attributes(sqs.get_queue_url(QueueName=f"{prefix}-webhooks")["QueueUrl"])
        webhooks_dlq = attributes(sqs.get_queue_url(QueueName=f"{prefix}-webhooks-dlq")["QueueUrl"])
        assert json.loads(webhooks["RedrivePolicy"])["deadLetterTargetArn"] == webhooks_dlq["QueueArn"]
        assert run_command("ensure_queues").count("up to date queue") == 4  # again: nothing to do
        with override_settings(SQS_MAX_RECEIVE_COUNT=3):
            assert "updated queue" in run_command("ensure_queues")
        assert json.loads(attributes(jobs_url)["RedrivePolicy"])["maxReceiveCount"] == 3


def test_a_visibility_timeout_below_six_times_the_worker_timeout_is_refused_outside_the_local_stack():
    with override_settings(LOCAL_STACK=False, WORKER_TIMEOUT_SECONDS=120, SQS_VISIBILITY_TIMEOUT=300):
        try:
            queues.queue_specs()
        except ValueError as exc:
            assert "6 x WORKER_TIMEOUT_SECONDS" in str(exc)
        else:
            raise AssertionError("accepted a visibility timeout shorter than 6x the worker timeout")


def test_the_worker_stages_consume_their_stages_job_queue_with_no_api_gateway_and_run_the_schedule():
    for web, worker in (("dev", "dev_worker"), ("prod", "prod_worker")):
        stage, env = ZAPPA[worker], ZAPPA[worker]["environment_variables"]
        assert stage["extends"] == web and stage["apigateway_enabled"] is False
        assert stage["timeout_seconds"] == int(env["WORKER_TIMEOUT_SECONDS"]) > ZAPPA["dev"]["timeout_seconds"]
        source, webhooks = [e for e in stage["events"] if "event_source" in e]
        [schedule] = [e for e in stage["events"] if "expression" in e]
        assert source["function"] == "saas.worker.handle_sqs" and source["event_source"]["batch_size"] <= 10
        # the second source: the webhook delivery queue (the stack's WebhooksQueue)
        assert webhooks["function"] == "webhooks.worker.handle_sqs" and webhooks["event_source"]["batch_size"] == 10
        assert webhooks["event_source"]["arn"].endswith(f":{env['SQS_QUEUE_PREFIX']}-webhooks")
        assert schedule == {"function": "saas.worker.handle_schedule", "expression": "rate(1 minute)"}
        # The queue the web stage publishes to is the one the worker stage consumes: both read the
        # URL from the stack's SSM parameter, and the deploy command points the worker's event source
        # at the same queue's ARN (the stack's outputs; nothing account-specific is tracked).
        assert ZAPPA[web]["environment_variables"]["SQS_JOBS_QUEUE_URL"] == env["SQS_JOBS_QUEUE_URL"] \
            == f"ssm:/saas-commerce/{web}/jobs-queue-url"
        assert ZAPPA[web]["environment_variables"]["CELERY_BROKER_URL"] == env["CELERY_BROKER_URL"] == "sqs://"
        url = f"https://sqs.us-east-1.amazonaws.com/210987654321/{env['SQS_QUEUE_PREFIX']}-jobs"
        outputs = {"WebRoleArn": "arn:aws:iam::210987654321:role/w", "WorkerRoleArn": "arn:aws:iam::210987654321:role/k",
                   "DeploymentsBucketName": "b", "JobsQueueArn": queues.queue_arn(url, ZAPPA["dev"]["aws_region"]),
                   "WebhooksQueueArn": queues.queue_arn(url.replace("-jobs", "-webhooks"), ZAPPA["dev"]["aws_region"])}
        generated = deploy.generated_settings(web, outputs)
        deployed, deployed_webhooks = [e for e in generated[worker]["events"] if "event_source" in e]
        assert deployed["event_source"]["arn"] == f"arn:aws:sqs:us-east-1:210987654321:{env['SQS_QUEUE_PREFIX']}-jobs"
        assert deployed_webhooks["event_source"]["arn"] == outputs["WebhooksQueueArn"]
        assert generated[worker]["role_arn"] == outputs["WorkerRoleArn"] and generated[web]["role_arn"] == outputs["WebRoleArn"]


def test_zappas_generated_settings_route_the_queue_and_the_schedule_to_the_worker_functions(tmp_path):
    settings_file = lambda_local.write_settings("dev_worker", tmp_path)
    namespace: dict = {}
    exec(settings_file.read_text(), namespace)
    arn = ZAPPA["dev_worker"]["events"][0]["event_source"]["arn"]
    webhooks_arn = ZAPPA["dev_worker"]["events"][1]["event_source"]["arn"]
    assert namespace["AWS_EVENT_MAPPING"] == {arn: ["saas.worker.handle_sqs"], webhooks_arn: ["webhooks.worker.handle_sqs"]}
    from devstack.sqs_poller import schedule_rule_names

    # Zappa's handler takes the function from the rule name's last "-" part.
    assert [name.split("-")[-1] for name in schedule_rule_names("dev_worker")] == ["saas.worker.handle_schedule"]


def test_configure_worker_events_turns_on_report_batch_item_failures(tmp_path):
    lam, sqs = aws.client("lambda"), aws.client("sqs")
    role = _lambda_role()
    queue_url = sqs.create_queue(QueueName=f"esm{uuid.uuid4().hex[:10]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stage = f"w{uuid.uuid4().hex[:8]}"
    zappa = {stage: {"project_name": "saas-commerce", "events": [
        {"function": "saas.worker.handle_sqs", "event_source": {"arn": queue_arn, "batch_size": 10}}]}}
    (tmp_path / "zappa_settings.json").write_text(json.dumps(zappa))
    function_name = f"saas-commerce-{stage}"
    lam.create_function(FunctionName=function_name, Runtime="python3.13", Role=role, Handler="handler.lambda_handler",
                        Code={"ZipFile": _tiny_zip()})
    mapping = lam.create_event_source_mapping(FunctionName=function_name, EventSourceArn=queue_arn, BatchSize=10)
    assert "ReportBatchItemFailures" not in (mapping.get("FunctionResponseTypes") or [])

    out = run_command("configure_worker_events", "--stage", stage, "--settings-file", str(tmp_path / "zappa_settings.json"))
    assert "turned on" in out
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "already on" in run_command("configure_worker_events", "--stage", stage, "--settings-file",
                                       str(tmp_path / "zappa_settings.json"))


def _lambda_role() -> str:
    import boto3
    from django.conf import settings

    iam = boto3.client("iam", endpoint_url=settings.AWS_ENDPOINT_URLS["sqs"], region_name=settings.AWS_REGION)
    name = f"worker-{uuid.uuid4().hex[:8]}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                      "Action": "sts:AssumeRole"}]}
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _tiny_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


def delayed(url: str) -> int:
    return int(attributes(url)["ApproximateNumberOfMessagesDelayed"])


def test_an_eta_beyond_sqss_900_second_cap_is_sent_on_with_the_rest_of_the_delay(jobs, lambda_worker, tenant_a, member):
    product = make_product(tenant_a.id)
    order = place(member, [(product["id"], 1)]).json()
    taken = []
    wait_until(lambda: taken.extend(jobs.receive_raw()) or len(taken) >= 2, what="the order's jobs")
    confirm = next(m for m in taken if kombu_message(m["Body"])["headers"]["task"] == "orders.confirm")
    for message in taken:
        aws.client("sqs").delete_message(QueueUrl=jobs.url, ReceiptHandle=message["ReceiptHandle"])
    from datetime import datetime, timedelta, timezone

    later = kombu_message(confirm["Body"])
    later["headers"]["eta"] = (datetime.now(timezone.utc) + timedelta(seconds=1500)).isoformat()
    jobs.send_raw(kombu_body(later))
    [early] = wait_until(lambda: jobs.receive_raw(), what="the early message")

    answer = lambda_worker.event_source().handle([early])

    assert answer["result"]["response"] == {"batchItemFailures": []}  # handled: sent on, not run
    assert delayed(jobs.url) == 1 and jobs.receive_raw(wait=0) == []
    assert "not due yet; sent on with a 900s delay" in lambda_worker.log()
    with tenant_context(tenant_a.id):
        from orders.models import Order

        assert Order.objects.get(order["id"], consistent=True)["status"] == "pending"


def test_a_countdown_is_an_sqs_delay_and_a_retry_keeps_its_tenant(jobs, lambda_worker, tenant_a):
    from orders.tasks import confirm_order

    with tenant_context(tenant_a.id):
        confirm_order.apply_async(args=["no-such-order"], countdown=30)
    assert delayed(jobs.url) == 1 and jobs.receive_raw(wait=0) == []  # SQS holds it, not a worker

    # A worker whose DynamoDB is down retries the job (TenantTask: countdown=5) instead of failing it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with tenant_context(tenant_a.id):
        confirm_order.apply_async(args=["another-order"])
    [message] = wait_until(lambda: jobs.receive_raw(), what="the job")
    container = lambda_worker.start_container(DYNAMODB_ENDPOINT_URL=dead, AWS_MAX_ATTEMPTS="1")
    source = lambda_worker.event_source(start_lambda=lambda: container)
    assert source.handle([message])["result"]["response"] == {"batchItemFailures": []}

    assert delayed(jobs.url) == 2
    [retried] = wait_until(lambda: jobs.receive_raw(wait=1), timeout=30, what="the retry after its delay")
    headers = kombu_message(retried["Body"])["headers"]
    assert headers["retries"] == 1 and headers["tenant_id"] == tenant_a.id
    assert kombu_message(retried["Body"])["headers"]["id"] == kombu_message(message["Body"])["headers"]["id"]
