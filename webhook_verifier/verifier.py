"""Verify Amazon SNS HTTP/S deliveries in a webhook subscriber's own service.

This package is meant to be copied into (or installed in) the *subscriber's*
Python service.  It has no Django dependency: only the standard library,
``cryptography`` (X.509 parsing and RSA signature checks) and ``requests``
(fetching the signing certificate and confirming subscriptions).

What is checked, in this order, before a message is trusted:

1. the body is a JSON object with every field AWS documents for its ``Type``
   (``Notification``, ``SubscriptionConfirmation``, ``UnsubscribeConfirmation``);
2. ``SignatureVersion`` is ``"1"`` (SHA1withRSA) or ``"2"`` (SHA256withRSA);
3. ``SigningCertURL`` is ``https://sns.<region>.amazonaws.com[.cn]/....pem``
   with no userinfo, no port other than 443, no query and no fragment (and the
   region equals ``region`` if one was configured) -- checked *before* any
   network request is made;
4. ``TopicArn`` is one of ``expected_topic_arns``;
5. ``Timestamp`` is neither older than ``max_age_seconds`` nor further in the
   future than ``max_clock_skew_seconds``;
6. the certificate (fetched once per URL, then cached) is currently valid and
   holds an RSA key, and the RSA PKCS#1 v1.5 signature over the canonical
   string-to-sign is correct.

Any failure raises :class:`InvalidSNSMessage` (or a subclass) whose ``reason``
attribute is a stable, machine-readable code (see ``REASON_*`` constants).

Usage in a subscriber (Django view; a Flask view is the same idea)::

    from django.http import HttpResponse, HttpResponseBadRequest
    from django.views.decorators.csrf import csrf_exempt
    from django.views.decorators.http import require_POST

    from webhook_verifier import InvalidSNSMessage, SNSMessageVerifier

    VERIFIER = SNSMessageVerifier(
        expected_topic_arns={"arn:aws:sns:eu-west-1:123456789012:acme-orders"},
        region="eu-west-1",
    )

    @csrf_exempt
    @require_POST
    def sns_webhook(request):
        try:
            envelope = VERIFIER.handle(request.body)
        except InvalidSNSMessage as exc:
            return HttpResponseBadRequest(exc.reason)
        if envelope is not None:           # None for (un)subscribe confirmations
            process_event(envelope)        # your code; make it idempotent
        return HttpResponse(status=204)

Flask::

    @app.post("/sns")
    def sns_webhook():
        try:
            envelope = VERIFIER.handle(flask.request.get_data())
        except InvalidSNSMessage as exc:
            return exc.reason, 400
        ...

Create one verifier per process and reuse it: it caches certificates by URL
and is safe to share between threads.  SNS may deliver a message more than
once, and a retried publish is a new SNS message with a new ``MessageId``:
deduplicate on the envelope's ``id`` (``envelope["id"]``), never on ``MessageId``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "SNSMessageVerifier",
    "InvalidSNSMessage",
    "MalformedMessage",
    "UnsupportedSignatureVersion",
    "InvalidCertificateURL",
    "CertificateError",
    "UnexpectedTopic",
    "InvalidTimestamp",
    "InvalidSignature",
    "SubscriptionConfirmationError",
    "string_to_sign",
    "parse_sns_host_region",
    "default_fetch_certificate",
]

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

REASON_BAD_JSON = "bad_json"
REASON_MISSING_FIELD = "missing_field"
REASON_UNSUPPORTED_TYPE = "unsupported_type"
REASON_UNSUPPORTED_SIGNATURE_VERSION = "unsupported_signature_version"
REASON_BAD_CERT_URL = "bad_cert_url"
REASON_CERT_UNAVAILABLE = "certificate_unavailable"
REASON_CERT_INVALID = "certificate_invalid"
REASON_UNEXPECTED_TOPIC = "unexpected_topic"
REASON_BAD_TIMESTAMP = "bad_timestamp"
REASON_STALE_TIMESTAMP = "stale_timestamp"
REASON_FUTURE_TIMESTAMP = "future_timestamp"
REASON_BAD_SIGNATURE = "bad_signature"
REASON_BAD_SUBSCRIBE_URL = "bad_subscribe_url"
REASON_NOT_CONFIRMATION = "not_subscription_confirmation"
REASON_CONFIRMATION_FAILED = "confirmation_failed"
REASON_BAD_ENVELOPE = "bad_envelope"


class InvalidSNSMessage(ValueError):
    """The delivery must not be trusted.  ``reason`` is a stable code."""

    default_reason = "invalid"

    def __init__(self, detail: str, *, reason: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.reason = reason or self.default_reason

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class MalformedMessage(InvalidSNSMessage):
    """Body is not JSON, not an object, lacks a field, or has an unknown Type."""

    default_reason = REASON_MISSING_FIELD


class UnsupportedSignatureVersion(InvalidSNSMessage):
    default_reason = REASON_UNSUPPORTED_SIGNATURE_VERSION


class InvalidCertificateURL(InvalidSNSMessage):
    default_reason = REASON_BAD_CERT_URL


class CertificateError(InvalidSNSMessage):
    """Certificate could not be fetched/parsed, is not yet/no longer valid, or is not RSA."""

    default_reason = REASON_CERT_INVALID


class UnexpectedTopic(InvalidSNSMessage):
    default_reason = REASON_UNEXPECTED_TOPIC


class InvalidTimestamp(InvalidSNSMessage):
    default_reason = REASON_BAD_TIMESTAMP


class InvalidSignature(InvalidSNSMessage):
    default_reason = REASON_BAD_SIGNATURE


class SubscriptionConfirmationError(InvalidSNSMessage):
    """SubscribeURL is not an AWS SNS URL, the message is not a confirmation, or the GET failed."""

    default_reason = REASON_BAD_SUBSCRIBE_URL


# ---------------------------------------------------------------------------
# Canonical string-to-sign
# ---------------------------------------------------------------------------

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# Keys in the (byte-wise sorted) order AWS documents for each message type.
_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_SIGNED_KEYS = {
    NOTIFICATION: _NOTIFICATION_KEYS,
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_KEYS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_KEYS,
}
_ENVELOPE_KEYS = ("Signature", "SignatureVersion", "SigningCertURL")
_OPTIONAL_KEYS = frozenset({"Subject"})

_SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """Return the canonical bytes AWS signs for ``message`` (UTF-8).

    ``"Key\\nValue\\n"`` for each signed key of the message's Type, in the
    documented order; ``Subject`` is included for Notifications only when
    present (a JSON ``null`` Subject counts as absent).
    """
    keys = _SIGNED_KEYS.get(message.get("Type"))  # type: ignore[arg-type]
    if keys is None:
        raise MalformedMessage(
            f"unsupported message Type {message.get('Type')!r}", reason=REASON_UNSUPPORTED_TYPE
        )
    parts: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None and key in _OPTIONAL_KEYS:
            continue
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


# ---------------------------------------------------------------------------
# AWS host rules
# ---------------------------------------------------------------------------

_REGION_PATTERN = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
_SNS_HOST_RE = re.compile(rf"^sns\.(?P<region>{_REGION_PATTERN})\.amazonaws\.com(?:\.cn)?$")
_REGION_RE = re.compile(rf"^{_REGION_PATTERN}$")
# Anything that different URL parsers disagree about is refused outright.
_UNSAFE_URL_CHARS_RE = re.compile(r"[\x00-\x20\x7f\\]")


def parse_sns_host_region(url: str, *, require_pem: bool = False) -> str:  # noqa: C901 - the documented URL checks in order
    """Return the region of an ``https://sns.<region>.amazonaws.com[.cn]/...`` URL.

    Raises ``ValueError`` with an explanation for anything else: non-https,
    userinfo, a port other than 443, a foreign host (including look-alikes such
    as ``sns.us-east-1.amazonaws.com.evil.com``), a fragment, whitespace or
    backslashes, and -- when ``require_pem`` -- a query or a path not ending in
    ``.pem``.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("URL is empty or not a string")
    if _UNSAFE_URL_CHARS_RE.search(url):
        raise ValueError("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"URL cannot be parsed: {exc}") from None
    if parts.scheme != "https" or not url.startswith("https://"):
        raise ValueError("URL must use https")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError("URL must not contain userinfo")
    if port is not None and port != 443:
        raise ValueError("URL must not use a port other than 443")
    if "#" in url:
        raise ValueError("URL must not contain a fragment")
    host = parts.hostname or ""
    match = _SNS_HOST_RE.match(host)
    # hostname is lower-cased by urlsplit; compare against the raw netloc too
    # so that nothing but the exact host (optionally ":443") is accepted.
    if match is None or parts.netloc.lower() not in (host, f"{host}:443"):
        raise ValueError(f"URL host {host!r} is not sns.<region>.amazonaws.com")
    if require_pem:
        if parts.query:
            raise ValueError("certificate URL must not have a query string")
        if not parts.path.endswith(".pem"):
            raise ValueError("certificate URL path must end with .pem")
    return match.group("region")


# ---------------------------------------------------------------------------
# Certificate fetching
# ---------------------------------------------------------------------------

MAX_CERTIFICATE_BYTES = 64 * 1024


def default_fetch_certificate(url: str, *, timeout: float = 10.0) -> bytes:
    """GET ``url`` (already validated) with ``requests``; no redirects, size-capped."""
    import requests

    with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as response:
        if response.status_code != 200:
            raise OSError(f"certificate URL answered HTTP {response.status_code}")
        data = bytearray()
        for chunk in response.iter_content(chunk_size=8192):
            data.extend(chunk)
            if len(data) > MAX_CERTIFICATE_BYTES:
                raise OSError("certificate response is too large")
        return bytes(data)


# ---------------------------------------------------------------------------
# Verifier
# ---------------------------------------------------------------------------

_SUBSCRIPTION_ARN_RE = re.compile(r"<SubscriptionArn>\s*([^<\s]+)\s*</SubscriptionArn>")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SNSMessageVerifier:
    """Verify SNS HTTP/S deliveries for a fixed set of topics.

    :param expected_topic_arns: the only TopicArns accepted (required, non-empty).
    :param region: if given, the SigningCertURL/SubscribeURL host must be
        ``sns.<region>.amazonaws.com[.cn]``.
    :param max_age_seconds: reject messages whose Timestamp is older than this.
    :param max_clock_skew_seconds: reject Timestamps further in the future than this.
    :param fetch_certificate: ``url -> PEM bytes``; defaults to an HTTPS GET
        with ``requests``.  Only called with URLs that passed the host checks.
    :param clock: returns the current aware ``datetime`` (defaults to UTC now).
    :param max_cached_certificates: bound on the per-URL certificate cache.
    :param http_timeout: timeout (seconds) for the subscription confirmation GET.
    :param http_session: object with ``get(url, timeout=..., allow_redirects=...)``
        used to confirm subscriptions (e.g. a ``requests.Session``); defaults
        to the ``requests`` module.
    """

    def __init__(
        self,
        *,
        expected_topic_arns: Iterable[str],
        region: str | None = None,
        max_age_seconds: int = 3600,
        max_clock_skew_seconds: int = 300,
        fetch_certificate: Callable[[str], bytes] | None = None,
        clock: Callable[[], datetime] | None = None,
        max_cached_certificates: int = 32,
        http_timeout: float = 10.0,
        http_session: Any = None,
    ) -> None:
        if isinstance(expected_topic_arns, str):
            raise TypeError("expected_topic_arns must be a set of ARNs, not a string")
        topics = frozenset(expected_topic_arns)
        if not topics or not all(isinstance(t, str) and t for t in topics):
            raise ValueError("expected_topic_arns must be a non-empty set of ARN strings")
        if region is not None and not _REGION_RE.match(region):
            raise ValueError(f"invalid AWS region {region!r}")
        if max_age_seconds <= 0 or max_clock_skew_seconds < 0:
            raise ValueError("max_age_seconds must be > 0 and max_clock_skew_seconds >= 0")
        self.expected_topic_arns = topics
        self.region = region
        self.max_age = timedelta(seconds=max_age_seconds)
        self.max_skew = timedelta(seconds=max_clock_skew_seconds)
        self._fetch = fetch_certificate or default_fetch_certificate
        self._clock = clock or _utcnow
        self._http_timeout = http_timeout
        self._http_session = http_session
        self._max_cached = max(1, int(max_cached_certificates))
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------

    def verify(self, message: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
        """Return the parsed message if it is authentic, else raise InvalidSNSMessage."""
        msg = self._parse(message)
        msg_type = msg["Type"]

        version = msg["SignatureVersion"]
        hash_factory = _SIGNATURE_HASHES.get(version)
        if hash_factory is None:
            raise UnsupportedSignatureVersion(f"SignatureVersion {version!r} is not supported")

        cert_url = msg["SigningCertURL"]
        self._check_aws_url(cert_url, require_pem=True, error=InvalidCertificateURL, what="SigningCertURL")

        if msg["TopicArn"] not in self.expected_topic_arns:
            raise UnexpectedTopic(f"TopicArn {msg['TopicArn']!r} is not an expected topic")

        now = self._now()
        self._check_timestamp(msg["Timestamp"], now)

        try:
            signature = base64.b64decode(msg["Signature"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSignature("Signature is not valid base64") from None
        if not signature:
            raise InvalidSignature("Signature is empty")

        certificate = self._certificate(cert_url)
        self._check_certificate(certificate, now)
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise CertificateError("signing certificate does not hold an RSA key")
        try:
            public_key.verify(signature, string_to_sign(msg), padding.PKCS1v15(), hash_factory())
        except _CryptoInvalidSignature:
            raise InvalidSignature(f"signature does not match the {msg_type} content") from None
        return msg

    def confirm_subscription(
        self, message: Mapping[str, Any] | str | bytes, *, session: Any = None
    ) -> str | None:
        """Verify a SubscriptionConfirmation and GET its SubscribeURL.

        ``session`` is anything with ``get(url, timeout=..., allow_redirects=...)``
        (e.g. a ``requests.Session``); defaults to the verifier's
        ``http_session``, else ``requests``.  Returns the
        SubscriptionArn from AWS's XML answer, or ``None`` if it can't be found.
        """
        return self._confirm(self.verify(message), session=session)

    def handle(self, body: bytes | str) -> dict[str, Any] | None:
        """Verify one delivery body and act on it.

        * SubscriptionConfirmation: confirm it (GET SubscribeURL), return None.
        * UnsubscribeConfirmation: nothing to do (it is not re-subscribed), return None.
        * Notification: return the JSON object carried in ``Message``.
        """
        msg = self.verify(body)
        if msg["Type"] == SUBSCRIPTION_CONFIRMATION:
            self._confirm(msg, session=None)
            return None
        if msg["Type"] == UNSUBSCRIBE_CONFIRMATION:
            return None
        try:
            envelope = json.loads(msg["Message"])
        except ValueError:
            raise MalformedMessage("Message is not JSON", reason=REASON_BAD_ENVELOPE) from None
        if not isinstance(envelope, dict):
            raise MalformedMessage("Message is not a JSON object", reason=REASON_BAD_ENVELOPE)
        return envelope

    def clear_certificate_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- internals ------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("clock must return a timezone-aware datetime")
        return now

    @staticmethod
    def _parse(message: Mapping[str, Any] | str | bytes) -> dict[str, Any]:  # noqa: C901 - one check per documented field
        if isinstance(message, (bytes, bytearray)):
            try:
                message = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedMessage("body is not UTF-8", reason=REASON_BAD_JSON) from None
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except ValueError:
                raise MalformedMessage("body is not valid JSON", reason=REASON_BAD_JSON) from None
        if not isinstance(message, Mapping):
            raise MalformedMessage("body is not a JSON object", reason=REASON_BAD_JSON)
        msg = dict(message)

        msg_type = msg.get("Type")
        if not isinstance(msg_type, str):
            raise MalformedMessage("missing field 'Type'")
        keys = _SIGNED_KEYS.get(msg_type)
        if keys is None:
            raise MalformedMessage(
                f"unsupported message Type {msg_type!r}", reason=REASON_UNSUPPORTED_TYPE
            )
        for key in (*keys, *_ENVELOPE_KEYS):
            value = msg.get(key)
            if key in _OPTIONAL_KEYS and value is None:
                continue
            if not isinstance(value, str) or (key != "Message" and key != "Subject" and not value):
                raise MalformedMessage(f"missing or non-string field {key!r}")
        return msg

    def _check_aws_url(self, url: str, *, require_pem: bool, error: type, what: str) -> str:
        try:
            region = parse_sns_host_region(url, require_pem=require_pem)
        except ValueError as exc:
            raise error(f"{what} rejected: {exc}") from None
        if self.region is not None and region != self.region:
            raise error(f"{what} region {region!r} is not the configured region {self.region!r}")
        return region

    def _check_timestamp(self, raw: str, now: datetime) -> None:
        try:
            # Python < 3.11's fromisoformat refuses the trailing "Z" SNS always sends.
            ts = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
        except ValueError:
            raise InvalidTimestamp(f"Timestamp {raw!r} is not ISO 8601") from None
        if ts.tzinfo is None:
            raise InvalidTimestamp(f"Timestamp {raw!r} has no timezone")
        if now - ts > self.max_age:
            raise InvalidTimestamp(
                f"Timestamp {raw} is older than {int(self.max_age.total_seconds())}s",
                reason=REASON_STALE_TIMESTAMP,
            )
        if ts - now > self.max_skew:
            raise InvalidTimestamp(
                f"Timestamp {raw} is in the future", reason=REASON_FUTURE_TIMESTAMP
            )

    def _certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                return cached
        try:
            pem = self._fetch(url)
        except Exception as exc:  # network errors, HTTP errors, injected fetchers
            raise CertificateError(
                f"could not fetch signing certificate: {exc}", reason=REASON_CERT_UNAVAILABLE
            ) from None
        if isinstance(pem, str):
            pem = pem.encode("ascii", "replace")
        if not isinstance(pem, (bytes, bytearray)) or len(pem) > MAX_CERTIFICATE_BYTES:
            raise CertificateError("signing certificate response is not usable PEM")
        try:
            certificate = x509.load_pem_x509_certificate(bytes(pem))
        except ValueError:
            raise CertificateError("signing certificate is not a valid PEM certificate") from None
        with self._lock:
            self._cache[url] = certificate
            self._cache.move_to_end(url)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return certificate

    @staticmethod
    def _check_certificate(certificate: x509.Certificate, now: datetime) -> None:
        if now < certificate.not_valid_before_utc:
            raise CertificateError("signing certificate is not valid yet")
        if now > certificate.not_valid_after_utc:
            raise CertificateError("signing certificate has expired")

    def _confirm(self, msg: Mapping[str, Any], *, session: Any) -> str | None:
        if msg.get("Type") != SUBSCRIPTION_CONFIRMATION:
            raise SubscriptionConfirmationError(
                f"message Type {msg.get('Type')!r} is not SubscriptionConfirmation",
                reason=REASON_NOT_CONFIRMATION,
            )
        url = msg["SubscribeURL"]
        self._check_aws_url(
            url, require_pem=False, error=SubscriptionConfirmationError, what="SubscribeURL"
        )
        if session is None:
            session = self._http_session
        if session is None:
            import requests

            session = requests
        try:
            response = session.get(url, timeout=self._http_timeout, allow_redirects=False)
        except Exception as exc:
            raise SubscriptionConfirmationError(
                f"confirming the subscription failed: {exc}", reason=REASON_CONFIRMATION_FAILED
            ) from None
        status = getattr(response, "status_code", 200)
        if not 200 <= int(status) < 300:
            raise SubscriptionConfirmationError(
                f"SubscribeURL answered HTTP {status}", reason=REASON_CONFIRMATION_FAILED
            )
        text = getattr(response, "text", "") or ""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        found = _SUBSCRIPTION_ARN_RE.search(text)
        return found.group(1) if found else None
