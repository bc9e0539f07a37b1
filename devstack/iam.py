"""The least-privilege IAM policy of each Zappa stage (``deploy/iam/<stage>.json``), and the check
that every AWS operation the application performs is allowed by it.

The policy documents name the stage's own resources; ``ACCOUNT_ID`` and ``USER_POOL_ID`` are
placeholders filled in when the role is created (``python -m devstack iam-policy <stage> --account-id
... --user-pool-id ...``). The test suite records every AWS call made through the shared botocore
session (``tests/aws_operations.py``) and fails if a call from application code is not allowed by
every stage's policy, after mapping the local resource names to the stage's (``STAGE_NAMED_SETTINGS``).

To let the application use a new AWS API: add the action (and resource) to ``deploy/iam/<stage>.json``
for each stage; if it uses a new stage-named resource, add the environment variable that names it to
``STAGE_NAMED_SETTINGS``; if the IAM action name differs from the API operation name, add it to
``ACTION_ALIASES``. The policy language supported here: Allow statements with Action and Resource
(``*`` and ``?`` wildcards); no Condition, NotAction, NotResource or Deny.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "deploy" / "iam"
PLACEHOLDERS = ("ACCOUNT_ID", "USER_POOL_ID")

# Environment variables that name a stage's resources: the local value (the test run's settings)
# is replaced by the stage's value (zappa_settings.json environment_variables) before the check.
STAGE_NAMED_SETTINGS = (
    "DYNAMODB_TABLE",
    "DYNAMODB_SILO_TABLE_PREFIX",
    "WEBHOOKS_TOPIC_PREFIX",
    "SQS_QUEUE_PREFIX",
    "S3_BUCKET",
    "CONFIG_PARAMETER_PATH",
    "CONFIG_SECRET_PREFIX",
    "COGNITO_USER_POOL_ID",
)

# API operation -> the IAM actions it needs, where they differ from "<service>:<Operation>".
ACTION_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "ListObjects"): ("s3:ListBucket",),
    ("s3", "DeleteObjects"): ("s3:DeleteObject",),
    ("s3", "CopyObject"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "CreateMultipartUpload"): ("s3:PutObject",),
    ("s3", "UploadPart"): ("s3:PutObject",),
    ("s3", "CompleteMultipartUpload"): ("s3:PutObject",),
    ("s3", "AbortMultipartUpload"): ("s3:AbortMultipartUpload",),
}
# Operations that need no IAM permission (the caller authenticates some other way).
UNSIGNED_OPERATIONS = {("cognito-idp", "InitiateAuth"), ("cognito-idp", "RespondToAuthChallenge"),
                       ("cognito-idp", "GetUser"), ("sts", "GetCallerIdentity")}


# --- policies --------------------------------------------------------------------------------------


def policy_path(stage: str) -> Path:
    """deploy/iam/<stage>.json; a stage that extends another and keeps its role (no role_name of its
    own, e.g. the worker stages) runs under that stage's role and policy."""
    config = json.loads((ROOT / "zappa_settings.json").read_text())
    current = stage
    while not (POLICY_DIR / f"{current}.json").is_file() and current in config \
            and config[current].get("extends") and "role_name" not in config[current]:
        current = config[current]["extends"]
    return POLICY_DIR / f"{current}.json"


def load_policy(stage: str) -> dict:
    path = policy_path(stage)
    if not path.is_file():
        raise FileNotFoundError(f"no IAM policy for stage {stage!r}: create {path.relative_to(ROOT)}")
    policy = json.loads(path.read_text())
    for statement in policy["Statement"]:
        unsupported = set(statement) - {"Sid", "Effect", "Action", "Resource"}
        if unsupported or statement.get("Effect") != "Allow":
            raise ValueError(f"{path.name} {statement.get('Sid')}: only Allow with Action/Resource is supported")
    return policy


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted_actions(policy: dict) -> list[str]:
    return sorted({action for s in policy["Statement"] for action in _as_list(s["Action"])})


def render(stage: str, *, account_id: str, user_pool_id: str) -> str:
    text = policy_path(stage).read_text()
    if not re.fullmatch(r"\d{12}", account_id):
        raise ValueError("account id: 12 digits")
    return text.replace("ACCOUNT_ID", account_id).replace("USER_POOL_ID", user_pool_id)


def allows(policy: dict, action: str, resource: str) -> bool:
    """IAM evaluation for Allow-only policies: action names case-insensitive, resources case-sensitive."""
    for statement in policy["Statement"]:
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(statement["Action"])) and \
                any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["Resource"])):
            return True
    return False


# --- operations -> (action, resource) ------------------------------------------------------------


