"""The function roles in deploy/stack.yaml: what the recorder checks against (devstack/iam.py), one
role per function, each with only what its code calls."""
from __future__ import annotations

import pytest

from devstack import iam

pytestmark = pytest.mark.pure

LOCAL = {"DYNAMODB_TABLE": "saas-local-pooled", "DYNAMODB_SILO_TABLE_PREFIX": "saas-local-silo-",
         "WEBHOOKS_TOPIC_PREFIX": "saas-local", "CONFIG_PARAMETER_PATH": "/saas-commerce/local/",
         "S3_BUCKET": "saas-local-files", "SQS_QUEUE_PREFIX": "saas-local", "COGNITO_USER_POOL_ID": "us-east-1_local"}
ACCOUNT = "123456789012"


def op(service, operation, params, role="web"):
    return {"service": service, "operation": operation, "caller": "test", "local_names": LOCAL, "role": role,
            "requires": iam.required(service, operation, params, region="us-east-1", account=ACCOUNT)}


def test_each_function_runs_under_its_own_role_from_the_template():
    for stage in ("dev", "prod"):
        web, worker = iam.role(stage), iam.role(f"{stage}_worker")
        assert web["RoleName"] == iam.stage_setting(stage, "role_name") == f"saas-commerce-{stage}-web"
        assert worker["RoleName"] == iam.stage_setting(f"{stage}_worker", "role_name") == f"saas-commerce-{stage}-worker"
        assert iam.stage_setting(stage, "manage_roles") is False  # never Zappa's own over-permitted role


def test_api_gateway_may_assume_the_web_role_and_invoke_exactly_the_web_function():
    """Zappa puts the stage's role into the API Gateway integration as its Credentials (no
    AWS::Lambda::Permission): API Gateway assumes it and calls lambda:InvokeFunction."""
    for stage in ("dev", "prod"):
        web = iam.role(stage)
        [trust] = web["AssumeRolePolicyDocument"]["Statement"]
        assert set(trust["Principal"]["Service"]) == {"lambda.amazonaws.com", "apigateway.amazonaws.com"}
        policy = iam.load_policy(stage)
        function = f"arn:aws:lambda:us-east-1:ACCOUNT_ID:function:{iam.function_name(stage)}"
        assert iam.allows(policy, "lambda:InvokeFunction", function)
        assert iam.allows(policy, "lambda:InvokeFunction", function + ":current")  # an alias or version of it
        for other in (f"arn:aws:lambda:us-east-1:ACCOUNT_ID:function:{iam.function_name(stage + '_worker')}",
                      "arn:aws:lambda:us-east-1:ACCOUNT_ID:function:someone-else"):
            assert not iam.allows(policy, "lambda:InvokeFunction", other)
        worker = iam.role(f"{stage}_worker")
        assert [s["Principal"]["Service"] for s in worker["AssumeRolePolicyDocument"]["Statement"]] == ["lambda.amazonaws.com"]
        assert "lambda:InvokeFunction" not in iam.granted_actions(iam.load_policy(f"{stage}_worker"))


def test_no_function_can_administer_users_queues_or_event_sources():
    """Deploy-time actions belong to the deploy command's credentials: neither role may set a
    password, create or delete a user, create or alter a queue, or change an event source mapping."""
    forbidden = ("cognito-idp:AdminSetUserPassword", "cognito-idp:AdminCreateUser", "cognito-idp:AdminDeleteUser",
                 "cognito-idp:AdminAddUserToGroup", "sqs:CreateQueue", "sqs:SetQueueAttributes",
                 "lambda:UpdateEventSourceMapping", "lambda:ListEventSourceMappings", "iam:PassRole")
    for stage in ("dev", "dev_worker", "prod", "prod_worker"):
        granted = {a.lower() for a in iam.granted_actions(iam.load_policy(stage))}
        assert not granted & {a.lower() for a in forbidden}, (stage, granted & {a.lower() for a in forbidden})
        assert not any("*" in a for a in granted), stage


