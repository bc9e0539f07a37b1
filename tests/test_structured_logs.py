"""JSON log lines carry the tenant, the user and the request id; the audit logger survives prod's level."""
from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from saas import logs
from saas.tenancy import system_context, tenant_context


@pytest.fixture
def json_logs():
    """The production logging configuration (JSON, root at WARNING) writing into a buffer."""
    stream = io.StringIO()
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level)
             for name in ("", logs.AUDIT_LOGGER)}
    config = logs.logging_config(json_lines=True, level="WARNING")
    logging.config.dictConfig(config)
    logging.getLogger().handlers[0].stream = stream
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_a_line_is_one_json_object_with_tenant_user_and_request(tenant_a, json_logs):
    with tenant_context(tenant_a.id, user_id="user-1"):
        logging.getLogger("orders").warning("stock low for %s", "sku-1")
    [line] = json_logs()
    assert line["level"] == "WARNING" and line["logger"] == "orders" and line["message"] == "stock low for sku-1"
    assert line["tenant_id"] == tenant_a.id and line["user_id"] == "user-1"
    assert "request_id" in line and "time" in line


def test_an_exception_is_one_field_on_one_line(json_logs):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("saas").exception("failed")
    [line] = json_logs()
    assert line["exception"].startswith("Traceback") and "ValueError: boom" in line["exception"]


def test_system_context_is_audited_even_when_prod_drops_info(json_logs):
    logging.getLogger("saas").info("dropped at WARNING")
    with system_context(reason="platform admin: list tenants"):
        pass
    lines = json_logs()
    assert [line["message"] for line in lines] == ["system context entered: platform admin: list tenants"]
    assert lines[0]["logger"] == "saas.audit" and lines[0]["reason"] == "platform admin: list tenants"


def test_every_response_carries_a_request_id_that_the_logs_share(client, json_logs):
    first, second = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer nope"), client.get("/health")
    assert first["X-Request-ID"] and second["X-Request-ID"] and first["X-Request-ID"] != second["X-Request-ID"]
    rejected = [line for line in json_logs() if line.get("event") == "auth.token_rejected"]
    assert rejected and rejected[0]["request_id"] == first["X-Request-ID"]


def test_the_lambda_request_id_is_used_when_there_is_one(client):
    class LambdaContext:
        aws_request_id = "8f2c7e0a-lambda"

    response = client.get("/health", **{"lambda.context": LambdaContext()})
    assert response["X-Request-ID"] == "8f2c7e0a-lambda"


def test_a_client_cannot_choose_its_request_id(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="forged\nline")
    assert response["X-Request-ID"] != "forged\nline"