_TRANSACT_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def required(service: str, operation: str, params: dict, *, region: str, account: str) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs an API call needs. A DynamoDB transaction has no action of
    its own: it needs each item's action on each item's table."""
    if service == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        pairs = set()
        for item in params.get("TransactItems", []):
            kind, body = next(iter(item.items()))
            pairs.add((f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}",
                       f"arn:aws:dynamodb:{region}:{account}:table/{body['TableName']}"))
        return sorted(pairs)
    actions = ACTION_ALIASES.get((service, operation), (f"{service}:{operation}",))
    return [(action, arn) for arn in resources(service, operation, params, region=region, account=account)
            for action in actions]


def _dynamodb_tables(operation: str, params: dict) -> list[str]:
    if "TableName" in params:
        table = params["TableName"]
        return [f"{table}/index/{params['IndexName']}" if params.get("IndexName") else table]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return list(params.get("RequestItems", {}))
    if "ResourceArn" in params:
        return [params["ResourceArn"].split(":table/", 1)[-1]]
    return []


def resources(service: str, operation: str, params: dict, *, region: str, account: str) -> list[str]:  # noqa: C901 - one case per AWS service
    """The ARNs an API call acts on, as IAM evaluates it ("*" for calls with no resource)."""
    if service == "dynamodb":
        tables = _dynamodb_tables(operation, params)
        return [f"arn:aws:dynamodb:{region}:{account}:table/{t}" for t in tables] or ["*"]
    if service == "sns":
        if operation == "CreateTopic":
            return [f"arn:aws:sns:{region}:{account}:{params['Name']}"]
        arn = params.get("TopicArn") or params.get("ResourceArn") or params.get("SubscriptionArn")
        if arn and operation in ("Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes"):
            arn = arn.rsplit(":", 1)[0]  # a subscription is authorised on its topic
        return [arn] if arn else ["*"]
    if service == "sqs":
        name = params.get("QueueName") or (urlparse(params["QueueUrl"]).path.rsplit("/", 1)[-1]
                                           if params.get("QueueUrl") else None)
        return [f"arn:aws:sqs:{region}:{account}:{name}"] if name else ["*"]
    if service == "s3":
        bucket = params.get("Bucket")
        if not bucket:
            return ["*"]
        key = params.get("Key")
        return [f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"]
    if service == "ssm":
        names = params.get("Names") or ([params["Name"]] if "Name" in params else [])
        if "Path" in params:
            names = [params["Path"]]
        return [f"arn:aws:ssm:{region}:{account}:parameter/{n.lstrip('/')}" for n in names] or ["*"]
    if service == "secretsmanager":
        secret = params.get("SecretId")
        if not secret:
            return ["*"]
        return [secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}-AbCdEf"]
    if service == "lambda" and "UUID" in params:
        return [f"arn:aws:lambda:{region}:{account}:event-source-mapping:{params['UUID']}"]
    if service == "ses" and operation in ("SendRawEmail", "SendEmail"):
        source = params.get("Source", "")
        return [f"arn:aws:ses:{region}:{account}:identity/{source.rsplit('@', 1)[-1]}"] if source else ["*"]
    if service == "cognito-idp":
        pool = params.get("UserPoolId")
        return [f"arn:aws:cognito-idp:{region}:{account}:userpool/{pool}"] if pool else ["*"]
    return ["*"]


def stage_names(stage: str) -> dict[str, str]:
    config = json.loads((ROOT / "zappa_settings.json").read_text())
    merged: dict = {}
    chain, current = [], stage
    while current:  # Zappa's "extends"
        chain.append(config[current])
        current = config[current].get("extends")
    for part in reversed(chain):
        merged.update(part.get("environment_variables", {}))
    names = {k: merged[k] for k in STAGE_NAMED_SETTINGS if isinstance(merged.get(k), str)}
    names["COGNITO_USER_POOL_ID"] = "USER_POOL_ID"  # the pool id comes from SSM at run time
    return names


def to_stage(arn: str, local_names: dict[str, str], stage: str, *, account: str) -> str:
    """Rewrite a locally recorded ARN into the stage's names (longest local name first)."""
    names = stage_names(stage)
    for key in sorted(local_names, key=lambda k: -len(local_names[k])):
        local, remote = local_names[key], names.get(key)
        if local and remote and local in arn:
            arn = arn.replace(local, remote)
            break
    return arn.replace(f":{account}:", ":ACCOUNT_ID:")


def denied(operations: list[dict], *, account: str, stages: list[str] | None = None) -> list[str]:
    """Each recorded operation not allowed by a stage's policy, as 'stage: action on resource'.
    An operation carries the ``local_names`` (STAGE_NAMED_SETTINGS values) in force when it was made."""
    from devstack.lambda_package import stages as all_stages

    problems = []
    for stage in stages or all_stages():
        policy = load_policy(stage)
        for op in operations:
            if (op["service"], op["operation"]) in UNSIGNED_OPERATIONS:
                continue
            for action, resource in op["requires"]:
                arn = to_stage(resource, op["local_names"], stage, account=account)
                if not allows(policy, action, arn):
                    problems.append(f"{stage}: {action} on {arn} ({op['operation']} called from {op['caller']})")
    return sorted(set(problems))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack iam-policy",
                                     description="Print a stage's IAM policy with the account and pool filled in.")
    parser.add_argument("stage")
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--user-pool-id", required=True)
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.stage, account_id=args.account_id, user_pool_id=args.user_pool_id))
    return 0
