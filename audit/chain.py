"""The chain's cryptography and content: the key (Secrets Manager), MACs, the canonical form that
is hashed, and what never reaches the trail (``scrub``)."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from .models import HASHED_FIELDS

SECRET_MARKERS = ("password", "secret", "token", "credential", "signature", "private_key", "api_key")



# --- the chain key (Secrets Manager) ------------------------------------------------------------
class ChainKeyMissing(RuntimeError):
    """The chain key cannot be read: nothing is audited (and so nothing changes) without it."""


def chain_key() -> bytes:
    """The HMAC key of every audit chain, read through the process's reference cache (a rotated
    secret is picked up after ``CONFIG_CACHE_SECONDS``; see docs/ARCHITECTURE.md on rotation)."""
    from saas import config

    reference = f"secretsmanager:{settings.AUDIT_CHAIN_KEY_SECRET}"
    try:
        value = config.resolve(reference, setting="AUDIT_CHAIN_KEY_SECRET")
    except config.ConfigurationError as exc:
        raise ChainKeyMissing(str(exc)) from exc
    if len(value) < 32:
        raise ChainKeyMissing("AUDIT_CHAIN_KEY_SECRET: the chain key must be at least 32 characters")
    return value.encode()


def ensure_chain_key() -> str:
    """Create the chain key secret if missing (local stacks; in AWS the secret is infrastructure)."""
    from saas import aws

    client = aws.client("secretsmanager")
    try:
        client.describe_secret(SecretId=settings.AUDIT_CHAIN_KEY_SECRET)
        return f"secret {settings.AUDIT_CHAIN_KEY_SECRET} exists"
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=settings.AUDIT_CHAIN_KEY_SECRET, SecretString=secrets.token_hex(32))
        return f"created secret {settings.AUDIT_CHAIN_KEY_SECRET}"


def mac(data: str) -> str:
    return hmac.new(chain_key(), data.encode(), hashlib.sha256).hexdigest()


def head_mac(trail: str, seq: int, hash_: str) -> str:
    """A head's own MAC: a head cannot be moved (or re-created) without the key."""
    return mac(f"head|{trail}|{int(seq)}|{hash_}")


# --- content ------------------------------------------------------------------------------------
def scrub(value: Any, *, key: str = "") -> Any:
    """Secrets never reach the trail: secret-looking keys are redacted, URL query strings and
    credentials dropped."""
    if any(marker in key.lower() for marker in SECRET_MARKERS):
        return "[redacted]"
    if isinstance(value, Mapping):
        return {str(k): scrub(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key=key) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "[redacted]" if parts.query else "", ""))
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any], fields: Any = None) -> dict[str, Any]:
    """``{field: [before, after]}`` for the fields that changed (all keys of ``after`` by default)."""
    names = fields if fields is not None else after.keys()
    return {name: [before.get(name), after.get(name)] for name in names if before.get(name) != after.get(name)}


def _canonical(value: Any) -> Any:
    """The form hashed: numbers as normalised decimal strings (DynamoDB returns Decimals and drops
    trailing zeros), dict[str, Any] keys sorted, None dropped (DynamoDB does not store it at the top level)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return "n:" + format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def canonical_content(record: Mapping[str, Any]) -> str:
    body = {name: record.get(name) for name in HASHED_FIELDS}
    return json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(record: Mapping[str, Any]) -> str:
    """HMAC-SHA256 of the record's canonical content under the chain key."""
    return mac(canonical_content(record))


def retention_seconds(tier: str | None) -> int:
    days = settings.AUDIT_RETENTION_DAYS.get(tier or "basic", settings.AUDIT_RETENTION_DAYS["basic"])
    return int(days) * 86400


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
