"""``python -m devstack deploy <stage>`` end to end against a moto server (a fresh account per test):
the stack, both packages, ``zappa deploy`` then ``zappa update`` of both stages (the real Zappa CLI
in a subprocess, pointed at the moto server by ``AWS_ENDPOINT_URL``), the event source mapping, the
reserved concurrency, the table check and the smoke check.

What moto cannot do, and what stands in for it here:
* moto's CloudFormation skips Cognito and Secrets Manager resources: the command is given a template
  body made by ``devstack.cfn.for_moto`` (those resources created from the template's properties).
* the execute-api URL does not exist: the smoke check goes to a local front (``--smoke-url``) that
  runs the *deployed* web zip through Zappa's handler with the API Gateway proxy event, on a
  read-only filesystem, against the same moto account. The Host header is the API's real host.
* moto has no ListFunctionUrlConfigs (``zappa update`` calls it): the private server adds it
  (tests/deploy/conftest.py).
* moto does not enforce IAM: that the integration role can be assumed by API Gateway and may invoke
  exactly the web function is checked on the role and integration moto recorded (what AWS evaluates).
"""
from __future__ import annotations

import ast
import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack import cfn, deploy, iam

from .harness import ACCOUNT, REGION, Front, lambda_environment, unpack


def moto_template(account):
    def body(params):
        return cfn.for_moto(stage="dev", parameters=params, clients=account.clients(), account=ACCOUNT, region=REGION)[0]
    return body


@pytest.mark.pure
def test_dry_run_prints_the_plan_and_calls_nothing(capsys, monkeypatch):
    def no_aws(service):
        raise AssertionError(f"--dry-run created a {service} client")

    assert deploy.main(["dev", "--dry-run"], clients=no_aws) == 0
    plan = capsys.readouterr().out
    for expected in ("stack saas-commerce-dev-resources", "zappa update dev --zip", "dev_worker --zip",
                     "ReportBatchItemFailures", "reserved concurrency 5", "/health", "/api/v1/me"):
        assert expected in plan, plan


def _deploy(account, monkeypatch, front_url: str) -> tuple[int, list[str]]:
    for name, value in account.env().items():
        monkeypatch.setenv(name, value)
    lines: list[str] = []
    monkeypatch.setattr(deploy, "say", lines.append)
    rc = deploy.main(["dev", "--smoke-url", front_url], template_body=moto_template(account), clients=account.clients())
    return rc, lines


