"""GET /health (through Zappa's handler from the built package: tests/lambda_package/)."""
from __future__ import annotations

import pytest

from saas import aws


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


# Zappa's Lambda handler serving the *built package* read-only: tests/lambda_package/.
