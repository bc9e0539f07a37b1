"""Settings by reference (SSM / Secrets Manager on the moto server), the saas.E00x start-up checks,
and the demo commands' local-only guard."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from saas import aws, checks, config
from tests.factories import Clock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def path():
    return f"/saas-commerce/local/test-{uuid.uuid4().hex[:8]}"


def test_ssm_and_secrets_manager_references_resolve_in_one_batch(path):
    ssm, secretsmanager = aws.client("ssm"), aws.client("secretsmanager")
    ssm.put_parameter(Name=f"{path}/hosts", Value="api.example.com", Type="String")
    ssm.put_parameter(Name=f"{path}/pool", Value="us-east-1_abc", Type="SecureString")
    secretsmanager.create_secret(Name=f"saas-commerce/local/{path[-13:]}", SecretString=json.dumps(
        {"secret_key": "s3cr3t", "client_secret": "oidc"}))
    secret = f"secretsmanager:saas-commerce/local/{path[-13:]}"
    resolver = config.ReferenceResolver(aws.client)
    resolved = resolver.resolve_all({
        "DJANGO_ALLOWED_HOSTS": f"ssm:{path}/hosts", "COGNITO_USER_POOL_ID": f"ssm:{path}/pool",
        "DJANGO_SECRET_KEY": f"{secret}#secret_key", "OIDC_RP_CLIENT_SECRET": f"{secret}#client_secret",
        "PLAIN": "not a reference",
    })
    assert resolved == {"DJANGO_ALLOWED_HOSTS": "api.example.com", "COGNITO_USER_POOL_ID": "us-east-1_abc",
                        "DJANGO_SECRET_KEY": "s3cr3t", "OIDC_RP_CLIENT_SECRET": "oidc", "PLAIN": "not a reference"}


def test_resolved_values_are_cached_until_the_ttl_then_reread(path):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=f"{path}/rotating", Value="v1", Type="SecureString")
    clock = Clock()
    resolver = config.ReferenceResolver(aws.client, ttl_seconds=300, clock=clock)
    assert resolver.resolve(f"ssm:{path}/rotating") == "v1"
    ssm.put_parameter(Name=f"{path}/rotating", Value="v2", Type="SecureString", Overwrite=True)
    clock.now += 299
    assert resolver.resolve(f"ssm:{path}/rotating") == "v1"  # cached: no call within the TTL
    clock.now += 2
    assert resolver.resolve(f"ssm:{path}/rotating") == "v2"


def test_a_reference_to_nothing_names_the_setting(path):
    resolver = config.ReferenceResolver(aws.client)
    with pytest.raises(config.ConfigurationError, match=rf"DJANGO_ALLOWED_HOSTS: SSM parameter {path}/missing"):
        resolver.resolve_all({"DJANGO_ALLOWED_HOSTS": f"ssm:{path}/missing"})
    missing = f"saas-commerce/local/none-{path[-8:]}"
    with pytest.raises(config.ConfigurationError, match=rf"DJANGO_SECRET_KEY: secret '{missing}' cannot be read"):
        resolver.resolve_all({"DJANGO_SECRET_KEY": f"secretsmanager:{missing}#key"})


def test_a_missing_json_key_in_a_secret_names_the_setting(path):
    aws.client("secretsmanager").create_secret(Name=f"saas-commerce/local/k-{path[-8:]}", SecretString='{"a": "1"}')
    resolver = config.ReferenceResolver(aws.client)
    with pytest.raises(config.ConfigurationError, match=r"OIDC_RP_CLIENT_SECRET: .* has no JSON key 'b'"):
        resolver.resolve_all({"OIDC_RP_CLIENT_SECRET": f"secretsmanager:saas-commerce/local/k-{path[-8:]}#b"})


def _django_process(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    keep = ("PATH", "LANG", "DYNAMODB_ENDPOINT_URL", "MOTO_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION", "AWS_REGION", "NO_PROXY", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def prod_like_env() -> dict[str, str]:
    return {"DJANGO_SECRET_KEY": "k" * 20 + uuid.uuid4().hex + "Z!x" * 10, "DJANGO_ALLOWED_HOSTS": "api.example.com",
            "COGNITO_USER_POOL_ID": "us-east-1_Example", "COGNITO_APP_CLIENT_IDS": "client1",
            "CELERY_BROKER_URL": "sqs://", "SQS_JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/saas-jobs",
            "DJANGO_SETTINGS_MODULE": "saas.settings"}


def test_start_up_stops_on_an_unresolvable_reference_naming_it(path):
    result = _django_process({**prod_like_env(), "DJANGO_ALLOWED_HOSTS": f"ssm:{path}/nothing"}, "check")
    assert result.returncode != 0
    assert f"DJANGO_ALLOWED_HOSTS: SSM parameter {path}/nothing does not exist" in result.stderr


def test_check_deploy_passes_for_a_prod_like_environment_with_no_warnings():
    result = _django_process(prod_like_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing, code", [
    ("DJANGO_SECRET_KEY", "saas.E001"), ("DJANGO_ALLOWED_HOSTS", "saas.E002"),
    ("COGNITO_USER_POOL_ID", "saas.E003"), ("COGNITO_APP_CLIENT_IDS", "saas.E004"),
    ("CELERY_BROKER_URL", "saas.E005"),
])
def test_each_missing_setting_is_a_named_check_error(settings, missing, code):
    settings.LOCAL_STACK, settings.SECRET_KEY = False, "a-deployed-secret-key-" + uuid.uuid4().hex
    attribute = {"DJANGO_SECRET_KEY": "SECRET_KEY", "DJANGO_ALLOWED_HOSTS": "ALLOWED_HOSTS"}.get(missing, missing)
    setattr(settings, attribute, [] if attribute in ("ALLOWED_HOSTS", "COGNITO_APP_CLIENT_IDS") else "")
    errors = checks.configuration()
    assert [e.id for e in errors] == [code]
    assert missing in errors[0].hint


def test_the_local_secret_key_outside_the_local_stack_is_an_error_even_with_debug(settings):
    settings.LOCAL_STACK, settings.DEBUG, settings.SECRET_KEY = False, True, checks.LOCAL_SECRET_KEY
    assert [e.id for e in checks.configuration()] == ["saas.E001"]


def test_browser_sign_in_without_its_client_secret_is_an_error(settings):
    settings.COGNITO_DOMAIN, settings.OIDC_RP_CLIENT_SECRET = "https://x.auth.us-east-1.amazoncognito.com", ""
    assert [e.id for e in checks.configuration()] == ["saas.E006"]


def test_debug_alone_gives_no_secret_key_and_no_hosts():
    result = _django_process({**prod_like_env(), "DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": "",
                              "DJANGO_ALLOWED_HOSTS": ""}, "check")
    assert result.returncode != 0
    assert "saas.E001" in result.stderr and "saas.E002" in result.stderr


def test_lambda_start_up_refuses_a_missing_setting():
    env = {**prod_like_env(), "AWS_LAMBDA_FUNCTION_NAME": "saas-commerce-dev", "COGNITO_APP_CLIENT_IDS": ""}
    result = _django_process(env, "help")
    assert result.returncode != 0
    assert "saas.E004" in result.stderr


@pytest.mark.parametrize("command, args", [("seed_demo", ["--no-products", "--provider-url", ""]),
                                           ("demo_token", ["alice@demo.test"])])
def test_demo_commands_refuse_outside_the_local_stack(settings, command, args):
    settings.LOCAL_STACK = False
    with pytest.raises(CommandError, match="only runs against the local stack"):
        call_command(command, *args)
