"""The API contract checked by tools nobody here wrote: the served OpenAPI document is validated
(openapi-spec-validator), fuzzed against the live server (schemathesis) and turned into a client
(openapi-python-client) that a test then uses. All of them read the schema the server serves."""
from __future__ import annotations

import json

import pytest

SCHEMA_PATH = "/api/schema/?format=json"


@pytest.fixture
def served_schema(live_server) -> dict:
    import requests

    response = requests.get(live_server.url + SCHEMA_PATH, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.json()


@pytest.fixture
def schema_file(served_schema, tmp_path):
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(served_schema))
    return path
