"""A fresh AWS "account" per test: a private moto server on 127.0.0.1, stopped afterwards (the
account, the missing moto route it adds, and the local front for a deployed package are in
tests/deploy/harness.py)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.deploy.harness import Account, add_list_function_url_configs


@pytest.fixture
def account() -> Iterator[Account]:
    from moto.server import ThreadedMotoServer

    add_list_function_url_configs()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # The server's state lives in this process's moto backends, shared by every server started here:
    # empty them so each test starts from a new account.
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield Account(endpoint)
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
