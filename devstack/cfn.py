"""The stage's CloudFormation template (``deploy/stack.yaml``): loading it, resolving its intrinsic
functions where we need values without CloudFormation (the IAM policies the recorded-operations test
reads, the resources the moto server skips), and preparing it for the moto server.

The moto server's CloudFormation creates tables, queues, buckets, SSM parameters, IAM roles, SNS
topics, log groups and alarms, but *skips* ``AWS::Cognito::*``, ``AWS::SecretsManager::Secret`` and
``AWS::S3::BucketPolicy`` while still reporting ``CREATE_COMPLETE`` (a ``Ref`` to a skipped resource
resolves to an empty string, so the SSM parameters that hold the pool id fail). ``for_moto`` creates
those resources directly through their service APIs, from the template's own properties, and hands
moto the rest of the template with every reference to them replaced by the real ids: what moto
creates comes from the template, and what it cannot is created by the same properties.
"""
from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "stack.yaml"
MOTO_SKIPS = ("AWS::Cognito::UserPool", "AWS::Cognito::UserPoolGroup", "AWS::Cognito::UserPoolDomain",
              "AWS::Cognito::UserPoolClient", "AWS::SecretsManager::Secret", "AWS::S3::BucketPolicy")


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Sub x`` -> ``{"Fn::Sub": x}``, ``!Ref x`` -> ``{"Ref": x}``)."""


def _tag(loader: _Loader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)  # a SafeLoader subclass


def template_text(path: Path = TEMPLATE) -> str:
    return path.read_text()


class Resolver:
    """Evaluates Ref / Fn::Sub / Fn::GetAtt / Fn::If / Fn::Select / Fn::Split / Fn::Join / Fn::Equals
    / Fn::Not against known values. ``names`` maps a parameter, pseudo parameter (``AWS::AccountId``)
    or logical id to its value, and ``"Logical.Attribute"`` to a GetAtt value."""

    def __init__(self, template: dict, names: dict[str, str]) -> None:
        self.template = template
        self.names = dict(names)
        for name, spec in template.get("Parameters", {}).items():
            self.names.setdefault(name, str(spec.get("Default", "")))

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def value(self, node):  # noqa: C901 - one case per intrinsic function
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not (next(iter(node)) == "Ref" or next(iter(node)).startswith(("Fn::", "Condition"))):
            return {k: self.value(v) for k, v in node.items()}
        (function, arg), = node.items()
        if function == "Ref":
            return self.names[arg]
        if function == "Fn::GetAtt":
            return self.names[".".join(arg)]
        if function == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self.value(v) for k, v in arg[1].items()})
            return _substitute(text, {**self.names, **extra})
        if function == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if function == "Fn::Select":
            return self.value(arg[1])[int(self.value(arg[0]))]
        if function == "Fn::Split":
            return self.value(arg[1]).split(arg[0])
        if function == "Fn::Join":
            return arg[0].join(self.value(arg[1]))
        if function == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if function == "Fn::Not":
            return not self.value(arg[0])
        if function == "Condition":
            return self.condition(arg)
        raise ValueError(f"unsupported intrinsic function {function}")


def _substitute(text: str, names: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        start = text.find("${", i)
        if start < 0:
            out.append(text[i:])
            break
        end = text.index("}", start)
        out.append(text[i:start])
        name = text[start + 2:end]
        out.append(name[1:] if name.startswith("!") else str(names[name]))
        i = end + 1
    return "".join(out)


# --- IAM roles (read by devstack/iam.py) ---------------------------------------------------------------


def role_resources(template: dict | None = None) -> dict[str, dict]:
    """{role logical id: resource} for every AWS::IAM::Role."""
    template = template or load()
    return {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


# --- the moto server ---------------------------------------------------------------------------------


def for_moto(*, stage: str, parameters: dict[str, str], clients, account: str, region: str,  # noqa: C901
             template: dict | None = None) -> tuple[str, dict[str, str]]:  # one case per skipped resource type
    """Create the resources the moto server's CloudFormation skips (see the module docstring) with
    ``clients(service)``, and return (the template moto can apply, the created ids by logical id).
    Idempotent per stage: an existing pool / secret of the same name is reused."""
    template = json.loads(json.dumps(template or load()))  # a deep copy
    names = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws", "AWS::StackName": f"saas-commerce-{stage}",
             "Stage": stage, **parameters}
    resolver = Resolver(template, names)
    resources = template["Resources"]
    created: dict[str, str] = {}
    cognito, secrets_client = clients("cognito-idp"), clients("secretsmanager")

    for name, resource in list(resources.items()):
        if resource["Type"] != "AWS::Cognito::UserPool":
            continue
        props = resolver.value(resource["Properties"])
        pool_name = props.pop("UserPoolName")
        existing = [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == pool_name]
        pool = existing[0] if existing else cognito.create_user_pool(PoolName=pool_name, **props)["UserPool"]
        pool = cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
        resolver.names[name], resolver.names[f"{name}.Arn"] = pool["Id"], pool["Arn"]
        resolver.names[f"{name}.ProviderName"] = f"cognito-idp.{region}.amazonaws.com/{pool['Id']}"
        created[name] = pool["Id"]
    for name, resource in list(resources.items()):
        kind = resource["Type"]
        if kind not in MOTO_SKIPS or kind in ("AWS::Cognito::UserPool", "AWS::S3::BucketPolicy"):
            continue  # a bucket policy refers to the bucket moto creates, and nothing refers to it
        props = resolver.value(resource["Properties"])
        if kind == "AWS::Cognito::UserPoolClient":
            found = [c for c in cognito.list_user_pool_clients(UserPoolId=props["UserPoolId"], MaxResults=60)["UserPoolClients"]
                     if c["ClientName"] == props["ClientName"]]
            client = (cognito.describe_user_pool_client(UserPoolId=props["UserPoolId"], ClientId=found[0]["ClientId"])
                      if found else cognito.create_user_pool_client(**props))["UserPoolClient"]
            resolver.names[name] = client["ClientId"]
            resolver.names[f"{name}.ClientSecret"] = client.get("ClientSecret", "")
            created[name] = client["ClientId"]
        elif kind == "AWS::Cognito::UserPoolGroup":
            try:
                cognito.create_group(**props)
            except cognito.exceptions.GroupExistsException:
                pass
            resolver.names[name] = created[name] = props["GroupName"]
        elif kind == "AWS::Cognito::UserPoolDomain":
            try:
                cognito.create_user_pool_domain(**props)
            except cognito.exceptions.InvalidParameterException:
                pass  # already there
            resolver.names[name] = created[name] = props["Domain"]
        elif kind == "AWS::SecretsManager::Secret":
            arn = _ensure_secret(secrets_client, props)
            resolver.names[name] = created[name] = arn
    for name in [n for n, r in resources.items() if r["Type"] in MOTO_SKIPS and r["Type"] != "AWS::S3::BucketPolicy"]:
        del resources[name]
    skipped = set(created)

    def replace(node):
        if isinstance(node, list):
            return [replace(n) for n in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"} and node["Ref"] in skipped:
            return resolver.names[node["Ref"]]
        if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in skipped:
            return resolver.names[".".join(node["Fn::GetAtt"])]
        if set(node) == {"Fn::Sub"}:
            arg = node["Fn::Sub"]
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], replace(arg[1]))
            for key in [k for k in resolver.names if k.split(".")[0] in skipped]:
                text = text.replace("${" + key + "}", resolver.names[key])
            return {"Fn::Sub": [text, extra] if extra else text}
        return {k: replace(v) for k, v in node.items()}

    template["Resources"] = replace(resources)
    template["Outputs"] = replace(template.get("Outputs", {}))
    return json.dumps(template), created


def _ensure_secret(client, props: dict) -> str:
    """CreateSecret with GenerateSecretString done here (moto's CreateSecret takes only a value)."""
    try:
        return client.describe_secret(SecretId=props["Name"])["ARN"]
    except client.exceptions.ResourceNotFoundException:
        pass
    generate = props.get("GenerateSecretString", {})
    value = json.loads(generate.get("SecretStringTemplate", "{}"))
    alphabet = "".join(c for c in string.ascii_letters + string.digits + string.punctuation
                       if c not in generate.get("ExcludeCharacters", ""))
    value[generate["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
    return client.create_secret(Name=props["Name"], Description=props.get("Description", ""),
                                SecretString=json.dumps(value))["ARN"]


def apply_what_moto_ignores(*, stage: str, parameters: dict[str, str], clients, account: str,  # noqa: C901
                            region: str, created: dict[str, str], template: dict | None = None) -> list[str]:
    """The properties the moto server's CloudFormation accepts but does not apply (a table's TTL and
    point-in-time recovery, a bucket's public access block, CORS and lifecycle rules) and the resources it skips that
    refer to what it created (the bucket policy, the alarms), applied through their service APIs from
    the template's own properties. Returns a line per call."""
    template = template or load()
    names = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws", "Stage": stage, **parameters}
    resolver = Resolver(template, names)
    for name, resource in template["Resources"].items():  # names of what moto made, for Ref / GetAtt
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::S3::Bucket":
            bucket = resolver.value(props["BucketName"])
            resolver.names[name], resolver.names[f"{name}.Arn"] = bucket, f"arn:aws:s3:::{bucket}"
        elif resource["Type"] == "AWS::SQS::Queue":
            queue = resolver.value(props["QueueName"])
            resolver.names[f"{name}.QueueName"], resolver.names[f"{name}.Arn"] = queue, f"arn:aws:sqs:{region}:{account}:{queue}"
        elif resource["Type"] == "AWS::SNS::Topic":
            resolver.names[name] = f"arn:aws:sns:{region}:{account}:{resolver.value(props['TopicName'])}"
    resolver.names.update(created)
    done = []
    for resource in template["Resources"].values():
        kind = resource["Type"]
        handled = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::CloudWatch::Alarm")
        if kind not in handled or ("Condition" in resource and not resolver.condition(resource["Condition"])):
            continue
        props = resolver.value(resource.get("Properties", {}))
        if kind == "AWS::DynamoDB::Table":
            ddb = clients("dynamodb")
            ttl = props["TimeToLiveSpecification"]
            ddb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
            ddb.update_continuous_backups(TableName=props["TableName"],
                                          PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"])
            done.append(f"{props['TableName']}: TTL on {ttl['AttributeName']}, point-in-time recovery")
        elif kind == "AWS::S3::Bucket":
            s3, bucket = clients("s3"), props["BucketName"]
            if "PublicAccessBlockConfiguration" in props:
                s3.put_public_access_block(Bucket=bucket,
                                           PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
            if "CorsConfiguration" in props:
                rules = [{"AllowedMethods": r["AllowedMethods"], "AllowedOrigins": r["AllowedOrigins"],
                          "AllowedHeaders": r.get("AllowedHeaders", []), "MaxAgeSeconds": int(r.get("MaxAge", 0))}
                         for r in props["CorsConfiguration"]["CorsRules"]]
                s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
            rules = []
            for rule in props.get("LifecycleConfiguration", {}).get("Rules", []):
                api = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
                if "ExpirationInDays" in rule:
                    api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
                if "AbortIncompleteMultipartUpload" in rule:
                    api["AbortIncompleteMultipartUpload"] = {
                        "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
                rules.append(api)
            if rules:
                s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
            done.append(f"{bucket}: public access block, CORS, lifecycle rules")
        elif kind == "AWS::S3::BucketPolicy":
            clients("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
            done.append(f"{props['Bucket']}: bucket policy")
        elif kind == "AWS::CloudWatch::Alarm":
            alarm = {**props, "Threshold": float(props["Threshold"]), "Period": int(props["Period"]),
                     "EvaluationPeriods": int(props["EvaluationPeriods"])}
            clients("cloudwatch").put_metric_alarm(**alarm)
            done.append(f"alarm {props['AlarmName']}")
    return done
