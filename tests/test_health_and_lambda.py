"""GET /health, directly and through Zappa's Lambda handler on a read-only filesystem."""
from __future__ import annotations

import json
import os

import pytest

from devstack import lambda_local
from saas import aws
from saas.tenancy import tables


def test_health_is_200_when_dynamodb_answers(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["dependencies"] == {"dynamodb": "ok"}


@pytest.fixture
def dynamodb_down(settings):
    """DynamoDB's endpoint points at a closed loopback port (connection refused), one attempt."""
    settings.AWS_ENDPOINT_URLS = {**settings.AWS_ENDPOINT_URLS, "dynamodb": "http://127.0.0.1:9"}
    settings.AWS_MAX_ATTEMPTS = 1
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_health_is_503_naming_dynamodb_when_it_does_not_answer(client, dynamodb_down):
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["dynamodb"]


def test_api_answers_503_not_500_when_dynamodb_is_down(tenant_a, request):
    api = tenant_a.admin.client()
    request.getfixturevalue("dynamodb_down")  # after the tenant exists
    response = api.get("/api/v1/me")
    assert response.status_code == 503
    assert response.json()["dependency"] == "dynamodb"
    assert response["Retry-After"]


@pytest.fixture(scope="module")
def dev_stage_settings(tmp_path_factory):
    # The dev stage names its own table; make it exist in DynamoDB Local.
    stage = json.loads((lambda_local.ROOT / "zappa_settings.json").read_text())["dev"]
    tables.ensure_table(stage["environment_variables"]["DYNAMODB_TABLE"])
    return lambda_local.write_settings("dev", tmp_path_factory.mktemp("lambda"))


def test_zappa_lambda_handler_serves_health_on_a_read_only_filesystem(dev_stage_settings):
    env = lambda_local.lambda_env(
        DJANGO_SECRET_KEY="lambda-test-only",
        DJANGO_ALLOWED_HOSTS="abc123.execute-api.us-east-1.amazonaws.com",
        DYNAMODB_ENDPOINT_URL=os.environ["DYNAMODB_ENDPOINT_URL"],
        AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
    )
    result = lambda_local.invoke(lambda_local.api_gateway_event("/health"), settings_dir=dev_stage_settings.parent,
                                 env=env, read_only=True)
    response = result["response"]
    assert response["statusCode"] == 200, result["stderr"][-2000:]
    assert json.loads(response["body"])["status"] == "ok"
    assert "Read-only file system" not in result["stderr"]
