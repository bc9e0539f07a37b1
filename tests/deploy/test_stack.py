"""The stage's CloudFormation template (deploy/stack.yaml): lint-clean, and applied to a moto server,
every resource is there with the properties the application relies on; then the built package serves
/health and an authenticated request configured only by what the stack made.

Where moto is kinder than AWS (what this test does about it):
* moto's CloudFormation *skips* AWS::Cognito::* and AWS::SecretsManager::Secret while reporting
  CREATE_COMPLETE (a Ref to them is empty): ``devstack.cfn.for_moto`` creates them through the Cognito
  and Secrets Manager APIs from the template's own properties, so the pool's settings are still the
  template's and the API validates them.
* it accepts but does not apply a table's TimeToLiveSpecification and PointInTimeRecovery, a bucket's
  PublicAccessBlockConfiguration, CorsConfiguration and LifecycleConfiguration, and skips AWS::S3::BucketPolicy and
  AWS::CloudWatch::Alarm: ``devstack.cfn.apply_what_moto_ignores`` applies them from the template
  through the DynamoDB, S3 and CloudWatch APIs, and the test reads them back from those APIs.
* Cognito rule modelled: with ``AttributesRequireVerificationBeforeUpdate: [email]`` AWS keeps the old,
  verified address until the new one is confirmed; moto keeps ``email_verified`` true after any
  change, so the test checks the pool's setting and the clients' write permissions (a client that
  cannot write ``email`` or ``custom:*`` cannot change them at all), not moto's behaviour.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from devstack import cfn, lambda_package
from saas import files

from .harness import ACCOUNT, REGION, api_gateway_event, lambda_environment, unpack

APP_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
APP_HOST = "abc123.execute-api.us-east-1.amazonaws.com"


@pytest.mark.pure
def test_the_template_is_cfn_lint_clean():
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(cfn.TEMPLATE)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def create_stack(account, stage: str = "dev", app_url: str = APP_URL) -> tuple[dict, dict[str, str]]:
    clients = account.clients()
    params = {"Stage": stage, "AppUrl": app_url}
    body, created = cfn.for_moto(stage=stage, parameters=params, clients=clients, account=ACCOUNT, region=REGION)
    cf = clients("cloudformation")
    cf.create_stack(StackName=f"saas-commerce-{stage}-resources", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"],
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    stack = cf.describe_stacks(StackName=f"saas-commerce-{stage}-resources")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    cfn.apply_what_moto_ignores(stage=stage, parameters=params, clients=clients, account=ACCOUNT, region=REGION,
                                created=created)
    return stack, {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_the_stack_creates_the_data_queues_bucket_and_configuration(account):
    stack, out = create_stack(account)
    ddb, sqs, s3, ssm = (account.client(s) for s in ("dynamodb", "sqs", "s3", "ssm"))

    table = ddb.describe_table(TableName="saas-dev-pooled")["Table"]
    assert table["DeletionProtectionEnabled"] is True
    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2", "GSI3"}
    assert ddb.describe_time_to_live(TableName="saas-dev-pooled")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = ddb.describe_continuous_backups(TableName="saas-dev-pooled")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    jobs = sqs.get_queue_attributes(QueueUrl=out["JobsQueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=out["JobsDeadLetterQueueUrl"], AttributeNames=["All"])["Attributes"]
    assert json.loads(jobs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 5}
    assert int(jobs["VisibilityTimeout"]) >= 6 * 120  # 6 x the worker's timeout

    bucket = out["FilesBucketName"]
    assert bucket == f"saas-commerce-dev-files-{ACCOUNT}"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    [cors] = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert cors["AllowedOrigins"] == [f"https://{APP_HOST}"] and cors["AllowedMethods"] == ["POST"]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    # The prefix the application uploads to until a file is attached (saas/files.py).
    assert rules["expire-unattached-uploads"]["Filter"]["Prefix"] == files.UPLOADS_PREFIX
    assert rules["expire-unattached-uploads"]["Expiration"]["Days"] == 1
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    parameters = {p["Name"].rsplit("/", 1)[1]: p["Value"]
                  for p in ssm.get_parameters_by_path(Path="/saas-commerce/dev/")["Parameters"]}
    assert parameters == {
        "allowed-hosts": APP_HOST, "csrf-trusted-origins": f"https://{APP_HOST}",
        "cognito-user-pool-id": out["UserPoolId"], "cognito-app-client-ids": f"{out['ApiClientId']},{out['WebClientId']}",
        "cognito-domain": f"https://saas-commerce-dev-{ACCOUNT}.auth.{REGION}.amazoncognito.com",
        "oidc-client-id": out["WebClientId"], "files-bucket": bucket, "jobs-queue-url": out["JobsQueueUrl"]}


def test_the_stack_creates_the_user_pool_its_clients_group_domain_and_secret(account):
    _, out = create_stack(account)
    cognito, secrets = account.client("cognito-idp"), account.client("secretsmanager")
    pool = cognito.describe_user_pool(UserPoolId=out["UserPoolId"])["UserPool"]
    assert pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False  # self sign-up (hosted UI)
    assert pool["UsernameAttributes"] == ["email"] and pool["AutoVerifiedAttributes"] == ["email"]
    for client_id in (out["ApiClientId"], out["WebClientId"]):
        client = cognito.describe_user_pool_client(UserPoolId=out["UserPoolId"], ClientId=client_id)["UserPoolClient"]
        assert client["WriteAttributes"], "an empty list would mean every attribute is writable"
        assert not [a for a in client["WriteAttributes"] if a == "email" or a.startswith("custom:")], client
    web = cognito.describe_user_pool_client(UserPoolId=out["UserPoolId"], ClientId=out["WebClientId"])["UserPoolClient"]
    assert web["CallbackURLs"] == [f"{APP_URL}/oidc/callback/"] and web["AllowedOAuthFlows"] == ["code"]
    assert cognito.get_group(UserPoolId=out["UserPoolId"], GroupName="system_admin")["Group"]
    assert cognito.describe_user_pool_domain(Domain=f"saas-commerce-dev-{ACCOUNT}")["DomainDescription"]["UserPoolId"] \
        == out["UserPoolId"]
    secret = json.loads(secrets.get_secret_value(SecretId="saas-commerce/dev/app")["SecretString"])
    assert len(secret["django_secret_key"]) == 64 and secret["oidc_client_secret"] == web["ClientSecret"]


def test_the_stack_creates_roles_logs_and_alarms_to_the_alarm_topic(account):
    _, out = create_stack(account)
    iam, logs, cloudwatch = account.client("iam"), account.client("logs"), account.client("cloudwatch")
    web = iam.get_role(RoleName="saas-commerce-dev-web")["Role"]
    worker = iam.get_role(RoleName="saas-commerce-dev-worker")["Role"]
    assert web["Arn"] == out["WebRoleArn"] and worker["Arn"] == out["WorkerRoleArn"]
    assert {s["Principal"]["Service"] if isinstance(s["Principal"]["Service"], str) else tuple(s["Principal"]["Service"])
            for s in worker["AssumeRolePolicyDocument"]["Statement"]} == {"lambda.amazonaws.com"}
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/saas-commerce-dev")["logGroups"]}
    assert set(groups) == {"/aws/lambda/saas-commerce-dev", "/aws/lambda/saas-commerce-dev-worker"}
    assert {g["retentionInDays"] for g in groups.values()} == {30}
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix="saas-commerce-dev")["MetricAlarms"]}
    expected = {"jobs-dead-letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "saas-dev-jobs-dlq"),
                "web-errors": ("AWS/Lambda", "Errors", "saas-commerce-dev"),
                "worker-errors": ("AWS/Lambda", "Errors", "saas-commerce-dev-worker"),
                "web-throttles": ("AWS/Lambda", "Throttles", "saas-commerce-dev"),
                "worker-throttles": ("AWS/Lambda", "Throttles", "saas-commerce-dev-worker"),
                "api-5xx": ("AWS/ApiGateway", "5XXError", "saas-commerce-dev")}
    assert {name.removeprefix("saas-commerce-dev-") for name in alarms} == set(expected)
    for name, (namespace, metric, dimension) in expected.items():
        alarm = alarms[f"saas-commerce-dev-{name}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"][0]["Value"]) == (namespace, metric, dimension)
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"] == [out["AlarmTopicArn"]]


def test_the_package_serves_health_and_an_authenticated_request_from_what_the_stack_made(account):
    """The web stage's built zip, through Zappa's handler on a read-only filesystem, configured only
    by its zappa_settings (references) resolved against the stack's SSM parameters and secret: its
    table, its pool's tokens, its allowed host."""
    _, out = create_stack(account)
    cognito = account.client("cognito-idp")
    email = "first.customer@example.test"
    cognito.admin_create_user(UserPoolId=out["UserPoolId"], Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
    cognito.admin_set_user_password(UserPoolId=out["UserPoolId"], Username=email, Password="Stack-Passw0rd!x",
                                    Permanent=True)
    token = cognito.admin_initiate_auth(UserPoolId=out["UserPoolId"], ClientId=out["ApiClientId"],
                                        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": email, "PASSWORD": "Stack-Passw0rd!x"}
                                        )["AuthenticationResult"]["IdToken"]
    built = lambda_package.build("dev")
    with tempfile.TemporaryDirectory(prefix="stack-task-") as tmp:
        task_root = unpack(Path(built.zip_path), Path(tmp))
        events = [api_gateway_event(method="GET", path="/health", host=APP_HOST, stage="dev", headers={}, body=b""),
                  api_gateway_event(method="GET", path="/api/v1/me", host=APP_HOST, stage="dev",
                                    headers={"Authorization": f"Bearer {token}"}, body=b""),
                  api_gateway_event(method="GET", path="/health", host="attacker.example", stage="dev", headers={},
                                    body=b"")]
        from devstack import lambda_local

        results = lambda_local.invoke_many(events, task_root=task_root, env=lambda_environment(account, out["UserPoolId"]),
                                           handler=lambda_local.configured_handler("dev"), timeout=120)["results"]
    health, me, foreign = (r["response"] for r in results)
    assert health["statusCode"] == 200 and json.loads(health["body"])["status"] == "ok", health
    assert me["statusCode"] == 200, me
    assert json.loads(me["body"])["user"]["email"] == email
    assert foreign["statusCode"] == 400  # the allowed host is the stack's AppUrl, nothing else