class LateFront:
    """The front needs the deployed zip and the API's host, which exist only once the command has
    run zappa: it starts serving on first request."""

    def __init__(self, account):
        self.account, self.front = account, None
        self.tmp = tempfile.TemporaryDirectory(prefix="deployed-task-")
        late = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                late.ready().serve(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.requests: list[tuple[str, int]] = []

    def ready(self) -> Front:
        if self.front is None:
            outputs = {o["OutputKey"]: o["OutputValue"] for o in self.account.client("cloudformation").describe_stacks(
                StackName="saas-commerce-dev-resources")["Stacks"][0]["Outputs"]}
            host = self.account.client("ssm").get_parameter(Name="/saas-commerce/dev/allowed-hosts")["Parameter"]["Value"]
            task_root = unpack(deploy.DEPLOY_DIR / "dev" / "dev.zip", Path(self.tmp.name) / "task")
            # The Handler Zappa set on the deployed function, imported from the deployed zip.
            handler = self.account.client("lambda").get_function(FunctionName="saas-commerce-dev")["Configuration"]["Handler"]
            self.front = Front(task_root=task_root, env=lambda_environment(self.account, outputs["UserPoolId"]),
                               host=host, stage="dev", handler=handler)
            self.front.requests = self.requests
        return self.front

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/dev"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.tmp.cleanup()


def test_a_first_deploy_then_an_update_serve_the_stage(account, monkeypatch):
    with LateFront(account) as front:
        rc, first = _deploy(account, monkeypatch, front.url)
        assert rc == 0, "\n".join(first)
        assert ("/health", 200) in front.requests and ("/api/v1/me", 200) in front.requests

        lam, apigw, iam_client = account.client("lambda"), account.client("apigateway"), account.client("iam")
        web, worker = (lam.get_function(FunctionName=n)["Configuration"] for n in ("saas-commerce-dev", "saas-commerce-dev-worker"))
        assert web["Role"].endswith(":role/saas-commerce-dev-web") and worker["Role"].endswith(":role/saas-commerce-dev-worker")
        mappings = {m["EventSourceArn"]: m for m in
                    lam.list_event_source_mappings(FunctionName=worker["FunctionArn"])["EventSourceMappings"]}
        jobs_arn, webhooks_arn = (f"arn:aws:sqs:{REGION}:{ACCOUNT}:saas-dev-{q}" for q in ("jobs", "webhooks"))
        assert set(mappings) == {jobs_arn, webhooks_arn}  # the job queue and the webhook delivery queue
        mapping = mappings[jobs_arn]
        assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings.values())
        assert lam.get_function_concurrency(FunctionName="saas-commerce-dev-worker")["ReservedConcurrentExecutions"] == 5
        # Nothing account-specific was typed: the generated settings carry the stack's values.
        generated = json.loads((deploy.DEPLOY_DIR / "dev" / "zappa_settings.json").read_text())
        assert generated["dev_worker"]["events"][0]["event_source"]["arn"] == mapping["EventSourceArn"]
        assert "ACCOUNT_ID" not in json.dumps(generated)

        # Item 2: the API Gateway stack Zappa generated and applied (read back from CloudFormation:
        # moto's API Gateway does not keep an integration's credentials) uses the web role, which API
        # Gateway may assume and which may invoke exactly this function (and nothing else).
        body = account.client("cloudformation").get_template(StackName="saas-commerce-dev")["TemplateBody"]
        zappa_template = body if isinstance(body, dict) else json.loads(body)
        integrations = [r["Properties"]["Integration"] for r in zappa_template["Resources"].values()
                        if r["Type"] == "AWS::ApiGateway::Method" and r["Properties"]["Integration"]["Type"] == "AWS_PROXY"]
        assert integrations and {i["Credentials"] for i in integrations} == {web["Role"]}
        assert all(web["FunctionArn"] in json.dumps(i["Uri"]) for i in integrations)
        assert not [r for r in zappa_template["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
        assert [a for a in apigw.get_rest_apis()["items"] if a["name"] == "saas-commerce-dev"]
        assert_api_gateway_may_invoke_exactly(iam_client, "saas-commerce-dev-web", web["FunctionArn"])

        assert front.requests.count(("/health", 200)) == 1
        rc, second = _deploy(account, monkeypatch, front.url)
        assert rc == 0, "\n".join(second)
        assert any(line.startswith("zappa update dev --zip") for line in second)
        assert any(line.startswith("zappa update dev_worker --zip") for line in second)
        assert not any(line.startswith(("zappa deploy", "creating stack")) for line in second)
        assert any("ReportBatchItemFailures already on" in line for line in second)
        assert lam.get_function_concurrency(FunctionName="saas-commerce-dev-worker")["ReservedConcurrentExecutions"] == 5
        assert front.requests.count(("/health", 200)) == 2


def _document(value):
    """A policy document as IAM returns it (boto3 decodes it); moto's CloudFormation stores a
    Python repr of the template's mapping instead of JSON."""
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


def assert_api_gateway_may_invoke_exactly(iam_client, role_name: str, function_arn: str) -> None:
    role = iam_client.get_role(RoleName=role_name)["Role"]
    principals = set()
    for statement in role["AssumeRolePolicyDocument"]["Statement"]:
        if statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole":
            service = statement["Principal"]["Service"]
            principals |= {service} if isinstance(service, str) else set(service)
    assert "apigateway.amazonaws.com" in principals
    names = iam_client.list_role_policies(RoleName=role_name)["PolicyNames"]
    policy = {"Statement": [s for n in names for s in _document(iam_client.get_role_policy(
        RoleName=role_name, PolicyName=n)["PolicyDocument"])["Statement"]]}
    assert iam.allows(policy, "lambda:InvokeFunction", function_arn)
    other = function_arn.replace("saas-commerce-dev", "saas-commerce-prod")
    assert not iam.allows(policy, "lambda:InvokeFunction", other)
    assert not iam.allows(policy, "lambda:InvokeFunction", function_arn + "-worker")


def test_a_smoke_check_that_does_not_get_200_fails_the_deploy(account):
    """Zappa's own check accepts any status below 500 (a 400 from a wrong ALLOWED_HOSTS passes it)."""
    class BadRequest(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(400)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<h1>Bad Request (400)</h1>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BadRequest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        deployment = deploy.Deployment(stage="dev", clients=account.clients(), zappa_env={})
        with pytest.raises(deploy.DeployFailed, match="/health answered 400"):
            deployment.smoke_check(f"http://127.0.0.1:{server.server_address[1]}/dev", {})
    finally:
        server.shutdown()
        server.server_close()
