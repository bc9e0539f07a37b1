"""The stage IAM policies: what the recorder checks against (deploy/iam/, devstack/iam.py)."""
from __future__ import annotations

import json

from devstack import iam
from devstack.lambda_package import stages

LOCAL = {"DYNAMODB_TABLE": "saas-local-pooled", "DYNAMODB_SILO_TABLE_PREFIX": "saas-local-silo-",
         "WEBHOOKS_TOPIC_PREFIX": "saas-local", "CONFIG_PARAMETER_PATH": "/saas-commerce/local/"}
ACCOUNT = "123456789012"


def op(service, operation, params):
    return {"service": service, "operation": operation, "caller": "test", "local_names": LOCAL,
            "requires": iam.required(service, operation, params, region="us-east-1", account=ACCOUNT)}


def test_every_stage_has_a_policy_and_runs_under_its_own_role():
    config = json.loads((iam.ROOT / "zappa_settings.json").read_text())

    def setting(stage, name):  # Zappa's "extends"
        while name not in config[stage] and config[stage].get("extends"):
            stage = config[stage]["extends"]
        return config[stage].get(name)

    for stage in stages():
        assert iam.load_policy(stage)["Statement"]
        assert setting(stage, "manage_roles") is False  # never Zappa's default over-permitted role
        policy_stage = iam.policy_path(stage).stem
        assert setting(stage, "role_name") == f"saas-commerce-{policy_stage}-lambda"
        assert stage.startswith(policy_stage)


def test_the_application_s_own_operations_are_allowed():
    allowed = [
        op("dynamodb", "GetItem", {"TableName": "saas-local-pooled"}),
        op("dynamodb", "Query", {"TableName": "saas-local-silo-acme", "IndexName": "gsi1"}),
        op("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "saas-local-pooled"}},
                                                                {"ConditionCheck": {"TableName": "saas-local-pooled"}}]}),
        op("sns", "Publish", {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:saas-local-t1-order-created"}),
        op("ssm", "GetParameters", {"Names": ["/saas-commerce/local/allowed-hosts"]}),
    ]
    assert iam.denied(allowed, account=ACCOUNT) == []


def test_anything_outside_the_stage_s_resources_or_actions_is_denied():
    outside = [
        op("dynamodb", "Scan", {"TableName": "saas-local-pooled"}),
        op("dynamodb", "DeleteTable", {"TableName": "saas-local-pooled"}),
        op("dynamodb", "GetItem", {"TableName": "someone-elses-table"}),
        op("sns", "Publish", {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:other-app-topic"}),
        op("ssm", "GetParameters", {"Names": ["/other-app/db-password"]}),
        op("s3", "DeleteBucket", {"Bucket": "saas-local-files"}),
    ]
    problems = iam.denied(outside, account=ACCOUNT, stages=["prod"])
    assert len(problems) == len(outside), problems
    assert any("dynamodb:Scan on arn:aws:dynamodb:us-east-1:ACCOUNT_ID:table/saas-prod-pooled" in p for p in problems)


def test_the_rendered_policy_names_the_account_and_pool():
    text = iam.render("prod", account_id="210987654321", user_pool_id="us-east-1_Pool")
    assert "ACCOUNT_ID" not in text and "USER_POOL_ID" not in text
    assert "arn:aws:cognito-idp:us-east-1:210987654321:userpool/us-east-1_Pool" in text