def test_the_web_role_cannot_create_or_delete_tables_the_worker_only_silo_tables():
    ops = [op("dynamodb", "CreateTable", {"TableName": "saas-local-silo-acme"}, role="web"),
           op("dynamodb", "DeleteTable", {"TableName": "saas-local-silo-acme"}, role="web"),
           op("dynamodb", "DeleteTable", {"TableName": "saas-local-pooled"}, role="worker"),
           op("dynamodb", "UpdateTable", {"TableName": "saas-local-pooled"}, role="worker")]
    problems = iam.denied(ops, account=ACCOUNT, stages=["prod"])
    assert len(problems) == 4, problems
    allowed = [op("dynamodb", "CreateTable", {"TableName": "saas-local-silo-acme"}, role="worker"),
               op("dynamodb", "DeleteTable", {"TableName": "saas-local-silo-acme"}, role="worker")]
    assert iam.denied(allowed, account=ACCOUNT) == []


def test_the_application_s_own_operations_are_allowed_to_the_function_that_makes_them():
    allowed = [
        op("dynamodb", "GetItem", {"TableName": "saas-local-pooled"}),
        op("dynamodb", "Query", {"TableName": "saas-local-silo-acme", "IndexName": "gsi1"}, role="worker"),
        op("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "saas-local-pooled"}},
                                                                {"ConditionCheck": {"TableName": "saas-local-pooled"}}]}),
        op("sns", "Publish", {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:saas-local-t1-order-created"}, role="worker"),
        op("sns", "PublishBatch", {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:saas-local-t1-order-created"},
           role="worker"),
        op("ssm", "GetParameters", {"Names": ["/saas-commerce/local/allowed-hosts"]}),
        op("s3", "CopyObject", {"Bucket": "saas-local-files", "Key": "tenants/t1/products/p/images/u",
                                "CopySource": {"Bucket": "saas-local-files", "Key": "uploads/t1/products/p/images/u"}}),
        op("s3", "PutObject", {"Bucket": "saas-local-files", "Key": "uploads/t1/x"}),
        op("sqs", "SendMessage", {"QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/saas-local-jobs"}),
        op("sqs", "ChangeMessageVisibility", {"QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/saas-local-jobs"},
           role="worker"),
        op("cognito-idp", "AdminListGroupsForUser", {"UserPoolId": "us-east-1_local"}),
    ]
    assert iam.denied(allowed, account=ACCOUNT) == []


def test_anything_outside_the_stage_s_resources_or_actions_is_denied():
    outside = [
        op("dynamodb", "Scan", {"TableName": "saas-local-pooled"}),
        op("dynamodb", "GetItem", {"TableName": "someone-elses-table"}),
        op("sns", "Publish", {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:other-app-topic"}),
        op("ssm", "GetParameters", {"Names": ["/other-app/db-password"]}),
        op("s3", "DeleteBucket", {"Bucket": "saas-local-files"}),
        op("s3", "PutObject", {"Bucket": "saas-local-files", "Key": "exports/not-a-tenant"}),
        op("sqs", "ReceiveMessage", {"QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/saas-local-jobs"}),
        op("cognito-idp", "AdminSetUserPassword", {"UserPoolId": "us-east-1_local"}, role="worker"),
    ]
    problems = iam.denied(outside, account=ACCOUNT, stages=["prod"])
    assert len(problems) == len(outside), problems
    assert any("dynamodb:Scan on arn:aws:dynamodb:us-east-1:ACCOUNT_ID:table/saas-prod-pooled" in p for p in problems)


def test_operations_not_made_by_a_function_are_not_checked_against_a_function_role():
    """Management commands run by the operator (ensure_queues, create_tenant...) use the deploy
    credentials; test code's own calls are not the application's."""
    ops = [op("sqs", "CreateQueue", {"QueueName": "saas-local-jobs"}, role="deploy"),
           op("cognito-idp", "AdminCreateUser", {"UserPoolId": "us-east-1_local"}, role="test")]
    assert iam.denied(ops, account=ACCOUNT) == []


def test_application_code_called_directly_needs_one_role_that_allows_it():
    """A service function a test calls outside a request or a job runs in one of the functions in AWS."""
    silo = op("dynamodb", "DeleteTable", {"TableName": "saas-local-silo-acme"}, role="direct")
    nowhere = op("dynamodb", "DeleteTable", {"TableName": "saas-local-pooled"}, role="direct")
    assert iam.denied([silo], account=ACCOUNT) == []
    assert len(iam.denied([nowhere], account=ACCOUNT, stages=["dev"])) == 1
