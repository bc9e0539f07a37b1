"""``python -m devstack deploy <stage>``: one command from an AWS account to a serving stage.

    python -m devstack deploy dev [--dry-run] [--app-url URL] [--alarm-email ADDRESS]

With the operator's AWS credentials in the environment (the deploy credentials: they create the
stack, the roles and the functions; the functions themselves run under the roles the stack makes):

1. create or update the CloudFormation stack ``saas-commerce-<stage>-resources`` from ``deploy/stack.yaml``
   and read its outputs (nothing account-specific is typed into a tracked file);
2. write the generated Zappa settings ``.build/deploy/<stage>/zappa_settings.json``: the tracked
   ``zappa_settings.json`` plus the outputs (each function's role ARN, the deployments bucket, the
   job queue's ARN as the worker's event source);
3. build the web and worker packages (``devstack.lambda_package``) and give each the
   ``zappa_settings.py`` Zappa generates from those settings; upload them to the deployments bucket;
4. ``zappa deploy`` (first time) or ``zappa update`` the web stage, then the worker stage, each with
   ``--zip s3://...``; on the first deploy, the API's URL becomes the stack's ``AppUrl`` (allowed
   host, CSRF origin, Cognito callback, bucket CORS) and the web function is updated once more so
   it starts with that configuration;
5. turn on ``ReportBatchItemFailures`` on the worker's SQS event source mapping, check the worker's
   reserved concurrency (``lambda_concurrency``, which Zappa re-applies on every update), and ensure
   the pooled table has its indexes and TTL;
6. smoke-check through the real URL: ``GET /health`` must answer 200 ``ok``, and ``GET /api/v1/me``
   with a fresh Cognito ID token of a throw-away user must answer 200 with that user; anything else
   fails the command (Zappa's own check accepts a 400).

A second run is an update (the stack changes only what changed; ``zappa update``). ``--dry-run``
prints these steps for the stage and changes nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import py_compile
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import cfn, iam

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DIR = ROOT / ".build" / "deploy"
SMOKE_USER_DOMAIN = "deploy-smoke.invalid"


class DeployFailed(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)


def stack_name(stage: str) -> str:
    """Not ``saas-commerce-<stage>``: Zappa names the API Gateway stack it manages after the function,
    and its ``update_stack`` would replace ours."""
    return f"saas-commerce-{stage}-resources"


def plan(stage: str) -> list[str]:
    worker = f"{stage}_worker"
    update = "zappa deploy (first time) / zappa update"
    return [
        f"CloudFormation: create or update stack {stack_name(stage)} from deploy/stack.yaml (Stage={stage}); "
        "wait for it; read its outputs",
        f"write .build/deploy/{stage}/zappa_settings.json (zappa_settings.json + role ARNs, deployments bucket, "
        "job queue ARN)",
        f"build .build/lambda/{stage}.zip and {worker}.zip; put Zappa's zappa_settings.py for the generated "
        "settings into copies under .build/deploy/; upload them to the deployments bucket",
        f"{update} {stage} --zip s3://... (API Gateway -> {iam.function_name(stage)}, role {stage} web)",
        f"first deploy only: stack update with AppUrl = the API's URL; zappa update {stage} again",
        f"{update} {worker} --zip s3://... (SQS event source, rate(1 minute) schedule, role {stage} worker)",
        f"ReportBatchItemFailures on the SQS event source mapping of {iam.function_name(worker)}; "
        f"reserved concurrency {iam.stage_setting(worker, 'lambda_concurrency')}",
        f"ensure table saas-{stage}-pooled (ACTIVE, indexes GSI1-3, TTL on expires_at)",
        "smoke check: GET <url>/health == 200 ok; GET <url>/api/v1/me with a throw-away Cognito user's ID token "
        "== 200 (the user is deleted afterwards)",
    ]


# --- settings and packages ---------------------------------------------------------------------------


def generated_settings(stage: str, outputs: dict[str, str], *, app_url: str = "") -> dict:
    """zappa_settings.json with the stack's outputs filled in, for ``stage`` and ``<stage>_worker``."""
    tracked = json.loads((ROOT / "zappa_settings.json").read_text())
    worker = f"{stage}_worker"
    config = {name: _flattened(tracked, name) for name in (stage, worker)}  # only these two, no "extends"
    for name, role_output in ((stage, "WebRoleArn"), (worker, "WorkerRoleArn")):
        config[name]["role_arn"] = outputs[role_output]
        config[name]["s3_bucket"] = outputs["DeploymentsBucketName"]
    events = [dict(e) for e in iam.stage_setting(worker, "events", config)]
    for event in events:
        if "event_source" in event and event["event_source"]["arn"].startswith("arn:aws:sqs:"):
            queue = "WebhooksQueueArn" if event["event_source"]["arn"].endswith("-webhooks") else "JobsQueueArn"
            event["event_source"] = {**event["event_source"], "arn": outputs[queue]}
    config[worker]["events"] = events
    return config


