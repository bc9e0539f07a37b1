"""The built package, unzipped and mounted read-only as /var/task, serving API Gateway events through
Zappa's handler in a fresh interpreter that sees nothing but the package (no source tree, no venv).
It gets only the stage's own environment (baked into zappa_settings.py, secrets by reference)
plus the local endpoints; the references resolve against the moto server's SSM / Secrets Manager."""
from __future__ import annotations

import base64
import json
import re

import pytest

from devstack import lambda_local, lambda_package
from saas import aws
from saas.tenancy import tables
from saas.tenancy.store import deserialize, serialize
from tests import aws_operations, lambda_report
from usage.models import today


def _stage_env(stage: str) -> dict[str, str]:
    from devstack import iam

    return iam.stage_names(stage)


def publish_stage_configuration(stage: str) -> None:
    lambda_local.publish_stage_configuration(stage, ssm=aws.client("ssm"), secretsmanager=aws.client("secretsmanager"))


def local_endpoints() -> dict[str, str]:
    return lambda_local.local_endpoints()


def stage_table(stage: str) -> None:
    """The stage's table, job queues and files bucket, as `zappa manage <stage> ensure_tables /
    ensure_queues` and the template make them (the worker's hourly audit digest writes to the bucket)."""
    from django.test import override_settings

    from saas import queues

    names = _stage_env(stage)
    with aws_operations.scaffolding(f"the {stage} stage's table and queues on the local servers"):
        tables.ensure_table(names["DYNAMODB_TABLE"])
        with override_settings(SQS_QUEUE_PREFIX=names["SQS_QUEUE_PREFIX"]):
            queues.ensure_queues()
        from saas import buckets

        s3 = buckets.s3_client()
        if names["S3_BUCKET"] not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=names["S3_BUCKET"])


def log_lines(stderr: str) -> list[dict]:
    lines = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def body(response: dict) -> str:
    if response.get("isBase64Encoded"):  # Zappa base64-encodes non-text types (the YAML schema)
        return base64.b64decode(response["body"]).decode()
    return response["body"]


def header(response: dict, name: str) -> str | None:
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return values[0]
    return None


@pytest.fixture(scope="module")
def dev_stage(task_roots):
    stage_table("dev")
    publish_stage_configuration("dev")
    return task_roots["dev"]


def test_packaged_dev_stage_serves_health_api_and_browser_pages_read_only(dev_stage, make_user, request):
    user = make_user()
    bearer = {"Authorization": f"Bearer {user.id_token}", "Content-Type": "application/json"}
    events = [
        lambda_local.api_gateway_event("/health"),
        lambda_local.api_gateway_event("/api/v1/tenants", "POST", bearer,
                                       json.dumps({"name": "Packaged Co", "tier": "basic"})),
        lambda_local.api_gateway_event("/api/v1/me", headers=bearer),
        lambda_local.api_gateway_event("/login/"),
        lambda_local.api_gateway_event("/api/schema/", headers=bearer),
        lambda_local.api_gateway_event("/static/saas/app.css"),  # WhiteNoise, from the package
    ]
    outcome = lambda_local.invoke_many(events, task_root=dev_stage, env=local_endpoints(),
                                       handler=lambda_local.configured_handler("dev"), read_only=True)
    health, created, me, login, schema, stylesheet = outcome["results"]
    stderr = outcome["stderr"]
    assert "Read-only file system" not in stderr

    assert health["response"]["statusCode"] == 200, stderr[-3000:]
    assert json.loads(health["response"]["body"])["status"] == "ok"
    assert created["response"]["statusCode"] == 201, created["response"]["body"]
    tenant_id = json.loads(created["response"]["body"])["id"]
    assert me["response"]["statusCode"] == 200, me["response"]["body"]
    assert json.loads(me["response"]["body"])["active_tenant"]["id"] == tenant_id
    assert login["response"]["statusCode"] == 200
    assert header(login["response"], "Content-Type").startswith("text/html")
    assert "Sign in" in login["response"]["body"]
    assert schema["response"]["statusCode"] == 200
    assert body(schema["response"]).startswith("openapi: 3")
    assert stylesheet["response"]["statusCode"] == 200
    assert header(stylesheet["response"], "Content-Type").startswith("text/css")

    # Every response carries Lambda's request id; the JSON log line of the request names the tenant.
    for result in outcome["results"]:
        assert header(result["response"], "X-Request-ID") == result["aws_request_id"]
    lines = log_lines(stderr)
    me_lines = [line for line in lines if line.get("logger") == "saas.request"
                and line.get("request_id") == me["aws_request_id"]]
    assert me_lines and me_lines[0]["tenant_id"] == tenant_id and me_lines[0]["user_id"] == user.sub, lines
    assert {"time", "level", "logger", "message"} <= set(me_lines[0])
    lambda_report.add(request.config, f"dev cold start (import + first request, read-only, this run): "
                                      f"{health['seconds']:.2f} s")


