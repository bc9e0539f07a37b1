"""The least-privilege IAM role of each Lambda function, as the stage's CloudFormation template
(``deploy/stack.yaml``) defines it, and the check that every AWS operation the application performs
is allowed by the role of the function that performs it.

Each function has its own role: the web stages (``dev``, ``prod``) run under ``WebRole``, the worker
stages (``<stage>_worker``) under ``WorkerRole``. The policies are read from the template with its
intrinsic functions resolved (``ACCOUNT_ID`` and ``USER_POOL_ID`` stand for the account and the
pool). The test suite records every AWS call made through the shared botocore session
(``tests/aws_operations.py``), attributes it to the function that would make it (a Celery job ->
the worker; a Django request -> web) and fails if that function's role does not allow it, after
mapping the local resource names to the stage's (``STAGE_NAMED_SETTINGS``).

To let the application use a new AWS API: add the action to the statement of ``deploy/stack.yaml``
that names the resource, in the role(s) of the function(s) whose code calls it (one line each); if
it uses a new stage-named resource, add the environment variable that names it to
``STAGE_NAMED_SETTINGS``; if the IAM action name differs from the API operation name, add it to
``ACTION_ALIASES``. The policy language supported here: Allow statements with Action and Resource
(``*`` and ``?`` wildcards); no Condition, NotAction, NotResource or Deny.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from devstack import cfn

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDERS = ("ACCOUNT_ID", "USER_POOL_ID")
ROLES = {"web": "WebRole", "worker": "WorkerRole"}  # function -> its role in deploy/stack.yaml

# Environment variables that name a stage's resources: the local value (the test run's settings)
# is replaced by the stage's value (zappa_settings.json, or the template for the bucket) before the check.
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
    ("sns", "PublishBatch"): ("sns:Publish",),  # there is no sns:PublishBatch action
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage",),
}
# Operations that need no IAM permission (the caller authenticates some other way).
UNSIGNED_OPERATIONS = {("cognito-idp", "InitiateAuth"), ("cognito-idp", "RespondToAuthChallenge"),
                       ("cognito-idp", "GetUser"), ("sts", "GetCallerIdentity")}


# --- stages and roles ---------------------------------------------------------------------------------


def _zappa() -> dict:
    return json.loads((ROOT / "zappa_settings.json").read_text())


def stage_setting(stage: str, name: str, config: dict | None = None):
    """A Zappa stage setting, following ``extends``."""
    config = config or _zappa()
    while name not in config[stage] and config[stage].get("extends"):
        stage = config[stage]["extends"]
    return config[stage].get(name)


def function_of(stage: str) -> str:
    """'worker' for a worker stage (``<stage>_worker``), else 'web'."""
    return "worker" if stage.endswith("_worker") else "web"


def template_stage(stage: str) -> str:
    """The template's ``Stage`` parameter for a Zappa stage: ``dev_worker`` -> ``dev``."""
    return stage.removesuffix("_worker")


def web_stages() -> list[str]:
    return [s for s in _zappa() if function_of(s) == "web"]


def function_name(stage: str) -> str:
    """What Zappa names the stage's function (``slugify(project_name + "-" + stage)``)."""
    return f"{stage_setting(stage, 'project_name')}-{stage}".replace("_", "-")


def placeholder_names(stage: str) -> dict[str, str]:
    """Values for the template's parameters, pseudo parameters and resources (Ref / GetAtt) with
    ``ACCOUNT_ID`` / ``USER_POOL_ID`` standing for what only the account knows."""
    region = stage_setting(stage, "aws_region")
    return _placeholder_names(template_stage(stage), region)