def _flattened(config: dict, stage: str) -> dict:
    """A stage with its ``extends`` chain merged the way Zappa merges it (top-level keys)."""
    own = dict(config[stage])
    parent = own.pop("extends", None)
    return {**_flattened(config, parent), **own} if parent else own


def write_settings(stage: str, settings: dict) -> Path:
    path = DEPLOY_DIR / stage / "zappa_settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=4) + "\n")
    return path


def zappa_bin() -> str:
    return str(Path(sys.executable).parent / "zappa")


def package(zappa_stage: str, settings_path: Path) -> Path:
    """The stage's built zip with the ``zappa_settings.py`` Zappa generates from the generated settings
    (so the worker's ``AWS_EVENT_MAPPING`` names the real queue)."""
    from devstack import lambda_package

    built = Path(lambda_package.build(zappa_stage).zip_path)
    out = DEPLOY_DIR / settings_path.parent.name / f"{zappa_stage}.zip"
    with tempfile.TemporaryDirectory(prefix="deploy-", dir=DEPLOY_DIR) as tmp:
        settings_py = Path(tmp) / "zappa_settings.py"
        result = subprocess.run([zappa_bin(), "save-python-settings-file", zappa_stage, "-s", str(settings_path),
                                 "-o", str(settings_py)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not settings_py.is_file():
            raise DeployFailed(f"zappa save-python-settings-file {zappa_stage}: {result.stdout}{result.stderr}")
        pyc = Path(tmp) / "zappa_settings.pyc"
        py_compile.compile(str(settings_py), cfile=str(pyc), dfile="/var/task/zappa_settings.py", doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        replaced = {"zappa_settings.py": settings_py.read_bytes()}
        partial = out.with_suffix(".tmp")
        with zipfile.ZipFile(built) as source, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                if info.filename.startswith("__pycache__/zappa_settings."):
                    replaced[info.filename] = pyc.read_bytes()  # same name: the runtime's cache tag
                if info.filename in replaced:
                    target.writestr(info, replaced[info.filename])
                else:
                    target.writestr(info, source.read(info.filename))
        os.replace(partial, out)
    return out


# --- the deployment ------------------------------------------------------------------------------------


@dataclass
class Deployment:
    stage: str
    clients: Callable[[str], Any]
    zappa_env: dict[str, str]
    template_body: Callable[[dict[str, str]], str] = lambda params: cfn.template_text()
    smoke_url: str | None = None  # instead of the API's URL (only for tests: the API is not reachable)
    alarm_email: str = ""
    app_url: str | None = None
    log: list[str] = field(default_factory=list)

    def step(self, message: str) -> None:
        self.log.append(message)
        say(message)

    # --- stack ---
    def parameters(self, app_url: str) -> dict[str, str]:
        return {"Stage": self.stage, "AppUrl": app_url, "AlarmEmail": self.alarm_email}

    def current_stack(self) -> dict | None:
        cf = self.clients("cloudformation")
        try:
            stack = cf.describe_stacks(StackName=stack_name(self.stage))["Stacks"][0]
        except cf.exceptions.ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return None if stack["StackStatus"] == "REVIEW_IN_PROGRESS" else stack

    def apply_stack(self, app_url: str) -> dict[str, str]:
        cf = self.clients("cloudformation")
        params = self.parameters(app_url)
        kwargs = dict(StackName=stack_name(self.stage), TemplateBody=self.template_body(params),
                      Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                      Capabilities=["CAPABILITY_NAMED_IAM"])
        existing = self.current_stack()
        if existing is None:
            self.step(f"creating stack {stack_name(self.stage)}")
            cf.create_stack(**kwargs, EnableTerminationProtection=True)
            waiter, done = "stack_create_complete", "CREATE_COMPLETE"
        else:
            self.step(f"updating stack {stack_name(self.stage)} (AppUrl={app_url or '-'})")
            try:
                cf.update_stack(**kwargs)
            except cf.exceptions.ClientError as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
                self.step("stack: no changes")
                return self.outputs()
            waiter, done = "stack_update_complete", "UPDATE_COMPLETE"
        try:
            cf.get_waiter(waiter).wait(StackName=stack_name(self.stage), WaiterConfig={"Delay": 5, "MaxAttempts": 360})
        except Exception as exc:
            events = cf.describe_stack_events(StackName=stack_name(self.stage))["StackEvents"][:15]
            reasons = "\n".join(f"  {e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
                                for e in events if "FAILED" in e["ResourceStatus"])
            raise DeployFailed(f"stack {stack_name(self.stage)} did not reach {done}: {exc}\n{reasons}") from exc
        return self.outputs()

    def outputs(self) -> dict[str, str]:
        stack = self.clients("cloudformation").describe_stacks(StackName=stack_name(self.stage))["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def stack_app_url(self) -> str:
        stack = self.current_stack()
        if stack is None:
            return ""
        return next((p["ParameterValue"] for p in stack.get("Parameters", []) if p["ParameterKey"] == "AppUrl"), "")

    # --- functions ---
    def function_exists(self, zappa_stage: str) -> bool:
        lam = self.clients("lambda")
        try:
            lam.get_function(FunctionName=iam.function_name(zappa_stage))
            return True
        except lam.exceptions.ResourceNotFoundException:
            return False

    def upload(self, zip_path: Path, bucket: str) -> str:
        digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
        key = f"packages/{zip_path.stem}-{digest}.zip"
        self.clients("s3").upload_file(str(zip_path), bucket, key)
        return f"s3://{bucket}/{key}"

    def zappa(self, command: str, zappa_stage: str, settings_path: Path, source: str) -> None:
        self.step(f"zappa {command} {zappa_stage} --zip {source}")
        # Zappa writes its API Gateway template (<name>-template-<time>.json) into its working
        # directory: run it in the generated settings' directory (under .build/), not the repository.
        result = subprocess.run([zappa_bin(), command, zappa_stage, "-s", str(settings_path), "--zip", source],
                                cwd=settings_path.parent, env=self.zappa_env, capture_output=True, text=True,
                                timeout=1800)
        if result.returncode != 0:
            raise DeployFailed(f"zappa {command} {zappa_stage} failed ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def api_url(self) -> str:
        """The stage URL of the REST API Zappa made (named after the function)."""
        apigw = self.clients("apigateway")
        name = iam.function_name(self.stage)
        for page in apigw.get_paginator("get_rest_apis").paginate():
            for api in page["items"]:
                if api["name"] == name:
                    region = iam.stage_setting(self.stage, "aws_region")
                    return f"https://{api['id']}.execute-api.{region}.amazonaws.com/{self.stage}"
        raise DeployFailed(f"no REST API named {name}: did zappa deploy {self.stage} create it?")

    def report_batch_item_failures(self, queue_arn: str) -> None:
        lam, function = self.clients("lambda"), iam.function_name(f"{self.stage}_worker")
        mappings = [m for m in lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
                    if m["FunctionArn"].split(":function:", 1)[-1].split(":", 1)[0] == function]
        if not mappings:
            raise DeployFailed(f"no event source mapping {queue_arn} -> {function}")
        for mapping in mappings:
            if "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []):
                self.step(f"event source mapping {mapping['UUID']}: ReportBatchItemFailures already on")
            else:
                lam.update_event_source_mapping(UUID=mapping["UUID"], FunctionResponseTypes=["ReportBatchItemFailures"])
                self.step(f"event source mapping {mapping['UUID']}: ReportBatchItemFailures turned on")

    def reserved_concurrency(self) -> None:
        worker = f"{self.stage}_worker"
        wanted = iam.stage_setting(worker, "lambda_concurrency")
        lam, function = self.clients("lambda"), iam.function_name(worker)
        current = lam.get_function_concurrency(FunctionName=function).get("ReservedConcurrentExecutions")
        if wanted is None:
            raise DeployFailed(f"{worker} has no lambda_concurrency in zappa_settings.json")
        if current != wanted:
            lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=wanted)
        self.step(f"{function}: reserved concurrency {wanted}")

    def ensure_table(self, table: str) -> None:
        ddb = self.clients("dynamodb")
        described = ddb.describe_table(TableName=table)["Table"]
        indexes = {g["IndexName"] for g in described.get("GlobalSecondaryIndexes", [])}
        if described["TableStatus"] != "ACTIVE" or not {"GSI1", "GSI2", "GSI3"} <= indexes:
            raise DeployFailed(f"table {table}: {described['TableStatus']}, indexes {sorted(indexes)}")
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
            self.step(f"table {table}: TTL on expires_at turned on")
        self.step(f"table {table}: ACTIVE with GSI1-3 and TTL")

    # --- smoke check ---
    def smoke_check(self, url: str, outputs: dict[str, str]) -> None:
        import requests

        health = requests.get(f"{url}/health", timeout=30)
        if health.status_code != 200 or health.json().get("status") != "ok":
            raise DeployFailed(f"GET {url}/health answered {health.status_code}: {health.text[:500]}")
        self.step(f"GET {url}/health: 200 {health.json()}")
        cognito, pool = self.clients("cognito-idp"), outputs["UserPoolId"]
        email = f"smoke-{secrets.token_hex(6)}@{SMOKE_USER_DOMAIN}"
        password = secrets.token_urlsafe(24) + "aA1!"
        cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
                                  UserAttributes=[{"Name": "email", "Value": email},
                                                  {"Name": "email_verified", "Value": "true"}])
        try:
            cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
            tokens = cognito.admin_initiate_auth(UserPoolId=pool, ClientId=outputs["ApiClientId"],
                                                 AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                                 AuthParameters={"USERNAME": email, "PASSWORD": password})
            token = tokens["AuthenticationResult"]["IdToken"]
            me = requests.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            if me.status_code != 200 or me.json().get("user", {}).get("email") != email:
                raise DeployFailed(f"GET {url}/api/v1/me with a valid token answered {me.status_code}: {me.text[:500]}")
            self.step(f"GET {url}/api/v1/me (Bearer token of {email}): 200")
        finally:
            cognito.admin_delete_user(UserPoolId=pool, Username=email)

    # --- all of it ---
    def run(self) -> str:
        stage, worker = self.stage, f"{self.stage}_worker"
        app_url = self.app_url if self.app_url is not None else self.stack_app_url()
        outputs = self.apply_stack(app_url)
        settings_path = write_settings(stage, generated_settings(stage, outputs))
        self.step(f"generated settings: {settings_path.relative_to(ROOT)}")
        sources = {}
        for zappa_stage in (stage, worker):
            zip_path = package(zappa_stage, settings_path)
            sources[zappa_stage] = self.upload(zip_path, outputs["DeploymentsBucketName"])
            self.step(f"package {zip_path.relative_to(ROOT)} ({zip_path.stat().st_size / 2**20:.1f} MiB)")
        first = not self.function_exists(stage)
        self.zappa("deploy" if first else "update", stage, settings_path, sources[stage])
        url = self.api_url()
        if url != app_url and not self.app_url:
            outputs = self.apply_stack(url)  # allowed host, CSRF origin, Cognito callback, bucket CORS
            self.zappa("update", stage, settings_path, sources[stage])  # start with that configuration
        self.zappa("deploy" if not self.function_exists(worker) else "update", worker, settings_path, sources[worker])
        self.report_batch_item_failures(outputs["JobsQueueArn"])
        self.report_batch_item_failures(outputs["WebhooksQueueArn"])
        self.reserved_concurrency()
        self.ensure_table(outputs["PooledTableName"])
        self.smoke_check((self.smoke_url or self.app_url or url).rstrip("/"), outputs)
        self.step(f"{stage} is serving at {self.app_url or url}")
        return self.app_url or url


def boto3_clients(region: str) -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    cache: dict[str, object] = {}

    def client(service: str):
        if service not in cache:
            cache[service] = session.client(service)
        return cache[service]

    return client


def main(argv: list[str], *, template_body: Callable[[dict[str, str]], str] | None = None,
         clients: Callable[[str], Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack deploy", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("stage", choices=iam.web_stages())
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    parser.add_argument("--app-url", help="where the web app is served (a custom domain, with no trailing slash); "
                                          "default: the API Gateway URL")
    parser.add_argument("--alarm-email", default="", help="subscribe this address to the alarm topic")
    parser.add_argument("--smoke-url", help=argparse.SUPPRESS)  # tests: the local front of the deployed package
    args = parser.parse_args(argv)
    if args.dry_run:
        for number, line in enumerate(plan(args.stage), 1):
            print(f"{number}. {line}")
        return 0
    if shutil.which(zappa_bin()) is None:
        say("zappa is not installed in this environment: run scripts/bootstrap.sh")
        return 2
    deployment = Deployment(stage=args.stage, clients=clients or boto3_clients(iam.stage_setting(args.stage, "aws_region")),
                            zappa_env=dict(os.environ), smoke_url=args.smoke_url, alarm_email=args.alarm_email,
                            app_url=args.app_url)
    if template_body is not None:
        deployment.template_body = template_body
    started = time.monotonic()
    try:
        deployment.run()
    except DeployFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    say(f"done in {time.monotonic() - started:.0f} s")
    return 0