def test_a_reference_to_nothing_stops_the_packaged_stage_naming_the_setting(task_roots, make_user):
    stage_table("prod")
    ssm = aws.client("ssm")
    for name in ("allowed-hosts", "cognito-user-pool-id"):
        try:
            ssm.delete_parameter(Name=f"/saas-commerce/prod/{name}")
        except ssm.exceptions.ParameterNotFound:
            pass
    with pytest.raises(lambda_local.LambdaStartFailed) as failed:
        lambda_local.invoke(lambda_local.api_gateway_event("/health"), task_root=task_roots["prod"],
                            env=local_endpoints(), handler=lambda_local.configured_handler("prod"))
    assert "DJANGO_ALLOWED_HOSTS" in failed.value.stderr
    assert "/saas-commerce/prod/allowed-hosts" in failed.value.stderr

    # Once the operator publishes the configuration, the same package starts; prod logs at WARNING
    # but keeps the audit logger's security events.
    publish_stage_configuration("prod")
    outcome = lambda_local.invoke_many(
        [lambda_local.api_gateway_event("/health"),
         lambda_local.api_gateway_event("/api/v1/me", headers={"Authorization": "Bearer not-a-jwt"})],
        task_root=task_roots["prod"], env=local_endpoints(), handler=lambda_local.configured_handler("prod"))
    health, rejected = outcome["results"]
    assert health["response"]["statusCode"] == 200, outcome["stderr"][-3000:]
    assert rejected["response"]["statusCode"] == 401
    lines = log_lines(outcome["stderr"])
    assert not [line for line in lines if line.get("logger") == "saas.request"]  # INFO: below prod's level
    audit = [line for line in lines if line.get("logger") == "saas.audit" and line.get("event") == "auth.token_rejected"]
    assert audit and audit[0]["request_id"] == rejected["aws_request_id"]


def test_packaged_worker_stage_runs_the_scheduled_sweep_read_only(task_roots):
    """The worker stage is the same package with the worker's zappa_settings.py: an EventBridge
    schedule event reaches saas.worker.handle_schedule through Zappa's handler."""
    stage_table("dev")
    publish_stage_configuration("dev")
    event = {"version": "0", "id": "local-schedule", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "detail": {},
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/saas-commerce-dev-worker-saas.worker.handle_schedule"]}
    outcome = lambda_local.invoke_many([event], task_root=task_roots["dev_worker"], env=local_endpoints(),
                                       handler=lambda_local.configured_handler("dev_worker"))
    response = outcome["results"][0]["response"]
    assert isinstance(response, dict) and "outbox.sweep" in response, outcome["stderr"][-3000:]


@pytest.mark.parametrize("stage", lambda_package.stages())
def test_the_handler_zappa_configures_imports_from_the_package(stage, task_roots):
    """Lambda's runtime imports the function's ``Handler`` (``module.function``) from /var/task and
    fails every invocation if it cannot. The string is the one Zappa passes to CreateFunction /
    UpdateFunctionConfiguration for this stage (its own settings loader), imported from the stage's
    package exactly as the runtime does, on the read-only filesystem; a Zappa keep-warm event is
    something every stage answers."""
    stage_table(stage)
    publish_stage_configuration(stage)
    handler = lambda_local.configured_handler(stage)
    keep_warm = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {},
                 "resources": [f"arn:aws:events:us-east-1:000000000000:rule/saas-commerce-{stage}-zappa-keep-warm-"
                               "handler.keep_warm_callback"]}
    outcome = lambda_local.invoke_many([keep_warm], task_root=task_roots[stage], env=local_endpoints(),
                                       handler=handler)
    assert "Traceback" not in outcome["stderr"], outcome["stderr"][-3000:]