@lru_cache(maxsize=8)
def _placeholder_names(stage: str, region: str) -> dict[str, str]:
    template = cfn.load()
    names = {"AWS::AccountId": "ACCOUNT_ID", "AWS::Region": region, "AWS::Partition": "aws",
             "AWS::StackName": f"saas-commerce-{stage}", "Stage": stage}
    params = cfn.Resolver(template, names)
    acct = f"{region}:ACCOUNT_ID"
    for logical, resource in template["Resources"].items():
        props, kind = resource.get("Properties", {}), resource["Type"]

        def prop(key, props=props):
            return params.value(props[key])

        if kind == "AWS::DynamoDB::Table":
            names[logical] = prop("TableName")
            names[f"{logical}.Arn"] = f"arn:aws:dynamodb:{acct}:table/{names[logical]}"
        elif kind == "AWS::SQS::Queue":
            queue = prop("QueueName")
            names[logical] = f"https://sqs.{region}.amazonaws.com/ACCOUNT_ID/{queue}"
            names[f"{logical}.Arn"], names[f"{logical}.QueueName"] = f"arn:aws:sqs:{acct}:{queue}", queue
        elif kind == "AWS::S3::Bucket":
            names[logical] = prop("BucketName")
            names[f"{logical}.Arn"] = f"arn:aws:s3:::{names[logical]}"
        elif kind == "AWS::Cognito::UserPool":
            names[logical] = "USER_POOL_ID"
            names[f"{logical}.Arn"] = f"arn:aws:cognito-idp:{acct}:userpool/USER_POOL_ID"
        elif kind == "AWS::Logs::LogGroup":
            names[logical] = prop("LogGroupName")
            names[f"{logical}.Arn"] = f"arn:aws:logs:{acct}:log-group:{names[logical]}:*"
        elif kind == "AWS::SNS::Topic":
            names[logical] = f"arn:aws:sns:{acct}:{prop('TopicName')}"
        elif kind == "AWS::IAM::Role":
            names[logical] = prop("RoleName")
            names[f"{logical}.Arn"] = f"arn:aws:iam::ACCOUNT_ID:role/{names[logical]}"
        else:
            names[logical] = logical
    return names


def role(stage: str) -> dict:
    """The stage's function's role (RoleName, AssumeRolePolicyDocument, Policies), resolved."""
    template = cfn.load()
    resource = template["Resources"][ROLES[function_of(stage)]]
    return cfn.Resolver(template, placeholder_names(stage)).value(resource["Properties"])


def load_policy(stage: str) -> dict:
    """Every statement of the stage's function's role, as one policy document."""
    resolved = role(stage)
    statements = [s for policy in resolved.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for statement in statements:
        unsupported = set(statement) - {"Sid", "Effect", "Action", "Resource"}
        if unsupported or statement.get("Effect") != "Allow":
            raise ValueError(f"{resolved['RoleName']} {statement.get('Sid')}: only Allow with Action/Resource "
                             "is supported")
    return {"Version": "2012-10-17", "Statement": statements}


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted_actions(policy: dict) -> list[str]:
    return sorted({action for s in policy["Statement"] for action in _as_list(s["Action"])})


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
    """The stage's values of STAGE_NAMED_SETTINGS: from
    zappa_settings.json, the files bucket from the template (its name carries the account)."""
    config = _zappa()
    merged: dict = {}
    chain, current = [], stage
    while current:  # Zappa's "extends"
        chain.append(config[current])
        current = config[current].get("extends")
    for part in reversed(chain):
        merged.update(part.get("environment_variables", {}))
    names = {k: merged[k] for k in STAGE_NAMED_SETTINGS if isinstance(merged.get(k), str)}
    names["S3_BUCKET"] = placeholder_names(stage)["FilesBucket"]
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


def _stage_for(function: str, web_stage: str) -> str:
    return f"{web_stage}_worker" if function == "worker" else web_stage


def denied(operations: list[dict], *, account: str, stages: list[str] | None = None) -> list[str]:
    """Each recorded operation not allowed by the role of the function that makes it, for each web
    stage (and its worker stage), as 'stage (role): action on resource'. An operation carries its
    ``role`` ('web' | 'worker'; 'direct' = either, so one of the two roles must allow it; anything
    else is not made by a function and is not checked here) and
    the ``local_names`` (STAGE_NAMED_SETTINGS values) in force when it was made."""
    problems = []
    for web_stage in stages or web_stages():
        policies = {function: load_policy(_stage_for(function, template_stage(web_stage))) for function in ROLES}
        for op in operations:
            role = op.get("role", "web")
            if (op["service"], op["operation"]) in UNSIGNED_OPERATIONS or role not in (*ROLES, "direct"):
                continue
            # "direct": application code a test called outside a request or a job; it runs in one of
            # the two functions, so at least one role must allow it.
            functions = list(ROLES) if role == "direct" else [role]
            for action, resource in op["requires"]:
                arns = {f: to_stage(resource, op["local_names"], _stage_for(f, template_stage(web_stage)), account=account)
                        for f in functions}
                if not any(allows(policies[f], action, arns[f]) for f in functions):
                    stage = _stage_for(functions[0], template_stage(web_stage))
                    problems.append(f"{stage} ({' or '.join(functions)} role): {action} on {arns[functions[0]]} "
                                    f"({op['operation']} called from {op['caller']})")
    return sorted(set(problems))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack iam-policy",
                                     description="Print the policy of a stage's function role (deploy/stack.yaml), "
                                                 "resolved; ACCOUNT_ID and USER_POOL_ID stand for the account's values.")
    parser.add_argument("stage")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(load_policy(args.stage), indent=2) + "\n")
    return 0
