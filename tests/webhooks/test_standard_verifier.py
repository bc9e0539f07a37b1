"""The subscriber-side verifier for endpoint deliveries (``webhook_verifier.verify_webhook``): it
agrees with the independent ``standardwebhooks`` library, refuses what that library refuses, and
runs on the oldest Python it declares (3.9, no fromisoformat "Z")."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from webhook_verifier import REQUIRES_PYTHON, InvalidWebhook, verify_webhook
from webhooks import signing

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.pure


def delivery(secrets: list[str], *, at: float | None = None) -> tuple[dict, bytes]:
    body = json.dumps({"id": "0001767225600000-3f2c", "type": "order.created", "tenant_id": "t-1", "data": {}}).encode()
    return signing.headers(secrets, msg_id="0001767225600000-3f2c", timestamp=int(at or time.time()), body=body), body


def test_a_genuine_delivery_verifies_with_both_verifiers():
    secret = signing.new_secret()
    headers, body = delivery([secret])
    assert verify_webhook(secret, headers, body)["id"] == headers["webhook-id"]
    assert Webhook(secret).verify(body, headers)["id"] == headers["webhook-id"]
    # our signature is the one the library computes itself
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    assert Webhook(secret).sign(headers["webhook-id"], stamp, body.decode()) == headers["webhook-signature"]


@pytest.mark.parametrize("change, reason", [
    (lambda h, b: (h, b.replace(b"order", b"other")), "bad_signature"),
    (lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 301)}, b), "stale_timestamp"),
    (lambda h, b: ({**h, "webhook-id": "another"}, b), "bad_signature"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing_header"),
])
def test_tampered_stale_or_incomplete_deliveries_are_refused_by_both(change, reason):
    secret = signing.new_secret()
    headers, body = change(*delivery([secret]))
    with pytest.raises(InvalidWebhook) as refused:
        verify_webhook(secret, headers, body)
    assert refused.value.reason == reason
    with pytest.raises(Exception):  # noqa: B017 - the library raises its own error classes
        Webhook(secret).verify(body, headers)


def test_during_a_rotation_either_secret_verifies_and_a_rotated_out_one_does_not():
    old, new = signing.new_secret(), signing.new_secret()
    headers, body = delivery([new, old])
    assert verify_webhook(old, headers, body) == verify_webhook(new, headers, body)
    headers, body = delivery([new])
    with pytest.raises(InvalidWebhook):
        verify_webhook(old, headers, body)


def test_the_verifier_runs_on_its_declared_minimum_python():
    """Needs a python3.9 on PATH (bootstrap's pyenv has one)."""
    assert REQUIRES_PYTHON == ">=3.9"
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    python39 = next(iter(sorted(pyenv.glob("versions/3.9*/bin/python3.9"))), None) or shutil.which("python3.9")
    assert python39, "python3.9 is needed to check the verifier's declared minimum"
    secret = signing.new_secret()
    headers, body = delivery([secret])
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
              "from webhook_verifier.standard import verify_webhook; "
              "print(verify_webhook(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4].encode())['id'])")
    out = subprocess.run([str(python39), "-c", script, str(ROOT), secret, json.dumps(headers), body.decode()],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == headers["webhook-id"]
    assert sys.version_info >= (3, 9)
