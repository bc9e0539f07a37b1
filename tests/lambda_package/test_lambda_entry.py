"""The functions' Handler (``saas.lambda_entry``) pauses Python's garbage collector only while the
container starts: from its import to the end of the first invocation, answered or failed. After
that, reference cycles are collected again, as in any process: a warm container that kept the
collector paused would grow with every request's cycles until Lambda killed it. Every packaged-handler
test (``test_packaged_handler.py``, ``test_cold_start_imports.py``) serves its requests through it."""
from __future__ import annotations

import gc
import importlib
import sys

import pytest


@pytest.fixture
def entry():
    """A fresh import of the module, as a cold container does it; the collector as it was afterwards."""
    was_enabled = gc.isenabled()
    sys.modules.pop("saas.lambda_entry", None)
    module = importlib.import_module("saas.lambda_entry")
    yield module
    gc.unfreeze()
    (gc.enable if was_enabled else gc.disable)()


def test_the_collector_is_paused_while_starting_and_runs_again_after_the_first_invocation(entry, monkeypatch):
    calls = []
    monkeypatch.setattr(entry.zappa_handler, "lambda_handler",
                        lambda event, context: calls.append((event, context, gc.isenabled())) or {"statusCode": 200})
    assert not gc.isenabled()

    assert entry.lambda_handler({"path": "/health"}, "context") == {"statusCode": 200}
    assert calls == [({"path": "/health"}, "context", False)]  # Zappa's handler, collector still paused
    assert gc.isenabled() and gc.get_freeze_count() > 0  # start-up's objects frozen, collection resumed

    entry.lambda_handler({"path": "/health"}, "context")
    assert calls[-1][2] is True and gc.isenabled()


def test_a_failed_first_invocation_still_resumes_collection(entry, monkeypatch):
    def broken(event, context):
        raise RuntimeError("settings could not be resolved")

    monkeypatch.setattr(entry.zappa_handler, "lambda_handler", broken)
    with pytest.raises(RuntimeError, match="settings could not be resolved"):
        entry.lambda_handler({}, None)
    assert gc.isenabled()
