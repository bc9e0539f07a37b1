"""Settings given by reference: ``ssm:/path/name`` or ``secretsmanager:name`` (``#json-key`` picks one
field of a JSON secret). ``saas.settings`` resolves every referenced environment variable once at
start-up (one batched SSM call, one call per secret) and keeps the values in a TTL cache, so a
process that re-reads a reference later (``resolve``) sees a rotated value after the TTL.

A small resolver of our own rather than Powertools' Parameters utility: it has to run while
``saas.settings`` is being imported (before Django's settings exist), through the shared botocore
session (so the suite's AWS-operation recorder and IAM check see the calls) and the local endpoints,
and its errors must name the *setting*, not only the parameter.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Mapping

from django.core.exceptions import ImproperlyConfigured

SSM_PREFIX = "ssm:"
SECRETS_PREFIX = "secretsmanager:"
SSM_BATCH = 10  # GetParameters accepts at most 10 names


class ConfigurationError(ImproperlyConfigured):
    """A setting given by reference could not be resolved (raised at start-up, names the setting)."""


def is_reference(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith((SSM_PREFIX, SECRETS_PREFIX))


class ReferenceResolver:
    def __init__(self, client_factory: Callable[[str], Any], *, ttl_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client_factory
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def resolve(self, value: str, *, setting: str = "") -> str:
        """The value a reference points to (a plain value is returned as is)."""
        if not is_reference(value):
            return value
        return self.resolve_all({setting or value: value})[setting or value]

    def resolve_all(self, settings: Mapping[str, str]) -> dict[str, str]:
        """{setting: value} for {setting: reference}; fetches only what is missing or expired."""
        now = self._clock()
        with self._lock:
            wanted = {ref for ref in settings.values() if is_reference(ref)}
            stale = {ref for ref in wanted if ref not in self._cache or self._cache[ref][1] <= now}
            if stale:
                owners = {ref: name for name, ref in settings.items()}
                fetched = self._fetch(stale, owners)
                expires = self._clock() + self._ttl
                self._cache.update({ref: (val, expires) for ref, val in fetched.items()})
            return {name: self._cache[ref][0] if is_reference(ref) else ref for name, ref in settings.items()}

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    # --- fetching ----------------------------------------------------------------------------------

    def _fetch(self, refs: set[str], owners: Mapping[str, str]) -> dict[str, str]:
        values: dict[str, str] = {}
        parameters = sorted({ref[len(SSM_PREFIX):] for ref in refs if ref.startswith(SSM_PREFIX)})
        if parameters:
            found = self._parameters(parameters, owners)
            values.update({SSM_PREFIX + name: value for name, value in found.items()})
        secrets: dict[str, list[str]] = {}
        for ref in refs:
            if ref.startswith(SECRETS_PREFIX):
                secret_id, _, key = ref[len(SECRETS_PREFIX):].partition("#")
                secrets.setdefault(secret_id, []).append(ref)
        for secret_id, secret_refs in sorted(secrets.items()):
            text = self._secret(secret_id, owners, secret_refs)
            for ref in secret_refs:
                values[ref] = self._pick(text, ref, owners)
        return values

    def _parameters(self, names: list[str], owners: Mapping[str, str]) -> dict[str, str]:
        ssm = self._client("ssm")
        found: dict[str, str] = {}
        for start in range(0, len(names), SSM_BATCH):
            batch = names[start:start + SSM_BATCH]
            try:
                answer = ssm.get_parameters(Names=batch, WithDecryption=True)
            except Exception as exc:
                raise ConfigurationError(f"{_who(owners, [SSM_PREFIX + n for n in batch])}: cannot read SSM "
                                         f"parameters {batch}: {exc}") from exc
            found.update({p["Name"]: p["Value"] for p in answer.get("Parameters", [])})
            missing = answer.get("InvalidParameters") or [n for n in batch if n not in found]
            if missing:
                raise ConfigurationError(
                    f"{_who(owners, [SSM_PREFIX + n for n in missing])}: SSM parameter "
                    f"{', '.join(missing)} does not exist (or is not readable)")
        return found

    def _secret(self, secret_id: str, owners: Mapping[str, str], refs: list[str]) -> str:
        client = self._client("secretsmanager")
        try:
            answer = client.get_secret_value(SecretId=secret_id)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise ConfigurationError(f"{_who(owners, refs)}: secret {secret_id!r} cannot be read ({code})") from exc
        if "SecretString" not in answer:
            raise ConfigurationError(f"{_who(owners, refs)}: secret {secret_id!r} has no string value")
        return answer["SecretString"]

    @staticmethod
    def _pick(text: str, ref: str, owners: Mapping[str, str]) -> str:
        secret_id, _, key = ref[len(SECRETS_PREFIX):].partition("#")
        if not key:
            return text
        try:
            value = json.loads(text)[key]
        except (ValueError, TypeError, KeyError):
            raise ConfigurationError(f"{_who(owners, [ref])}: secret {secret_id!r} has no JSON key {key!r}") from None
        if not isinstance(value, str):
            raise ConfigurationError(f"{_who(owners, [ref])}: {secret_id}#{key} is not a string")
        return value


def _who(owners: Mapping[str, str], refs: list[str]) -> str:
    return ", ".join(sorted({owners.get(ref, ref) for ref in refs}))


# --- the process-wide resolver (used by saas.settings) ---------------------------------------------

_resolver: ReferenceResolver | None = None


def _client_from_environment(service: str):
    """A client built from the environment alone (Django's settings do not exist yet)."""
    import os

    from saas import aws

    endpoint = os.environ.get(f"{service.upper().replace('-', '')}_ENDPOINT_URL") or os.environ.get("MOTO_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return aws.make_client(service, endpoint_url=endpoint or None, region=region)


def resolver() -> ReferenceResolver:
    global _resolver
    if _resolver is None:
        import os

        _resolver = ReferenceResolver(_client_from_environment,
                                      ttl_seconds=float(os.environ.get("CONFIG_CACHE_SECONDS", "300")))
    return _resolver


def resolve_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """{name: value} for every variable of ``environ`` that holds a reference (nothing to do, no AWS call)."""
    references = {name: value for name, value in environ.items() if is_reference(value)}
    return resolver().resolve_all(references) if references else {}


def resolve(value: str, *, setting: str = "") -> str:
    """Re-read a reference through the process cache (a rotated value shows after the TTL)."""
    return resolver().resolve(value, setting=setting)
