"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Secret: ``whsec_`` + base64 of 32 random bytes (the spec asks for 24 to 64). Signed content:
``<webhook-id>.<webhook-timestamp>.<body>``; ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>``,
several separated by spaces (during a rotation's overlap both the new and the previous secret sign).

Written here (a few lines of ``hmac``) rather than importing the ``standardwebhooks`` package into the
delivery path: that package's ``Webhook.sign`` takes one secret and a datetime per call and pulls in
an HTTP client; the tests verify every delivery with it, so the two cannot drift apart.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets_: list[str], *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` signed with every secret in ``secrets_``."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_)}
