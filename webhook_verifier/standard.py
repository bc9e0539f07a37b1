"""Verify Standard Webhooks deliveries (https://www.standardwebhooks.com/): the endpoint deliveries.

Each delivery is a POST whose body is the event envelope (JSON) and whose headers are
``webhook-id`` (the envelope id: de-duplicate on it), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``<id>.<timestamp>.<body>`` under the
endpoint's ``whsec_`` secret; several, space-separated, during a secret rotation). Standard library
only; the ``standardwebhooks`` package on PyPI does the same check.

    from webhook_verifier import InvalidWebhook, verify_webhook

    try:
        envelope = verify_webhook(SECRET, request.headers, request.body)
    except InvalidWebhook as exc:
        return 400, exc.reason
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Mapping

DEFAULT_TOLERANCE_SECONDS = 300  # the replay window, both ways


class InvalidWebhook(ValueError):
    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise InvalidWebhook(f"missing header {name}", "missing_header")


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str, *,
                   tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> dict[str, Any]:
    """The envelope of a genuine delivery; ``InvalidWebhook`` (with a ``reason``) otherwise."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id, stamp = _header(headers, "webhook-id"), _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidWebhook("webhook-timestamp is not a number", "bad_timestamp") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidWebhook("webhook-timestamp is outside the replay window", "stale_timestamp")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise ValueError("the secret is not a whsec_ secret") from None
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest())
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            envelope = json.loads(raw)
            if envelope.get("id") != msg_id:
                raise InvalidWebhook("webhook-id is not the envelope's id", "id_mismatch")
            return envelope
    raise InvalidWebhook("no signature matches", "bad_signature")