def test_zappas_default_handler_would_not_import_from_this_package(task_roots):
    """Without ``lambda_handler`` in the stage, Zappa sets ``handler.lambda_handler``: a root module its
    own packager writes and this package does not hold, so the setting is what makes the function run."""
    with pytest.raises(lambda_local.LambdaStartFailed) as failed:
        lambda_local.invoke_many([lambda_local.api_gateway_event("/health")], task_root=task_roots["dev"],
                                 env=local_endpoints(), handler="handler.lambda_handler")
    assert "No module named 'handler'" in failed.value.stderr


STATIC_REFERENCE = re.compile(r'(?:src|href)="([^"]*/static/[^"]*)"')


def test_a_page_at_the_execute_api_url_links_static_files_api_gateway_serves(dev_stage):
    """At ``https://<api>.execute-api.<region>.amazonaws.com/<stage>/`` every URL the browser sees carries
    the stage, and API Gateway strips it before the function sees the path (Zappa then sets
    ``SCRIPT_NAME=/<stage>``). A static URL without the stage is answered 403 by API Gateway itself,
    so the page would load unstyled and without htmx: every static URL in the page must carry the
    stage, and each must be served once API Gateway has taken the stage off."""
    handler = lambda_local.configured_handler("dev")
    page = lambda_local.invoke_many([lambda_local.api_gateway_event("/login/")], task_root=dev_stage,
                                    env=local_endpoints(), handler=handler)["results"][0]["response"]
    assert page["statusCode"] == 200
    references = sorted(set(STATIC_REFERENCE.findall(page["body"])))
    assert any(url.endswith(".css") for url in references) and any(url.endswith(".js") for url in references), references
    outside_stage = [url for url in references if not url.startswith("/dev/static/")]
    assert not outside_stage, f"static URLs API Gateway would refuse (no /dev stage prefix): {outside_stage}"
    outcome = lambda_local.invoke_many([lambda_local.api_gateway_event(url.split("?")[0][len("/dev"):])
                                        for url in references], task_root=dev_stage, env=local_endpoints(),
                                       handler=handler)
    statuses = {url: result["response"]["statusCode"] for url, result in zip(references, outcome["results"], strict=True)}
    assert set(statuses.values()) == {200}, statuses


def test_counts_are_stored_before_the_invocation_returns(dev_stage, make_user):
    """Lambda freezes a container as soon as the handler returns and may destroy it without ever
    thawing it (no shutdown signal reaches a function without an extension): a usage count still in
    memory then would be lost. So on Lambda the invocation that counted writes its counts before it
    returns; the process below exits right after its last invocation, flushing nothing else."""
    user = make_user()
    bearer = {"Authorization": f"Bearer {user.id_token}", "Content-Type": "application/json"}
    outcome = lambda_local.invoke_many(
        [lambda_local.api_gateway_event("/api/v1/tenants", "POST", bearer, json.dumps({"name": "Counted", "tier": "basic"})),
         lambda_local.api_gateway_event("/api/v1/tenants/current", headers=bearer),
         lambda_local.api_gateway_event("/api/v1/tenants/current", headers=bearer)],
        task_root=dev_stage, env=local_endpoints(), handler=lambda_local.configured_handler("dev"))
    created, *reads = outcome["results"]
    assert created["response"]["statusCode"] == 201 and [r["response"]["statusCode"] for r in reads] == [200, 200]
    tenant_id = json.loads(created["response"]["body"])["id"]
    item = aws.client("dynamodb").get_item(
        TableName=_stage_env("dev")["DYNAMODB_TABLE"], ConsistentRead=True,
        Key=serialize({"PK": f"TENANT#{tenant_id}#USAGE", "SK": today()})).get("Item")
    assert item is not None, f"the counts died with the container: {outcome['stderr'][-2000:]}"
    assert deserialize(item)["api_requests"] == 2

